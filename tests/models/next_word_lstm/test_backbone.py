import keras
import keras_hub
import numpy as np
import pytest

from keras_nextword.models.next_word_lstm.backbone import NextWordLSTMBackbone


@pytest.mark.parametrize("tie_weights", [False, True])
def test_hidden_states_post_padding_and_presets(tmp_path, tie_weights):
    keras.utils.set_random_seed(0)
    backbone = NextWordLSTMBackbone(50, embedding_dim=8, lstm_units=16, tie_weights=tie_weights)
    assert isinstance(backbone, keras_hub.models.Backbone)
    x = np.array([[5, 7, 9]], "int32")
    hidden = keras.ops.convert_to_numpy(backbone(x))
    assert hidden.shape == (1, 3, 16)
    padded = keras.ops.convert_to_numpy(backbone(np.pad(x, [(0, 0), (0, 4)])))
    np.testing.assert_allclose(padded[:, :3], hidden, atol=1e-6)  # no mask needed
    assert isinstance(backbone.token_embedding, keras.layers.ReversibleEmbedding) == tie_weights

    backbone.save_to_preset(tmp_path)
    for cls in (keras_hub.models.Backbone, NextWordLSTMBackbone):
        restored = cls.from_preset(str(tmp_path))
        assert type(restored) is NextWordLSTMBackbone
        assert restored.get_config() == backbone.get_config()
        np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x)), hidden, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,name",
    [({"lstm_units": 0}, "lstm_units"), ({"dropout": 1.0}, "dropout")],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NextWordLSTMBackbone(10, **kwargs)
