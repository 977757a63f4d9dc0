import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nextword import NGramVectorizer
from keras_nextword.preprocessing import OOV_ID, PAD_ID, python_split_words


def tutorial_ngrams(lines, vectorizer, length):
    """The tutorial's loop: every prefix of each line, pre-padded / cut to `length + 1`."""
    rows = []
    for line in lines:
        ids = [vectorizer.token_to_id(w) for w in python_split_words(line)]
        for i in range(1, len(ids)):
            gram = ids[: i + 1][-(length + 1) :]
            rows.append([PAD_ID] * (length + 1 - len(gram)) + gram)
    rows = np.array(rows, dtype="int32")
    return rows[:, :-1], rows[:, -1]


def test_tutorial_figures(final_problem_lines):
    vectorizer = NGramVectorizer()
    vectorizer.adapt(final_problem_lines)
    inputs, targets = vectorizer(final_problem_lines)
    assert vectorizer.vocabulary_size() == 1770 + 2  # padding and [UNK] on top
    assert vectorizer.get_vocabulary()[:2] == ["", "[UNK]"]
    assert vectorizer.sequence_length == 16  # longest n-gram: 17 tokens
    assert tuple(inputs.shape) == (6671, 16)
    assert tuple(targets.shape) == (6671,)


def test_same_words_as_keras2_tokenizer(final_problem_lines):
    vectorizer = NGramVectorizer()
    vectorizer.adapt(final_problem_lines)
    # Keras-2 Tokenizer: lower, filters -> " ", split(" "), drop "".
    filters = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
    words = set()
    for line in final_problem_lines:
        text = line.lower()
        for c in filters:
            text = text.replace(c, " ")
        words.update(w for w in text.split(" ") if w)
    assert set(vectorizer.get_vocabulary(include_special_tokens=False)) == words
    assert "one's" in words and "'all" in words


@pytest.mark.parametrize(
    "text,words",
    [
        ("Mr. Holmes's 'all", ["mr", "holmes's", "'all"]),
        ("a--b\tc\nd", ["a", "b", "c", "d"]),
        ("ÉTÉ  Ça", ["été", "ça"]),
    ],
)
def test_tf_and_python_tokenization_agree(text, words):
    vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", *words])
    assert python_split_words(text) == words
    assert vectorizer.tokenize(text).to_list() == [list(range(2, 2 + len(words)))]


def test_ngrams_equal_tutorial_loop(final_problem_lines):
    vectorizer = NGramVectorizer(sequence_length=6)  # short: exercises the front cut
    vectorizer.adapt(final_problem_lines)
    inputs, targets = vectorizer(final_problem_lines)
    expected_inputs, expected_targets = tutorial_ngrams(final_problem_lines, vectorizer, 6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(inputs), expected_inputs)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(targets), expected_targets)


def test_padding_only_at_front_and_no_line_crossing():
    vectorizer = NGramVectorizer()
    vectorizer.adapt(["a b c d", "e f", "g"])
    inputs, targets = vectorizer(["a b c d", "e f", "g"])
    inputs = keras.ops.convert_to_numpy(inputs)
    for row in inputs:
        real = np.flatnonzero(row)
        assert real.size and np.all(real == np.arange(real[0], len(row)))
    # "e" never follows "d": the second line starts from scratch.
    words = vectorizer.detokenize(inputs)
    assert [w for w in words[3] if w] == ["e"]
    assert vectorizer.detokenize(keras.ops.convert_to_numpy(targets)) == ["b", "c", "d", "f"]


def test_out_of_vocabulary_words_map_to_oov_id():
    vectorizer = NGramVectorizer()
    vectorizer.adapt(["holmes met moriarty"])
    inputs, targets = vectorizer(["holmes met zzz moriarty"])
    assert keras.ops.convert_to_numpy(targets).tolist()[1] == OOV_ID
    assert tuple(inputs.shape) == (3, 2)  # nothing dropped


def test_works_inside_tf_data_map(final_problem_lines):
    vectorizer = NGramVectorizer()
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(final_problem_lines))
    dataset = tf.data.Dataset.from_tensor_slices(final_problem_lines).batch(100).map(vectorizer)
    batches = list(dataset)
    assert all(isinstance(x, tf.Tensor) for x, _ in batches)
    mapped = np.concatenate([x.numpy() for x, _ in batches])
    eager, _ = vectorizer(final_problem_lines)
    np.testing.assert_array_equal(mapped, keras.ops.convert_to_numpy(eager))


def test_max_tokens_caps_vocabulary(final_problem_lines):
    vectorizer = NGramVectorizer(max_tokens=100)
    vectorizer.adapt(final_problem_lines)
    assert vectorizer.vocabulary_size() == 100
    _, targets = vectorizer(final_problem_lines)
    assert int(keras.ops.max(targets)) < 100


def test_config_round_trip_keeps_vocabulary():
    vectorizer = NGramVectorizer()
    vectorizer.adapt(["it is with a heavy heart", "that i take up my pen"])
    restored = NGramVectorizer.from_config(vectorizer.get_config())
    assert restored.get_vocabulary() == vectorizer.get_vocabulary()
    assert restored.sequence_length == vectorizer.sequence_length
    for a, b in zip(vectorizer(["a heavy pen"]), restored(["a heavy pen"])):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_contexts_are_pre_padded_last_words():
    vectorizer = NGramVectorizer(sequence_length=3)
    vectorizer.adapt(["a b c d e"])
    contexts = keras.ops.convert_to_numpy(vectorizer.contexts(["a", "a b c d e"]))
    assert vectorizer.detokenize(contexts) == [["", "", "a"], ["c", "d", "e"]]


@pytest.mark.parametrize("kwargs", [{"max_tokens": 2}, {"sequence_length": 0}])
def test_bad_arguments_are_named(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        NGramVectorizer(**kwargs)


def test_adapt_without_two_word_line_fails():
    with pytest.raises(ValueError, match="two or more words"):
        NGramVectorizer().adapt(["one", "", "two"])
