import keras
import numpy as np
import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.data import (
    MODES,
    read_lines,
    split_dataset,
    split_lines,
    stream_lines,
    text_dataset,
)

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
    batches = list(dataset)
    return [np.concatenate([np.asarray(b[i]) for b in batches]) for i in range(3)]


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


def test_long_lines_continue_in_the_next_row():
    vectorizer = adapted(sequence_length=4)
    x, y, w = (keras.ops.convert_to_numpy(t) for t in vectorizer.sequences([LINES[0]]))
    words = LINES[0].split()
    assert x.shape == (3, 4) and w.sum() == len(words) - 1
    assert vectorizer.detokenize(y[w > 0]) == words[1:]
    assert vectorizer.detokenize(x[w > 0]) == words[:-1]


def test_windows_cover_the_word_stream():
    vectorizer = adapted()
    x, y, w = (keras.ops.convert_to_numpy(t) for t in vectorizer.windows(LINES, 6))
    words = " ".join(LINES).split()
    assert vectorizer.detokenize(y[w > 0]) == words[1:]
    assert vectorizer.detokenize(x[w > 0]) == words[:-1]
    assert w[:-1].all()  # only the last row is padded


def test_line_and_prefix_modes_give_the_same_loss():
    vectorizer = adapted()
    keras.utils.set_random_seed(0)
    model = NextWordLSTM(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    line, prefix = (
        model.evaluate(text_dataset(LINES, vectorizer, 1000, mode), return_dict=True, verbose=0)
        for mode in ("line", "prefix")
    )
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


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="mode"):
        text_dataset(LINES, adapted(), 4, "sentences")
