"""Reading text files, splitting held-out lines, and `tf.data` pipelines of n-grams."""

import os

import numpy as np
import tensorflow as tf


def read_lines(path):
    """Reads a UTF-8 text file as lines, with universal newlines (CRLF or LF).

    Args:
        path: path of a text file.

    Returns:
        A list of str, one per line, line breaks removed.

    Example:
    >>> from keras_nextword import datasets
    >>> lines = read_lines(datasets.load_final_problem())
    >>> lines[5].strip()
    'THE FINAL PROBLEM'
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such corpus file: {path!r}")
    with open(path, encoding="utf-8", newline=None) as f:
        return f.read().split("\n")


def split_lines(lines, validation_split):
    """Splits the non-blank lines into training lines and the last ones, held out.

    Holding out the *last* lines (not a random sample) keeps neighbouring
    prefixes of one line, and neighbouring lines of one passage, on one side.

    Args:
        lines: list of str.
        validation_split: float in [0, 1), the share of non-blank lines held out.

    Returns:
        `(train_lines, validation_lines)`, two lists of str.

    Example:
    >>> split_lines(["a b", "", "c d", "e f", "g h"], 0.25)
    (['a b', 'c d', 'e f'], ['g h'])
    """
    lines = [line for line in lines if line.strip()]
    cut = _cut(len(lines), validation_split)
    return lines[:cut], lines[cut:]


def _cut(count, validation_split):
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    return count - int(round(count * validation_split))


def stream_lines(paths):
    """Streams the non-blank lines of text files.

    The files are read by `tf.data.TextLineDataset` on every pass (LF or CRLF
    line ends), so memory does not grow with their size; one pass counts the
    lines.

    Args:
        paths: a path or a list of paths of UTF-8 text files, read in order.

    Returns:
        `(lines, count)`: a `tf.data.Dataset` of scalar strings, and its length.

    Example:
    >>> from keras_nextword import datasets
    >>> lines, count = stream_lines(datasets.load_final_problem())
    >>> count
    655
    """
    paths = [os.fspath(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such corpus file: {path!r}")
    lines = tf.data.TextLineDataset(paths).filter(
        lambda line: tf.strings.length(tf.strings.strip(line)) > 0
    )
    return lines, int(lines.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def split_dataset(lines, count, validation_split):
    """`split_lines` for a `tf.data.Dataset` of `count` non-blank lines.

    Args:
        lines: a `tf.data.Dataset` of scalar strings.
        count: int, its number of lines.
        validation_split: float in [0, 1), the share of lines held out.

    Returns:
        `(train_lines, validation_lines, (train_count, validation_count))`.

    Example:
    >>> train, held_out, counts = split_dataset(*stream_lines(datasets.load_final_problem()), 0.1)
    >>> counts
    (589, 66)
    """
    cut = _cut(count, validation_split)
    return lines.take(cut), lines.skip(cut), (cut, count - cut)


def is_text(x):
    """True when `x` holds raw strings (a str, a list or array of str, a string
    `tf.Tensor`, or a `tf.data.Dataset` of strings) rather than token ids."""
    if isinstance(x, str):
        return True
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        return isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
    if isinstance(x, tf.Tensor):
        return x.dtype == tf.string
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO"
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and isinstance(x[0], str)
    return False


MODES = ("window", "line", "prefix")


def text_dataset(
    lines, preprocessor, batch_size=32, mode="line", window_length=20, shuffle=False, seed=None
):
    """A `tf.data` pipeline of `(inputs, targets, sample_weight)` batches from lines.

    Lines are preprocessed in batches inside `tf.data`, so no layout of the
    whole corpus ever exists at once. Every layout gives next-word targets at
    each position and weight 0 on padding, for a model with one output per
    position:

    - `"line"`: one post-padded row per line (`preprocessor.sequences`); each
      word after the first of its line is predicted once, from the words
      before it in the line: the tutorial's predictions in one LSTM pass.
    - `"window"`: the running word stream in rows of `window_length`
      (`preprocessor.windows`); context crosses line breaks, rows carry no
      padding. Lines are not shuffled (that would cut the stream), rows are.
    - `"prefix"`: the tutorial's pre-padded prefix n-grams (`preprocessor(...)`),
      only the last position weighted: the same objective as `"line"` at up
      to `sequence_length` times the LSTM work.

    Args:
        lines: str, list of str, or a `tf.data.Dataset` of str (one line each).
        preprocessor: an adapted `NGramVectorizer`.
        batch_size: rows per batch.
        mode: `"line"`, `"window"` or `"prefix"`.
        window_length: positions per row in `"window"` mode.
        shuffle: whether this is training data: shuffled, and preprocessed with
            `training=True` (word dropout), or evaluation data, kept in order.
        seed: shuffle seed, for reproducible order.

    Returns:
        A batched, prefetched `tf.data.Dataset`.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
    if isinstance(lines, tf.data.Dataset):
        dataset = lines.unbatch() if lines.element_spec.shape.rank else lines
    else:
        lines = [lines] if isinstance(lines, str) else list(lines)
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, tf.string))
    if shuffle and mode != "window":
        dataset = dataset.shuffle(16_384, seed=seed, reshuffle_each_iteration=True)

    def layout(batch):
        if mode == "line":
            return preprocessor.sequences(batch, training=shuffle)
        if mode == "window":
            return preprocessor.windows(batch, window_length, training=shuffle)
        inputs, targets = preprocessor(batch, training=shuffle)
        # Targets at every position (the next input id), weighted at the last only.
        targets = tf.concat([inputs[:, 1:], targets[:, None]], axis=1)
        weights = tf.one_hot(
            tf.fill(tf.shape(inputs)[:1], tf.shape(inputs)[1] - 1), tf.shape(inputs)[1]
        )
        return inputs, targets, weights

    # Window rows span the lines of one map call: bigger calls cut the stream less often.
    dataset = dataset.batch(4_096 if mode == "window" else 256)
    dataset = dataset.map(layout, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if shuffle:
        dataset = dataset.shuffle(16_384, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
