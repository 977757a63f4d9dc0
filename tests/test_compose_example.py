"""examples/compose.py's composite, on a small model of each output layer."""

import importlib.util

import keras
import pytest

from conftest import LINES, REPO
from keras_nextword import NextWordLSTM, NGramVectorizer


def compose_example():
    spec = importlib.util.spec_from_file_location("compose", REPO / "examples" / "compose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "tying", [{}, {"tie_weights": True}, {"tie_weights": True, "embedding_dim": 6}]
)
def test_composite_shares_the_language_model_and_round_trips(tmp_path, tying):
    compose = compose_example()
    preprocessor = NGramVectorizer()
    preprocessor.adapt(LINES)
    keras.utils.set_random_seed(0)
    sizes = {"embedding_dim": 8, "lstm_units": 8, **tying}
    lm = NextWordLSTM.from_sizes(preprocessor.vocabulary_size(), preprocessor=preprocessor, **sizes)
    compose.run(lm, LINES, LINES[:2], probe_epochs=1, folder=tmp_path)
