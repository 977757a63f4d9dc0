import keras
import keras_hub
import numpy as np
import pytest

from conftest import LINES
from keras_nextword import NextWordLSTM, NGramVectorizer, WordTokenizer
from keras_nextword.models.next_word_lstm.causal_lm_preprocessor import (
    NextWordLSTMCausalLMPreprocessor,
)
from keras_nextword.runtime.environment import tf


def preprocessor(sequence_length=6):
    tokenizer = WordTokenizer()
    tokenizer.adapt(LINES)
    return NextWordLSTMCausalLMPreprocessor(tokenizer, sequence_length=sequence_length)


def test_strings_to_next_word_rows_eagerly_and_in_tf_data():
    layer = preprocessor()
    assert isinstance(layer, keras_hub.models.CausalLMPreprocessor)
    x, y, weights = (keras.ops.convert_to_numpy(t) for t in layer(LINES))
    ids = [[layer.token_to_id(w) for w in line.split()] for line in LINES]
    assert x.shape == y.shape == weights.shape == (4, 6)
    assert x[3].tolist() == (ids[3] + [0])[:6] and y[3].tolist() == (ids[3][1:] + [0, 0])[:6]
    assert x[0].tolist() == ids[0][:6] and y[0].tolist() == ids[0][1:7]  # cut, not wrapped
    np.testing.assert_array_equal(weights, (y != 0).astype("float32"))
    batches = list(tf.data.Dataset.from_tensor_slices(LINES).batch(2).map(layer))
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x)
    single = layer("a heavy heart")
    assert tuple(single[0].shape) == (6,)


def test_generate_pre_and_postprocess_round_trip():
    layer = preprocessor()
    inputs = layer.generate_preprocess(["a heavy heart", "holmes"])
    mask = keras.ops.convert_to_numpy(inputs["padding_mask"])
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    assert layer.generate_postprocess(inputs) == ["a heavy heart", "holmes"]


def test_config_round_trip_and_a_model_that_holds_it(tmp_path):
    layer = preprocessor()
    restored = NextWordLSTMCausalLMPreprocessor.from_config(layer.get_config())
    assert restored.get_vocabulary() == layer.get_vocabulary()
    assert restored.sequence_length == 6
    model = NextWordLSTM.from_sizes(layer.vocabulary_size(), 4, 6, preprocessor=layer)
    history = model.fit(LINES, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert len(model.generate("a heavy", max_length=3).split()) == 5
    model.save_to_preset(tmp_path)
    for cls in (NextWordLSTM, keras_hub.models.CausalLM):
        loaded = cls.from_preset(str(tmp_path))
        assert isinstance(loaded.preprocessor, NextWordLSTMCausalLMPreprocessor)
        assert loaded.generate("a heavy", max_length=3) == model.generate("a heavy", max_length=3)
    alone = keras_hub.models.CausalLMPreprocessor.from_preset(str(tmp_path))
    assert alone.get_vocabulary() == layer.get_vocabulary()


def test_from_counts_is_the_n_gram_layers_vocabulary_and_rows():
    """One tokenizer for both: the vocabulary, counts and row length that
    `NGramVectorizer.adapt_counts` gives, and word dropout kept in the config."""
    counts = {"holmes": 3, "the": 5, "watson": 3, "moriarty": 1}
    lengths = {1: 2, 4: 2, 90: 1}
    layer = NextWordLSTMCausalLMPreprocessor.from_counts(counts, lengths, word_dropout=True)
    vectorizer = NGramVectorizer(word_dropout=True)
    vectorizer.adapt_counts(counts, lengths)
    assert layer.get_vocabulary() == vectorizer.get_vocabulary()
    assert layer.word_counts == vectorizer.word_counts == [0, 0, 5, 3, 3, 1]
    assert layer.sequence_length == vectorizer.sequence_length == 64  # capped
    assert layer.detokenize([[2, 3]]) == vectorizer.detokenize([[2, 3]]) == [["the", "watson"]]
    restored = NextWordLSTMCausalLMPreprocessor.from_config(layer.get_config())
    assert restored.word_dropout and restored.word_counts == layer.word_counts
    with pytest.raises(ValueError, match="two or more words"):
        NextWordLSTMCausalLMPreprocessor.from_counts({"holmes": 2}, {1: 2})
