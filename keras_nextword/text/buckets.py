"""Line rows grouped by length, so that few positions are padding.

One row per line, post-padded to the longest line's width, is mostly padding
on a corpus of lines of mixed lengths: 39% of The Final Problem's training
positions, 58% of tiny Shakespeare's, 66% of WikiText-2 cut into sentences
(`benchmarks/suite.py`). `plan` chooses, from the number of lines of each
length that `adapt` counted, a few row widths (each compiles its own training
step) and, for each, the rows per batch that hold as many real positions as
`batch_size` rows do on average, so that a step's words weigh alike whatever
their line's length, and an epoch keeps about the same number of steps.
`by_plan` batches rows so in `tf.data`. A row's predictions, and so the loss,
do not depend on its width: padding comes after them.
"""

import math

from keras_nextword.runtime.environment import tf

MOST_WIDTHS = 12
TARGET_SHARE = 0.08
STEPS_PER_WIDTH = 16  # an epoch's steps for each width, at least: each compiles


def row_lengths(line_lengths, length):
    """The rows `layouts.rows` makes of lines: `{predictions: rows}`.

    Args:
        line_lengths: dict, `{words: lines}`.
        length: int, positions per row; a longer line takes several rows.

    Returns:
        dict.

    Example:
    >>> row_lengths({1: 4, 3: 2, 7: 1}, 4)
    {2: 3, 4: 1}
    """
    rows = {}
    for words, lines in line_lengths.items():
        full, rest = divmod(max(words - 1, 0), length)
        for size, count in ((length, full * lines), (rest, lines)):
            if size and count:
                rows[size] = rows.get(size, 0) + count
    return dict(sorted(rows.items()))


def _widths(rows, most):
    """For each count of widths `1..most`, the widths that pad `rows` least,
    the widest being the longest row: a list of tuples."""
    top = max(rows)
    count, real = [0] * (top + 1), [0] * (top + 1)  # rows and positions up to a length
    for n in range(1, top + 1):
        count[n] = count[n - 1] + rows.get(n, 0)
        real[n] = real[n - 1] + n * rows.get(n, 0)

    def padding(low, high):  # rows longer than `low`, up to `high`, at width `high`
        return high * (count[high] - count[low]) - (real[high] - real[low])

    best, found = {0: (0, ())}, []  # best[w]: the least padding up to w, its widths
    for _ in range(most):
        best = {
            w: min(
                (c + padding(low, w), widths + (w,)) for low, (c, widths) in best.items() if low < w
            )
            for w in range(1, top + 1)
            if any(low < w for low in best)
        }
        if top in best:
            found.append(best[top][1])
    return found


def plan(line_lengths, batch_size, length, most=MOST_WIDTHS, target=TARGET_SHARE):
    """Row widths and rows per batch for lines of these lengths.

    The fewest widths (at most `most`, and at most one per `STEPS_PER_WIDTH`
    steps of an epoch) whose padded share, `estimate`d, is at most `target`;
    if none reaches it, those of the least. Each width's rows per batch hold
    as many real positions as `batch_size` rows hold on average.

    Args:
        line_lengths: dict, `{words: lines}` (`WordTokenizer.line_lengths`).
        batch_size: int, rows per batch of one row per line.
        length: int, positions per row (the preprocessor's `sequence_length`).
        most: int, the most widths.
        target: float, the padded share to reach.

    Returns:
        A list of `(width, rows)`, narrowest first; empty without a line of
        two or more words.

    Example:
    >>> plan({2: 3000, 9: 3000}, batch_size=32, length=8)
    [(1, 144), (8, 18)]
    >>> plan({2: 300, 9: 300}, batch_size=32, length=8)  # 19 steps an epoch: one width
    [(8, 32)]
    """
    rows = row_lengths(line_lengths, length)
    if not rows:
        return []
    positions = sum(n * r for n, r in rows.items())
    per_batch = batch_size * positions / sum(rows.values())
    steps = math.ceil(sum(rows.values()) / batch_size)
    most = max(1, min(most, steps // STEPS_PER_WIDTH))
    plans = []
    for widths in _widths(rows, most):
        chosen, low = [], 0
        for width in widths:
            inside = {n: r for n, r in rows.items() if low < n <= width}
            real = sum(n * r for n, r in inside.items())
            chosen.append((width, max(1, round(per_batch * sum(inside.values()) / real))))
            low = width
        plans.append(chosen)
        if estimate(chosen, rows) <= target:
            return chosen
    return min(plans, key=lambda chosen: estimate(chosen, rows))


def estimate(chosen, rows):
    """The padded share of a pass over `rows` (`{predictions: rows}`) batched
    as `chosen` (`plan`'s), each width's last batch filled with empty rows.

    Example:
    >>> round(estimate([(1, 147), (8, 18)], {1: 300, 8: 300}), 3)
    0.065
    """
    total, low = 0, 0
    for width, size in chosen:
        inside = sum(r for n, r in rows.items() if low < n <= width)
        total += math.ceil(inside / size) * size * width
        low = width
    return 1 - sum(n * r for n, r in rows.items()) / total


def batches(chosen, line_lengths, length):
    """The batches a pass makes of lines batched as `chosen`.

    Example:
    >>> batches([(1, 147), (8, 18)], {2: 300, 9: 300}, 8)
    20
    """
    rows, low, count = row_lengths(line_lengths, length), 0, 0
    for width, size in chosen:
        count += math.ceil(sum(r for n, r in rows.items() if low < n <= width) / size)
        low = width
    return count


def by_plan(line_rows, chosen):
    """Batches line rows as `chosen` (`plan`'s): each row with the narrowest
    width that holds its predictions, that width's rows per batch, the last
    batch of each width filled with rows of weight 0.

    Args:
        line_rows: a `tf.data.Dataset` of `(inputs, targets, sample_weight)`
            rows, post-padded, as wide as the widest width or wider.
        chosen: a list of `(width, rows)`.

    Returns:
        A `tf.data.Dataset` of batches.

    Example:
    >>> rows = tf.data.Dataset.from_tensor_slices(([[2, 0], [2, 3]], [[3, 0], [3, 4]], [[1.0, 0], [1, 1]]))
    >>> [tuple(x.shape) for x, y, w in by_plan(rows, [(1, 3), (2, 1)])]
    [(1, 2), (3, 1)]
    """
    widths = tf.constant([w for w, _ in chosen], tf.int32)
    sizes = tf.constant([r for _, r in chosen], tf.int32)

    def length(x, y, w):
        return tf.cast(tf.reduce_sum(w), tf.int32)

    def cut(x, y, w):
        longest = tf.cast(tf.reduce_max(tf.reduce_sum(w, axis=1)), tf.int32)
        which = tf.searchsorted(widths, longest[None])[0]
        padding = [[0, sizes[which] - tf.shape(x)[0]], [0, 0]]
        return tuple(tf.pad(t[:, : widths[which]], padding) for t in (x, y, w))

    return line_rows.bucket_by_sequence_length(
        length, [w + 1 for w, _ in chosen[:-1]], [r for _, r in chosen]
    ).map(tf.autograph.experimental.do_not_convert(cut), num_parallel_calls=tf.data.AUTOTUNE)


def by_length(line_rows, batch_size, step=4):
    """Batches line rows of similar length, cut to the longest one's length
    rounded up to `step`; a bucket's last, short batch is filled with rows of
    weight 0, so shapes stay few (one compiled step each).

    Args:
        line_rows: a `tf.data.Dataset` of `(inputs, targets, sample_weight)`
            rows of one width.
        batch_size: rows per batch.
        step: int, widths are multiples of it.

    Returns:
        A `tf.data.Dataset` of batches.

    Example:
    >>> rows = tf.data.Dataset.from_tensor_slices(([[2, 0], [2, 3]], [[3, 0], [3, 4]], [[1.0, 0], [1, 1]]))
    >>> [tuple(x.shape) for x, y, w in by_length(rows, 2, step=1)]
    [(2, 1), (2, 2)]
    """

    def length(x, y, w):
        return tf.cast(tf.reduce_sum(w), tf.int32)

    width = line_rows.element_spec[0].shape[0]
    boundaries = list(range(step + 1, width + 1, step))

    def cut(x, y, w):
        keep = -(-tf.cast(tf.reduce_max(tf.reduce_sum(w, axis=1)), tf.int32) // step) * step
        return fill([t[:, :keep] for t in (x, y, w)], batch_size)

    return line_rows.bucket_by_sequence_length(
        length, boundaries, [batch_size] * (len(boundaries) + 1)
    ).map(tf.autograph.experimental.do_not_convert(cut), num_parallel_calls=tf.data.AUTOTUNE)


def fill(batch, batch_size):
    """Pads a short batch (an epoch's last) to `batch_size` rows of weight 0.

    Args:
        batch: a tuple of 2-D tensors.
        batch_size: int, the rows to reach.

    Returns:
        A tuple of `(batch_size, width)` tensors.

    Example:
    >>> [tuple(t.shape) for t in fill((tf.ones([1, 3]),), 4)]
    [(4, 3)]
    """
    padding = [[0, batch_size - tf.shape(batch[0])[0]], [0, 0]]
    return tuple(tf.ensure_shape(tf.pad(t, padding), [batch_size, t.shape[1]]) for t in batch)


def padded_share(dataset):
    """The share of positions of weight 0 in a pass over `dataset`'s batches of
    `(inputs, targets, sample_weight)`: padding and rows filling a batch, work
    that trains nothing.

    Args:
        dataset: a finite `tf.data.Dataset` of batches.

    Returns:
        float in [0, 1].

    Example:
    >>> from keras_nextword import NGramVectorizer
    >>> from keras_nextword.text import pipeline
    >>> vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "b"], sequence_length=4)
    >>> padded_share(pipeline.text_dataset(["a b a b", "a b"], vectorizer, batch_size=2))
    0.5
    """
    total, real = dataset.reduce(
        (tf.constant(0.0), tf.constant(0.0)),
        tf.autograph.experimental.do_not_convert(
            lambda sums, batch: (
                sums[0] + tf.cast(tf.size(batch[2]), tf.float32),
                sums[1] + tf.reduce_sum(batch[2]),
            )
        ),
    )
    return 1.0 - float(real) / float(total) if float(total) else 0.0
