"""The first pass (`first_pass`) counts what the streamed lines and `TextVectorization.adapt` give."""

import collections
import re

import keras
import pytest

from keras_nextword.text import data, datasets, first_pass
from keras_nextword.text.ngram_vectorizer import NGramVectorizer, split_words
from keras_nextword.training import recipe

pytestmark = pytest.mark.backend("jax")


def streamed_counts(train):
    """What `from_text` counted before the first pass: `TextVectorization.adapt` on the
    streamed training lines, and `split_words` over them."""
    vectorization = keras.layers.TextVectorization(standardize=None, split=split_words)
    vectorization.adapt(train.batch(1024))
    counts, lengths = collections.Counter(), collections.Counter()
    for lines in train.batch(1024):
        words = split_words(lines)
        lengths.update(words.row_lengths().numpy().tolist())
        counts.update(w.decode() for w in words.flat_values.numpy().tolist())
    vocabulary = [str(w) for w in vectorization.get_vocabulary()]
    return vocabulary, [counts[w] for w in vocabulary], dict(sorted(lengths.items()))


def test_bundled_corpus_counts_equal_the_streamed_adapt():
    parts = recipe.split(datasets.load_final_problem())
    vectorizer = NGramVectorizer()
    vectorizer.adapt_counts(parts.word_counts, parts.line_lengths)
    vocabulary, counts, lengths = streamed_counts(parts.train)
    assert parts.train_lines == 530 and len(vocabulary) == 1_544
    assert vectorizer.get_vocabulary() == vocabulary
    assert vectorizer.word_counts == counts
    assert vectorizer.tokenizer.line_lengths == lengths
    streamed = data.split_dataset(*data.stream_lines(datasets.load_final_problem()), 66 / 655)
    assert data.listed(parts.held_out) == data.listed(streamed[1])
    assert data.listed(parts.dev) == data.listed(streamed[0].skip(530))


def test_line_ends_blank_lines_and_cased_words_count_as_streamed(tmp_path):
    path = tmp_path / "odd.txt"
    text = "\ufeffÉtude IN  Scarlet\r\n \t\r\n\nA\x0bB c\rd\r\r\nÉTUDE, étude--a\tb\n\nlast line"
    path.write_bytes(text.encode())
    count = first_pass.count_lines([str(path)])
    assert count == data.stream_lines(str(path))[1] == 4
    words, lengths, rest = first_pass.count_words([str(path)], count - 1)
    assert rest == ["last line"]
    vocabulary, counts, expected_lengths = streamed_counts(data.line_dataset([str(path)]).take(3))
    tokenizer = NGramVectorizer().tokenizer
    tokenizer.adapt_counts(words, lengths)
    assert tokenizer.get_vocabulary() == vocabulary
    assert tokenizer.word_counts == counts and lengths == expected_lengths


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "empty, no text to read"),
        (b" \r\n\t\n ", "whitespace only"),
        (b"one line\ncaf\xe9 au lait\n", r"byte 0xe9 at offset 12 \(line 2\)"),
        (b"PK\x03\x04\x00\x00", "NUL byte at offset 4"),
    ],
)
def test_bad_files_raise_the_checks_error(tmp_path, content, problem):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^{path}: .*{problem}"):
        first_pass.count_lines([str(path)])


def test_progress_line_for_large_files_only():
    said = []
    small = first_pass.Progress("Counting", first_pass.PROGRESS_BYTES - 1, said.append)
    small.read(10, now=small.start + 60)
    large = first_pass.Progress("Counting", 2 * first_pass.PROGRESS_BYTES, said.append)
    large.read(first_pass.PROGRESS_BYTES, now=large.start + 10)
    assert said == ["Counting: 50 of 100 MB read, 5.0 MB/s, 10 s left"]


def typeset(text):
    """`text` as a typesetter prints it: curly quotes, em dashes, non-breaking spaces."""
    text = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", text)
    text = re.sub(r"(?<=\w)'(?=\w)", "\u2019", text)
    text = re.sub(r"(?<=\s)'", "\u2018", text).replace("'", "\u2019")
    return text.replace("--", "\u2014").replace("Mr. ", "Mr.\u00a0")


def test_a_typeset_text_counts_the_words_of_its_ascii_text(tmp_path):
    # Before: "\u201cholmes" and "holmes\u2019s" were words of their own (1,611 types, not 1,542).
    ascii_text = open(datasets.load_final_problem(), encoding="utf-8").read()
    path = tmp_path / "typeset.txt"
    path.write_text(typeset(ascii_text), encoding="utf-8")
    assert sum(path.read_text(encoding="utf-8").count(c) for c in "\u201c\u2019\u2014\u00a0") > 150
    plain, typeset_parts = recipe.split(datasets.load_final_problem()), recipe.split(path)
    assert typeset_parts.word_counts == plain.word_counts
    assert typeset_parts.line_lengths == plain.line_lengths
    vectorizer = NGramVectorizer()
    vectorizer.adapt_counts(typeset_parts.word_counts, typeset_parts.line_lengths)
    vocabulary, counts, lengths = streamed_counts(typeset_parts.train)  # the TensorFlow words
    assert vectorizer.get_vocabulary() == vocabulary and vectorizer.word_counts == counts
