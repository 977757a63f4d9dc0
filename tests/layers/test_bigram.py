"""The bigram count model mixed into a `NextWordLSTM`'s output (`layers.bigram`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nextword import NextWordLSTM
from keras_nextword.models.next_word_lstm import decoding
from keras_nextword.text.ngram_vectorizer import PAD_ID
from keras_nextword.training import mixing


def lstm_alone(model):
    """The same LSTM and output layer without the mix."""
    plain = NextWordLSTM(model.backbone, preprocessor=model.preprocessor)
    plain.head.set_weights(model.head.get_weights())
    return plain


def test_small_model_is_mixed(small_model):
    # from_text's rule mixes the briefly trained session model: every other
    # test of generation, export and serving runs through the mix.
    assert small_model.bigram is not None and 0 < small_model.bigram.weight < 1
    assert small_model.training_settings["bigram_weight"] == small_model.bigram.weight


def test_output_is_the_mix_of_both_distributions(small_model):
    x = np.array([[0, 0, 5, 9, 14], [3, 7, 2, 11, 4]], "int32")  # pre-padded, and not
    weight = small_model.bigram.weight
    table = keras.ops.convert_to_numpy(small_model.bigram.table)
    lstm = keras.ops.convert_to_numpy(lstm_alone(small_model)(x)).astype("float64")
    lstm = np.exp(lstm - lstm.max(-1, keepdims=True))
    lstm /= lstm.sum(-1, keepdims=True)
    expected = weight * lstm + (1 - weight) * np.exp(table[x])
    out = np.exp(keras.ops.convert_to_numpy(small_model(x)))
    np.testing.assert_allclose(out[1], expected[1], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(out[0, -1], expected[0, -1], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)


def test_cache_steps_give_the_model_output(small_model):
    x = np.array([[3, 7, 2, 11, 4]], "int32")
    hidden, cache = decoding.build_cache(small_model, x[:, :3])
    logits, _, _ = decoding.call_with_cache(small_model, x[:, 3:], cache)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(logits)[0],
        keras.ops.convert_to_numpy(small_model(x))[0, 3:],
        atol=1e-4,
    )


def test_saved_and_loaded_with_its_table(small_model, tmp_path):
    small_model.save(tmp_path / "mixed.keras")
    loaded = keras.saving.load_model(tmp_path / "mixed.keras")
    assert loaded.bigram.weight == small_model.bigram.weight
    x = np.array([[3, 7, 2, 11, 4]], "int32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(small_model(x)), atol=1e-6
    )


def test_kneser_ney_rows_are_distributions_over_words():
    counts = np.array([[0, 0, 0, 0], [0, 0, 3, 1], [0, 1, 0, 2]])  # rows for ids 0-2
    rare = np.array([3 * 4 + 1, 3 * 4 + 2])  # id 3 was followed by 1 and 2
    table = mixing.kneser_ney(counts, rare)
    probabilities = np.exp(table.astype("float64"))
    assert table.shape == (4, 4) and np.all(table[:, PAD_ID] == mixing.FLOOR)
    np.testing.assert_allclose(probabilities[:, 1:].sum(-1), 1.0, rtol=1e-6)
    # Seen bigrams keep most of their count; a word never before anything, and
    # every word past the rows (the last row), read the continuation unigram.
    assert probabilities[1, 2] > probabilities[1, 3] > probabilities[1, 1]
    np.testing.assert_allclose(probabilities[3], probabilities[0])
    # Continuation counts: 1 follows 2 and 3, 2 follows 1 and 3, 3 follows 1 and 2.
    np.testing.assert_allclose(probabilities[3, 1:], 1 / 3, rtol=1e-6)


def test_bigram_counts_stay_within_lines(small_model):
    preprocessor = small_model.preprocessor
    ids = [preprocessor.token_to_id(w) for w in ("the", "professor", "holmes")]
    lines = tf.data.Dataset.from_tensor_slices(["the professor", "holmes the"])
    counts, rare = mixing.bigram_counts(preprocessor, lines, preprocessor.vocabulary_size())
    assert counts.sum() == 2 and len(rare) == 0
    assert counts[ids[0], ids[1]] == 1 and counts[ids[2], ids[0]] == 1
    assert counts[ids[1], ids[2]] == 0  # the end of one line, the start of the next
    counts, rare = mixing.bigram_counts(preprocessor, lines, ids[0] + 1)  # "the" has a row
    size = preprocessor.vocabulary_size()
    assert counts.sum() == 1 and rare.tolist() == [ids[2] * size + ids[0]]


def test_words_past_the_rows_read_the_last_row(small_model):
    weight, size = small_model.bigram.weight, small_model.backbone.vocabulary_size
    table = keras.ops.convert_to_numpy(small_model.bigram.table)
    few = NextWordLSTM(small_model.backbone, small_model.preprocessor, weight, bigram_rows=10)
    few.head.set_weights(small_model.head.get_weights())
    few.bigram.table.assign(np.concatenate([table[:10], table[-1:]]))
    x = np.array([[3, 7, 12, size - 1]], "int32")
    out, full = (keras.ops.convert_to_numpy(m(x))[0] for m in (few, small_model))
    np.testing.assert_allclose(out[:2], full[:2], atol=1e-6)  # ids below 10: their own rows
    lstm = keras.ops.convert_to_numpy(lstm_alone(small_model)(x))[0].astype("float64")
    lstm = np.exp(lstm - lstm.max(-1, keepdims=True))
    lstm /= lstm.sum(-1, keepdims=True)
    expected = weight * lstm[2:] + (1 - weight) * np.exp(table[-1])
    np.testing.assert_allclose(np.exp(out[2:]), expected, rtol=1e-4, atol=1e-7)


def test_chosen_weight_scores_the_lines_best(small_model):
    lines = ["it is with a heavy heart that i take up my pen", "holmes is with the professor"]
    table = keras.ops.convert_to_numpy(small_model.bigram.table)
    weight, scores = mixing.choose_weight(lstm_alone(small_model), lines, table)
    assert set(scores) == set(mixing.WEIGHTS) and scores[weight] == min(scores.values())


def test_log_softmax_at_targets_in_a_few_rows_at_a_time():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=20, size=(7, 5, 11)).astype("float32")  # 7: not a multiple of 4
    targets = rng.integers(0, 11, size=(7, 5))
    expected = keras.ops.convert_to_numpy(keras.ops.log_softmax(logits, axis=-1))
    expected = np.take_along_axis(expected, targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(mixing.log_softmax_at(logits, targets), expected, atol=1e-5)


@pytest.mark.parametrize("weight", [0.0, 1.0, 1.5])
def test_weight_out_of_range_is_refused(weight):
    with pytest.raises(ValueError, match=f"weight={weight}"):
        NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6, bigram_weight=weight)
