import keras
import keras_hub
import numpy as np
import pytest

import keras_nextword
from conftest import LINES
from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.backbone import NextWordLSTMBackbone


@pytest.mark.parametrize("tying", [{}, {"tie_weights": True, "embedding_dim": 6}])
def test_preset_round_trip(tmp_path, tying):
    preprocessor = NGramVectorizer()
    preprocessor.adapt(LINES)
    keras.utils.set_random_seed(0)
    sizes = {"embedding_dim": 8, "lstm_units": 8, **tying}
    model = NextWordLSTM(preprocessor.vocabulary_size(), preprocessor=preprocessor, **sizes)
    model.fit(LINES, epochs=1, verbose=0)
    model.save_to_preset(tmp_path / "preset")
    x = np.array([[2, 3, 4, 0]], "int32")
    text = model.generate(["a heavy", "holmes"], max_length=4)
    for restored in (
        NextWordLSTM.from_preset(tmp_path / "preset"),
        keras_nextword.load_model(tmp_path / "preset"),
    ):
        assert restored.get_config() == model.get_config()
        np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
        assert restored.generate(["a heavy", "holmes"], max_length=4) == text
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert isinstance(backbone, NextWordLSTMBackbone)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone(x)), keras.ops.convert_to_numpy(model.backbone(x))
    )


def test_not_a_preset(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a keras_nextword preset"):
        NextWordLSTM.from_preset(tmp_path)
