"""Row layouts of lines' word ids: the rows a batch of lines makes.

`pipeline.word_ids` gives a batch of lines as one flat vector of ids with
each line's start and length; these functions lay them out as
`(inputs, targets, sample_weight)` rows, post-padded with id 0 and weighted 0
there, every word predicted from words before it in its line only.
`packing.packed_rows` is the layout of several lines a row.
"""

from keras_nextword.runtime.environment import tf
from keras_nextword.text.ngram_vectorizer import PAD_ID


def rows(flat, starts, lengths, length):
    """Cuts segments of `flat` into rows of `length` next-word predictions.

    A segment of `n` words gives `n - 1` predictions; a longer one goes on in
    the next row (its context restarting there). No row crosses a segment.

    Args:
        flat: int ids, shape `(words,)`.
        starts, lengths: each segment's start in `flat` and its length.
        length: int, positions per row.

    Returns:
        `(inputs, targets, sample_weight)`, each `(rows, length)`, post-padded.

    Example:
    >>> x, y, w = rows(tf.constant([2, 3, 4, 4, 2]), [0, 3], [3, 2], 3)
    >>> x.numpy().tolist(), y.numpy().tolist()
    ([[2, 3, 0], [4, 0, 0]], [[3, 4, 0], [2, 0, 0]])
    """
    segment_starts, count = segments(starts, lengths, length)
    position = segment_starts[:, None] + tf.range(length)[None, :]
    real = tf.range(length)[None, :] < count[:, None]
    inputs = tf.where(real, tf.gather(flat, tf.where(real, position, 0)), PAD_ID)
    targets = tf.where(real, tf.gather(flat, tf.where(real, position + 1, 0)), PAD_ID)
    return inputs, targets, tf.cast(real, "float32")


def prefix_rows(flat, starts, lengths, length):
    """The tutorial's prefix n-grams, post-padded, the target at the last real position.

    Every word after the first of its line is a target; its context is the up
    to `length` words before it in its line. The same predictions as `rows`,
    each with its own LSTM pass (the tutorial's cost).

    Args:
        flat, starts, lengths: as `rows`.
        length: int, the longest context.

    Returns:
        `(inputs, targets, sample_weight)`, each `(predictions, length)`:
        targets at every real position, weight 1 at the last one only.

    Example:
    >>> x, y, w = prefix_rows(tf.constant([2, 3, 4]), [0], [3], 2)
    >>> x.numpy().tolist(), y.numpy().tolist(), w.numpy().tolist()
    ([[2, 0], [2, 3]], [[3, 0], [3, 4]], [[1.0, 0.0], [0.0, 1.0]])
    """
    starts = tf.cast(starts, tf.int32)
    line_start = tf.repeat(starts, tf.cast(lengths, tf.int32))
    position = tf.range(tf.shape(flat)[0])
    is_target = position > line_start
    target = tf.boolean_mask(position, is_target)
    context = tf.minimum(target - tf.boolean_mask(line_start, is_target), length)
    offsets = tf.range(length)[None, :]
    source = (target - context)[:, None] + offsets
    real = offsets < context[:, None]
    inputs = tf.where(real, tf.gather(flat, tf.where(real, source, 0)), PAD_ID)
    targets = tf.where(real, tf.gather(flat, tf.where(real, source + 1, 0)), PAD_ID)
    weights = tf.one_hot(context - 1, length)
    return inputs, targets, weights


def segments(starts, lengths, length):
    """Lines cut into segments of at most `length` predictions: each segment's
    start and predictions (lines of one word give none).

    Example:
    >>> start, size = segments([0, 9, 12], [9, 1, 3], 4)
    >>> start.numpy().tolist(), size.numpy().tolist()
    ([0, 4, 12], [4, 4, 2])
    """
    starts, lengths = tf.cast(starts, tf.int32), tf.cast(lengths, tf.int32)
    predictions = tf.maximum(lengths - 1, 0)
    count = (predictions + length - 1) // length
    line = tf.repeat(tf.range(tf.size(count)), count)
    offset = (tf.range(tf.size(line)) - tf.gather(tf.cumsum(count, exclusive=True), line)) * length
    size = tf.minimum(tf.gather(predictions, line) - offset, length)
    return tf.gather(starts, line) + offset, size
