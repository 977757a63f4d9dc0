"""benchmarks/heldout.py: held-out lines are scored as the suite says, each word from
every word before it in its line."""

import sys

import keras
import numpy as np

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import heldout  # noqa: E402

from keras_nextword import NextWordLSTM, NGramVectorizer  # noqa: E402


def test_a_line_longer_than_a_row_is_scored_with_its_whole_context():
    # Rows of 2 positions: the old scoring cut this 6-word line into 3 rows, each from a
    # zero state, so the 3rd and 5th words were scored without the words before them.
    vocabulary = ["", "[UNK]", "a", "b", "c"]
    vectorizer = NGramVectorizer(vocabulary=vocabulary, sequence_length=2)
    keras.utils.set_random_seed(0)
    model = NextWordLSTM.from_sizes(5, embedding_dim=4, lstm_units=6, preprocessor=vectorizer)
    lines = ["a b c a b zzz", "c a"]
    nll, targets = heldout.target_losses(model, lines, positions=4)
    ids = np.array([[2, 3, 4, 2, 3, 1]])
    log_p = keras.ops.convert_to_numpy(keras.ops.log_softmax(model(ids[:, :-1]), axis=-1))[0]
    whole = -log_p[np.arange(5), ids[0, 1:]]
    second = -keras.ops.convert_to_numpy(keras.ops.log_softmax(model(np.array([[4]]))))[0, 0, 2]
    np.testing.assert_allclose(nll, [*whole, second], rtol=1e-5)
    assert targets.tolist() == [3, 4, 2, 3, 1, 2]
