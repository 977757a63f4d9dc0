"""Reading corpora (every bad input refused with the path and the problem), splits and layouts."""

import re
import time
import tracemalloc

import keras
import numpy as np
import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.text import data, datasets, pipeline
from keras_nextword.text.data import read_lines, split_dataset, split_lines, stream_lines
from keras_nextword.text.pipeline import MODES, text_dataset

LINES = [
    "it is with a heavy heart that i take up my pen",
    "to write these the last words in which i shall ever record",
    "",
    "the singular gifts by which my friend mr sherlock holmes",
    "was distinguished in a heavy heart",
    "  ",
    "holmes",
]


def as_arrays(dataset):
    """The batches' rows in one array each, padded to the widest batch."""
    batches = [[np.asarray(t) for t in batch] for batch in dataset]
    width = max(batch[0].shape[1] for batch in batches)
    return [
        np.concatenate([np.pad(b[i], [(0, 0), (0, width - b[i].shape[1])]) for b in batches])
        for i in range(3)
    ]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes("\r\n".join(LINES).encode("utf-8"))
    return path


def adapted(lines=LINES, **kwargs):
    vectorizer = NGramVectorizer(**kwargs)
    vectorizer.adapt([line for line in lines if line.strip()])
    return vectorizer


def test_streamed_lines_and_split_equal_in_memory(corpus):
    lines, count = stream_lines(corpus)
    assert count == 5
    train, held_out, counts = split_dataset(lines, count, 0.4)
    expected = split_lines(read_lines(corpus), 0.4)
    assert counts == (3, 2)
    assert [[s.decode() for s in d.as_numpy_iterator()] for d in (train, held_out)] == [
        list(part) for part in expected
    ]


@pytest.mark.parametrize("mode", MODES)
def test_streamed_dataset_yields_the_in_memory_examples(corpus, mode):
    vectorizer = adapted()
    lines, _ = stream_lines(corpus)
    streamed = as_arrays(text_dataset(lines, vectorizer, 4, mode, window_length=5))
    in_memory = as_arrays(text_dataset(read_lines(corpus), vectorizer, 4, mode, window_length=5))
    for a, b in zip(streamed, in_memory):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bucket", [False, True])
def test_kept_rows_are_the_pipeline_rows(mode, bucket):
    # `cache` lays lines in memory out eagerly; the batches are the map's.
    vectorizer, lines = adapted(sequence_length=6), LINES * 40
    kept = text_dataset(lines, vectorizer, 8, mode, window_length=5, bucket=bucket, cache=True)
    mapped = text_dataset(lines, vectorizer, 8, mode, window_length=5, bucket=bucket)
    assert int(kept.cardinality()) == pipeline.count_batches(mapped)
    for a, b in zip(as_arrays(kept), as_arrays(mapped)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["line", "prefix"])
@pytest.mark.parametrize("sequence_length", [None, 5])
def test_batches_per_pass_counts_from_line_lengths(mode, sequence_length):
    lines = data.read_lines(datasets.load_final_problem())
    vectorizer = adapted(lines, sequence_length=sequence_length)
    assert vectorizer.tokenizer.longest_line == max(vectorizer.tokenizer.line_lengths) == 17
    for batch_size in (1, 7, 32):
        dataset = text_dataset(lines, vectorizer, batch_size, mode, shuffle=True, seed=0)
        assert pipeline.batches_per_pass(
            vectorizer.tokenizer.line_lengths, batch_size, mode, vectorizer.sequence_length
        ) == pipeline.count_batches(dataset)
    with pytest.raises(ValueError, match="mode='window'"):
        pipeline.batches_per_pass({3: 1}, 8, "window")
    with pytest.raises(ValueError, match="`length`.*Received: None"):
        pipeline.batches_per_pass({3: 1}, 8, "line")


def test_fit_on_text_with_steps_per_epoch_goes_on_past_a_pass():
    # Epochs of 3 steps over 2 batches of lines: the pipeline is repeated, one iterator.
    vectorizer = adapted()
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), preprocessor=vectorizer)
    history = model.fit(LINES * 4, batch_size=2, steps_per_epoch=3, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3


def predictions(x, y, w):
    """Each weighted position as (context without padding, target)."""
    pairs = []
    for row_x, row_y, row_w in zip(x, y, w):
        for t in np.flatnonzero(row_w):
            context = [i for i in row_x[: t + 1] if i]
            pairs.append((tuple(context), int(row_y[t])))
    return sorted(pairs)


def test_line_and_prefix_layouts_make_the_same_predictions():
    vectorizer = adapted()
    line = as_arrays(text_dataset(LINES, vectorizer, 8, "line"))
    prefix = as_arrays(text_dataset(LINES, vectorizer, 8, "prefix"))
    assert predictions(*line) == predictions(*prefix)
    assert len(predictions(*line)) == sum(max(len(s.split()) - 1, 0) for s in LINES)
    # Line rows are post-padded: padding only after the real positions.
    x, _, w = line
    assert np.all(np.diff(w, axis=1) <= 0) and np.all(x[w == 0] == 0)


def test_line_batches_are_cut_to_their_longest_row():
    vectorizer = adapted()
    lines = ["a heavy heart"] * 20 + [LINES[0]] * 3
    dataset = text_dataset(lines, vectorizer, 8, "line", bucket=True)
    batches = [[np.asarray(t) for t in b] for b in dataset]
    # 2 predictions per short line: rows cut to 4; 11 per long one: the full width.
    assert sorted(b[0].shape for b in batches) == [(8, 4), (8, 4), (8, 4), (8, 11)]
    assert sum(b[2].sum() for b in batches) == 20 * 2 + 3 * 11


def test_long_lines_continue_in_the_next_row():
    vectorizer = adapted(sequence_length=4)
    x, y, w = (keras.ops.convert_to_numpy(t) for t in pipeline.layout(vectorizer, [LINES[0]]))
    words = LINES[0].split()
    assert x.shape == (3, 4) and w.sum() == len(words) - 1
    assert vectorizer.detokenize(y[w > 0]) == words[1:]
    assert vectorizer.detokenize(x[w > 0]) == words[:-1]


def test_windows_cover_the_word_stream():
    vectorizer = adapted()
    x, y, w = (
        keras.ops.convert_to_numpy(t)
        for t in pipeline.layout(vectorizer, LINES, "window", window_length=6)
    )
    words = " ".join(LINES).split()
    assert vectorizer.detokenize(y[w > 0]) == words[1:]
    assert vectorizer.detokenize(x[w > 0]) == words[:-1]
    assert w[:-1].all()  # only the last row is padded


def test_line_and_prefix_modes_give_the_same_loss():
    vectorizer = adapted()
    keras.utils.set_random_seed(0)
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    results = []
    for mode in ("line", "prefix"):
        x, y, w = as_arrays(text_dataset(LINES, vectorizer, 8, mode))
        # One batch: the loss is the mean over every prediction.
        results.append(model.evaluate(x, y, 1000, sample_weight=w, return_dict=True, verbose=0))
    line, prefix = results
    assert line["loss"] == pytest.approx(prefix["loss"], rel=1e-5)
    assert line["perplexity"] == pytest.approx(prefix["perplexity"], rel=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_training_rows_never_hold_held_out_lines(corpus, mode):
    lines, count = stream_lines(corpus)
    train, held_out, _ = split_dataset(lines, count, 0.4)
    vectorizer = adapted()  # every word has an id, held-out ones too
    held_out_ids = set(vectorizer.tokenize(list(held_out)).flat_values.numpy()) - set(
        vectorizer.tokenize(list(train)).flat_values.numpy()
    )
    assert held_out_ids  # "distinguished", "holmes"...
    x, y, w = as_arrays(text_dataset(train, vectorizer, 4, mode, shuffle=True, seed=0))
    assert not held_out_ids & set(x.ravel()) and not held_out_ids & set(y.ravel())


def dropout_vectorizer():
    vectorizer = adapted(word_dropout=True)
    # Every word seen once: each occurrence becomes [UNK] with probability 1/2.
    vectorizer.word_counts = [0, 0] + [1] * (vectorizer.vocabulary_size() - 2)
    return vectorizer


def test_word_dropout_is_seeded_and_redrawn_every_pass():
    vectorizer = dropout_vectorizer()
    lines = [line for line in LINES if line.strip()] * 20

    def passes(seed, n=2):
        dataset = text_dataset(lines, vectorizer, 8, "line", training=True, seed=seed).repeat(n)
        return np.concatenate([np.asarray(x) for x, _, _ in dataset])

    first, again = passes(3), passes(3)
    np.testing.assert_array_equal(first, again)  # same seed, same draws
    half = len(first) // 2
    unk = (first == 1).sum() / (first > 0).sum()
    assert 0.4 < unk < 0.6
    assert not np.array_equal(first[:half], first[half:])  # a new draw each pass
    assert not np.array_equal(first, passes(4))


def test_word_dropout_follows_training_not_shuffle():
    vectorizer = dropout_vectorizer()
    lines = [line for line in LINES if line.strip()] * 20
    x, _, w = as_arrays(text_dataset(lines, vectorizer, 8, "line", training=True, seed=0))
    assert (x[w > 0] == 1).any()  # shuffle=False still drops words
    x, _, w = as_arrays(text_dataset(lines, vectorizer, 8, "line", shuffle=True, training=False))
    assert not (x[w > 0] == 1).any()


def test_fit_without_shuffling_keeps_word_dropout(monkeypatch):
    calls = []
    original = pipeline.text_dataset

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "text_dataset", spy)
    vectorizer = dropout_vectorizer()
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 4, 4, preprocessor=vectorizer)
    model.fit(LINES, epochs=1, shuffle=False, verbose=0)
    assert calls[0]["shuffle"] is False and calls[0]["training"] is True


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="mode"):
        text_dataset(LINES, adapted(), 4, "sentences")


def write(path, content):
    path.write_bytes(content)
    return path


def named(path, problem):
    """A `match` pattern: the message starts with `path: `, then `problem` (a regex)."""
    return f"^{re.escape(str(path))}: {problem}"


def test_universal_newlines_and_byte_order_mark(tmp_path):
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfIt is\r\nwith a\rheavy\nheart")
    assert data.read_lines(path) == ["It is", "with a", "heavy", "heart"]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=named(tmp_path / "nope.txt", "no such corpus file")
    ):
        data.read_lines(tmp_path / "nope.txt")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(IsADirectoryError, match=named(tmp_path, r"a directory, not a text file")):
        data.read_lines(tmp_path)


def test_text_files_of_a_directory(tmp_path):
    write(tmp_path / "b.txt", b"b")
    write(tmp_path / "a.txt", b"a")
    write(tmp_path / "notes.md", b"not a corpus")
    (tmp_path / "sub.txt").mkdir()
    assert data.text_files(tmp_path) == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert data.text_files(tmp_path / "a.txt") == [str(tmp_path / "a.txt")]


def test_directory_without_txt_files_is_named(tmp_path):
    write(tmp_path / "notes.md", b"not a corpus")
    with pytest.raises(FileNotFoundError, match=named(tmp_path, r"a directory without .txt files")):
        data.text_files(tmp_path)
    with pytest.raises(
        FileNotFoundError, match=named(tmp_path / "nope", "no such file or directory")
    ):
        data.text_files(tmp_path / "nope")


@pytest.mark.parametrize(
    "content,problem", [(b"", "empty"), (b"\xef\xbb\xbf", "empty"), (b" \r\n\t\n", "whitespace")]
)
def test_empty_or_whitespace_only_file_is_refused(tmp_path, content, problem):
    path = write(tmp_path / "empty.txt", content)
    with pytest.raises(ValueError, match=named(path, problem)):
        data.read_lines(path)


def test_non_utf8_byte_is_named_with_its_offset(tmp_path):
    path = write(tmp_path / "latin1.txt", b"one line\ncaf\xe9 au lait\n")
    with pytest.raises(
        ValueError, match=named(path, r"not UTF-8: byte 0xe9 at offset 12 \(line 2\)")
    ):
        data.read_lines(path)


def test_replace_reads_bad_bytes_and_warns_with_their_count(tmp_path):
    # Three bad sequences, and one U+FFFD that is valid UTF-8 (not counted).
    path = write(tmp_path / "mixed.txt", b"caf\xe9 \xef\xbf\xbd\n\xff\xfe ok\n")
    with pytest.warns(UnicodeWarning, match=named(path, r"not UTF-8: 3 undecodable .* offset 3")):
        lines = data.read_lines(path, errors="replace")
    assert lines == ["caf\ufffd \ufffd", "\ufffd\ufffd ok", ""]


def test_bad_errors_argument_is_named(tmp_path):
    path = write(tmp_path / "a.txt", b"a b")
    with pytest.raises(ValueError, match="errors='ignore'"):
        data.read_lines(path, errors="ignore")


def test_binary_file_is_refused_at_its_first_nul(tmp_path):
    path = write(tmp_path / "model.bin", b"PK\x03\x04\x00\x00")
    with pytest.raises(
        ValueError, match=named(path, r"a binary file, not text: NUL byte at offset 4")
    ):
        data.read_lines(path)


def test_utf16_text_is_refused_as_binary(tmp_path):
    path = write(tmp_path / "utf16.txt", "hi there".encode("utf-16"))
    with pytest.raises(ValueError, match=named(path, r"a binary file.*UTF-16")):
        data.read_lines(path)


def test_decode_lines_names_its_source():
    assert data.decode_lines(b"a b\r\nc", "<stdin>") == ["a b", "c"]
    with pytest.raises(ValueError, match="<stdin>: empty"):
        data.decode_lines(b"", "<stdin>")


def test_lines_of_one_word_have_nothing_to_learn(tmp_path):
    path = write(tmp_path / "names.txt", b"Holmes\n\nMoriarty, \n")
    data.check_next_words(["Holmes", "Mr. Holmes"], path)
    with pytest.raises(ValueError, match=named(path, r"no line .* two or more words")):
        data.check_next_words(data.read_lines(path), path)
    with pytest.raises(ValueError, match=named(path, r"no line .* two or more words")):
        NextWordLSTM.from_text(path, epochs=0, validation_split=0.0)


def test_reads_a_4mb_book_quickly(tmp_path):
    path = write(
        tmp_path / "book.txt", b"It is with a heavy heart that I take up my pen\r\n" * 85_000
    )
    start = time.perf_counter()
    lines = data.read_lines(path)
    assert time.perf_counter() - start < 2.0  # about 0.05 s on one core
    assert len(lines) == 85_001


def test_10mb_without_newline_is_read_in_bounded_memory(tmp_path):
    path = write(tmp_path / "one_line.txt", b"word " * 2_000_000)
    tracemalloc.start()
    try:
        lines = data.read_lines(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(lines) == 1 and len(lines[0]) == 10_000_000
    assert peak < 3 * 10_000_000  # the bytes and the text, no per-character objects
