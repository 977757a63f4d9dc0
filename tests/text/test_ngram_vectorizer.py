import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_nextword import NGramVectorizer
from keras_nextword.text import pipeline
from keras_nextword.text.ngram_vectorizer import OOV_ID, PAD_ID, python_split_words


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


# Property tests: random texts of lines drawn from a small vocabulary, one unknown
# word ("zebra"), mixed case, separators that the tokenizer reads as spaces, and
# lines without words. One vectorizer with a fixed vocabulary serves every example.
VOCABULARY = ["", "[UNK]", "holmes", "moriarty", "the", "fall", "i'm", "été"]
SEQUENCE_LENGTH = 4  # shorter than the longest lines: contexts are cut from the front
separator = st.sampled_from([" ", "  ", ", ", " -- ", "\t", ". "])
# A line: a leading separator, then (word, uppercase?, separator) triples.
line = st.tuples(
    separator,
    st.lists(
        st.tuples(st.sampled_from([*VOCABULARY[2:], "zebra"]), st.booleans(), separator),
        max_size=9,
    ),
)


@pytest.fixture(scope="module")
def word_vectorizer():
    return NGramVectorizer(vocabulary=VOCABULARY, sequence_length=SEQUENCE_LENGTH)


@settings(max_examples=60, deadline=None)
@given(text=st.lists(line, min_size=1, max_size=12))
def test_ngrams_of_random_texts(word_vectorizer, text):
    lines = [
        lead + "".join((w.upper() if up else w) + sep for w, up, sep in words)
        for lead, words in text
    ]
    # The expected ids, from the drawn words, not from the tokenizer.
    ids = [
        [VOCABULARY.index(w) if w in VOCABULARY else OOV_ID for w, _, _ in words]
        for _, words in text
    ]
    inputs, targets = word_vectorizer(lines)
    inputs = keras.ops.convert_to_numpy(inputs).tolist()
    targets = keras.ops.convert_to_numpy(targets).tolist()
    # One example per word after the first of its line, lines in order.
    examples = [(row, i) for row in ids for i in range(1, len(row))]
    assert len(targets) == len(inputs) == len(examples)
    assert len(targets) == sum(len(row) - 1 for row in ids if row)
    # The line layout makes the same predictions, one row pass per line.
    _, sequence_targets, weights = pipeline.layout(word_vectorizer, lines)
    weights = keras.ops.convert_to_numpy(weights) > 0
    assert keras.ops.convert_to_numpy(sequence_targets)[weights].tolist() == targets
    for context, target, (row, i) in zip(inputs, targets, examples):
        assert len(context) == SEQUENCE_LENGTH
        assert target == row[i]  # the true next token
        padding = SEQUENCE_LENGTH - min(i, SEQUENCE_LENGTH)
        assert context[:padding] == [PAD_ID] * padding  # zeros only at the front
        assert PAD_ID not in context[padding:]
        # The words just before the target, from its own line only.
        assert context[padding:] == row[max(0, i - SEQUENCE_LENGTH) : i]
