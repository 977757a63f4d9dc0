import json

import keras
import keras_hub
import numpy as np
import pytest

import keras_nextword
from conftest import LINES, REPO
from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.models.next_word_lstm.backbone import NextWordLSTMBackbone


@pytest.mark.parametrize("tying", [{}, {"tie_weights": True, "embedding_dim": 6}])
def test_preset_round_trip(tmp_path, tying):
    preprocessor = NGramVectorizer()
    preprocessor.adapt(LINES)
    keras.utils.set_random_seed(0)
    sizes = {"embedding_dim": 8, "lstm_units": 8, **tying}
    model = NextWordLSTM.from_sizes(
        preprocessor.vocabulary_size(), preprocessor=preprocessor, **sizes
    )
    model.fit(LINES, epochs=1, verbose=0)
    model.save_to_preset(tmp_path / "preset")
    x = np.array([[2, 3, 4, 0]], "int32")
    text = model.generate(["a heavy", "holmes"], max_length=4)
    for restored in (
        NextWordLSTM.from_preset(tmp_path / "preset"),
        keras_hub.models.CausalLM.from_preset(str(tmp_path / "preset")),
        keras_nextword.load_model(tmp_path / "preset"),
    ):
        assert type(restored) is NextWordLSTM
        assert restored.get_config() == model.get_config()
        np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
        assert restored.generate(["a heavy", "holmes"], max_length=4) == text
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert isinstance(backbone, NextWordLSTMBackbone)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone(x)), keras.ops.convert_to_numpy(model.backbone(x))
    )


def test_a_preset_of_keras_nextword_0_1_loads(tmp_path):
    """keras_nextword 0.1 wrote task.json as the whole model's config (its sizes,
    no backbone) and task.weights.h5 with every weight: keras-hub's loader reads it."""
    old = keras.saving.load_model(REPO / "tests" / "data" / "v0_1_untied.keras")
    old.backbone.save_to_preset(tmp_path)
    config = old.get_config()
    config.pop("backbone")
    sizes = ("vocabulary_size", "embedding_dim", "lstm_units", "dropout", "tie_weights")
    config.update({k: getattr(old.backbone, k) for k in sizes})
    saved = {
        "module": "keras_nextword.models.next_word_lstm.causal_lm",
        "class_name": "NextWordLSTM",
        "config": config,
    }
    saved["registered_name"] = "keras_nextword>NextWordLSTM"
    (tmp_path / "task.json").write_text(json.dumps(saved), encoding="utf-8")
    keras.Model.save_weights(old, tmp_path / "task.weights.h5")
    restored = NextWordLSTM.from_preset(tmp_path)
    assert restored.generate("a heavy", max_length=4) == old.generate("a heavy", max_length=4)


def test_not_a_preset(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a keras_nextword preset"):
        NextWordLSTM.from_preset(tmp_path)
