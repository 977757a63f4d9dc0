import keras
import keras_hub
import numpy as np
import pytest

from keras_nextword import TUTORIAL_RECIPE, NextWordLSTM, NGramVectorizer, datasets
from keras_nextword.models.next_word_lstm.backbone import NextWordLSTMBackbone
from keras_nextword.text.data import read_lines


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


def test_packed_lines_read_as_rows_of_their_own(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = NextWordLSTMBackbone(50, embedding_dim=8, lstm_units=16, line_starts=True)
    packed = keras.ops.convert_to_numpy(backbone(np.array([[5, 7, -9, 4, 2, -3, 0]])))[0]
    alone = keras.ops.convert_to_numpy(backbone(np.array([[5, 7, 0], [9, 4, 2], [3, 0, 0]])))
    np.testing.assert_allclose(packed[:2], alone[0, :2], atol=1e-6)
    np.testing.assert_allclose(packed[2:5], alone[1], atol=1e-6)
    np.testing.assert_allclose(packed[5], alone[2, 0], atol=1e-6)
    # Without the marks, the state runs on: the second line reads the first.
    unmarked = keras.ops.convert_to_numpy(backbone(np.array([[5, 7, 9, 4, 2, 3, 0]])))[0]
    assert not np.allclose(unmarked[2:5], alone[1], atol=1e-3)

    model = NextWordLSTM(backbone)
    model.save(tmp_path / "packed.keras")
    restored = keras.saving.load_model(tmp_path / "packed.keras")
    assert restored.backbone.get_config() == backbone.get_config()
    assert restored.backbone.line_starts and not NextWordLSTMBackbone(50).line_starts
    ids = np.array([[5, 7, -9, 4, 2, -3, 0]])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(ids)), keras.ops.convert_to_numpy(model(ids)), atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs,name",
    [({"lstm_units": 0}, "lstm_units"), ({"dropout": 1.0}, "dropout")],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NextWordLSTMBackbone(10, **kwargs)


def post_padded(rows):
    """`rows` with each row's leading padding moved to its end."""
    real = rows != 0
    out = np.zeros_like(rows)
    for i, row in enumerate(rows):
        out[i, : real[i].sum()] = row[real[i]]
    return out


@pytest.mark.parametrize("tie_weights", [False, True])
def test_padding_never_changes_a_prediction(tie_weights):
    """Unpadded, post-padded and pre-padded rows of the same words give the
    same logits at their last word (pre-padded rows gave others: padding ran
    through the LSTM first), and post-padded rows the LSTM's own outputs."""
    keras.utils.set_random_seed(0)
    model = NextWordLSTM.from_sizes(50, embedding_dim=8, lstm_units=16, tie_weights=tie_weights)
    words = np.array([[5, 7, 9, 11]], "int32")
    last = keras.ops.convert_to_numpy(model(words))[:, -1]
    pre = np.array([[0, 0, 5, 7, 9, 11], [0, 0, 0, 0, 0, 5], [4, 3, 2, 6, 8, 10]], "int32")
    post = post_padded(pre)
    pre_logits = keras.ops.convert_to_numpy(model(pre))
    post_logits = keras.ops.convert_to_numpy(model(post))
    np.testing.assert_allclose(pre_logits[0, -1], last[0], atol=1e-5)
    np.testing.assert_allclose(post_logits[0, 3], last[0], atol=1e-5)
    np.testing.assert_allclose(pre_logits[:, -1], post_logits[[0, 1, 2], [3, 0, 5]], atol=1e-5)
    # Every real position keeps its own output, wherever the padding is.
    real = pre != 0
    np.testing.assert_allclose(pre_logits[real], post_logits[post != 0], atol=1e-5)
    # Generation's cell loop (`call_with_cache`) skips padding: the same logits.
    zeros = keras.ops.zeros((len(pre), 16))
    cached, _, _ = model.call_with_cache(pre, (zeros, zeros))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(cached)[:, -1], pre_logits[:, -1], atol=1e-5
    )
    # Post-padded and unpadded rows are the LSTM's outputs as they are.
    backbone = model.backbone
    bare = backbone.lstm(backbone.token_embedding(post))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone(post)), keras.ops.convert_to_numpy(bare), atol=1e-6
    )


def tutorial_fit(vectorizer, x, y, rows_at):
    """A tutorial model (`TUTORIAL_RECIPE`'s sizes) fitted on `x` for one
    epoch, each row's target `y` at position `rows_at` (weight 1, 0 elsewhere)."""
    keras.utils.set_random_seed(0)
    model = NextWordLSTM.from_sizes(
        vectorizer.vocabulary_size(), embedding_dim=8, lstm_units=8, dropout=0.0, tie_weights=False
    )
    model.compile(optimizer=keras.optimizers.Adam(TUTORIAL_RECIPE["learning_rate"]))
    targets, weights = np.zeros(x.shape, "int32"), np.zeros(x.shape, "float32")
    rows = np.arange(len(x))
    targets[rows, rows_at], weights[rows, rows_at] = y, 1.0
    keras.Model.fit(
        model, x, targets, sample_weight=weights, batch_size=32, shuffle=False, verbose=0
    )
    return model


def test_a_model_fitted_on_ngram_vectorizer_rows_matches_a_post_padded_run():
    """`NGramVectorizer`'s pre-padded n-grams, the tutorial's way, train the
    model a post-padded run trains (the pre-padded one trained another)."""
    lines = read_lines(datasets.load_final_problem())[:60]
    vectorizer = NGramVectorizer(sequence_length=8)
    vectorizer.adapt(lines)
    x, y = (keras.ops.convert_to_numpy(t) for t in vectorizer(lines))
    assert (x[:, -1] != 0).all() and (x[:, 0] == 0).any()  # pre-padded
    lengths = (x != 0).sum(axis=1)
    pre_model = tutorial_fit(vectorizer, x, y, x.shape[1] - 1)
    post_model = tutorial_fit(vectorizer, post_padded(x), y, lengths - 1)
    rows = np.arange(len(x))
    from_pre = keras.ops.convert_to_numpy(pre_model(x))[:, -1]
    from_post = keras.ops.convert_to_numpy(post_model(post_padded(x)))[rows, lengths - 1]
    np.testing.assert_allclose(from_pre, from_post, atol=1e-4)
