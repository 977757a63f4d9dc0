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
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    lines = [line for line in lines if line.strip()]
    held_out = int(round(len(lines) * validation_split))
    cut = len(lines) - held_out
    return lines[:cut], lines[cut:]


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


def text_dataset(lines, preprocessor, batch_size=32, shuffle=False, seed=None):
    """A `tf.data` pipeline of `(inputs, targets)` batches from lines of text.

    Lines are preprocessed in batches inside `tf.data` (`preprocessor` maps a
    batch of lines to n-grams), so n-grams never exist for the whole corpus at
    once. With `shuffle`, lines are shuffled each epoch and then the n-grams
    within a window of 4,096.

    Args:
        lines: str, list of str, or a `tf.data.Dataset` of str (one line each).
        preprocessor: an `NGramVectorizer`: it maps a batch of lines to
            `(inputs, targets)`, and counts the examples of in-memory lines so
            that Keras knows the number of steps per epoch.
        batch_size: examples per batch.
        shuffle: whether this is training data: shuffled, and preprocessed with
            `training=True` (word dropout), or evaluation data, kept as it is.
        seed: shuffle seed, for reproducible order.

    Returns:
        A batched, prefetched `tf.data.Dataset` of `(inputs, targets)`.
    """
    if isinstance(lines, tf.data.Dataset):
        dataset = lines.unbatch() if lines.element_spec.shape.rank else lines
        buffer, num_examples = 65_536, None
    else:
        lines = [lines] if isinstance(lines, str) else list(lines)
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, tf.string))
        buffer = max(len(lines), 1)
        num_examples = preprocessor.count_examples(lines)
    if shuffle:
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(256).map(
        lambda batch: preprocessor(batch, training=shuffle), num_parallel_calls=tf.data.AUTOTUNE
    )
    dataset = dataset.unbatch()
    if shuffle:
        dataset = dataset.shuffle(4_096, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if num_examples is not None:
        # Known length: Keras shows a full progress bar from the first epoch.
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(-(-num_examples // batch_size))
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
