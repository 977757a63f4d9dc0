"""Short lines packed into rows, so that few positions are padding.

Grouping rows by length (`buckets`) cannot help a corpus whose epoch has few
steps: each width compiles its own step and fills its last batch with empty
rows. The Final Problem's lines of about 10 words pad 39% of its rows of 16.
Packing puts several lines in one row instead, one after another, best fit
decreasing: lines of 12 predictions pair in rows of 24. Each line's first id
is negated, and a backbone with `line_starts` restarts the LSTM state there,
so each word is predicted from the words before it in its own line, as in a
row of its own. A pass packs all its lines at once (up to `GROUP`), so the
rows of a pass depend only on the lines' lengths: `plan` counts them.
"""

import functools
import math

import numpy as np

from keras_nextword.runtime.environment import tf
from keras_nextword.text import buckets, layouts

GROUP = 4_096  # lines packed together: every line of a pass, for corpora worth packing


def best_fit(sizes, width):
    """Best fit decreasing: each item's row and offset in rows of `width`.

    Items go longest first (ties in their given order), each into the row
    with the least room that holds it, or a new row.

    Args:
        sizes: 1-D ints, each at most `width`.
        width: int, positions per row.

    Returns:
        `(row, offset)`, int64 arrays aligned with `sizes`.

    Example:
    >>> row, offset = best_fit([3, 5, 2, 4], 7)
    >>> row.tolist(), offset.tolist()
    ([1, 0, 0, 1], [4, 0, 5, 0])
    """
    sizes = np.asarray(sizes, np.int64)
    width = int(width)
    row, offset = np.zeros(len(sizes), np.int64), np.zeros(len(sizes), np.int64)
    open_rows = [[] for _ in range(width + 1)]  # rows by the room left in them
    rooms = np.zeros(width + 1, np.int64)  # how many rows have each room
    count = 0
    for item in np.argsort(-sizes, kind="stable"):
        size = int(sizes[item])
        fits = np.flatnonzero(rooms[size:])
        if len(fits):
            room = size + int(fits[0])
            row[item] = open_rows[room].pop()
            rooms[room] -= 1
        else:
            room, row[item], count = width, count, count + 1
        offset[item] = width - room
        open_rows[room - size].append(row[item])
        rooms[room - size] += 1
    return row, offset


def plan(rows, batch_size, target=buckets.TARGET_SHARE):
    """The row width and rows per batch to pack rows of these lengths.

    Widths from the longest row up to twice it, narrowest first: the first
    whose padded share (packing's and the last batch's empty rows) is at most
    `target`, else the one of the least. The rows per batch hold as many real
    positions as `batch_size` rows of one line each do on average.

    Args:
        rows: dict, `{predictions: rows}` (`buckets.row_lengths`).
        batch_size: int, rows per batch of one row per line.
        target: float, the padded share to reach.

    Returns:
        `(width, rows_per_batch, packed_rows, padded_share)`.

    Example:
    >>> plan({10: 40, 6: 40}, batch_size=8)  # at width 10: 20% padding
    (16, 4, 40, 0.0)
    """
    sizes = np.repeat(list(rows), list(rows.values()))
    positions, longest = int(sizes.sum()), int(sizes.max())
    per_batch = batch_size * positions / len(sizes)
    best = None
    for width in range(longest, 2 * longest + 1):
        count = int(best_fit(sizes, width)[0].max()) + 1
        size = max(1, round(per_batch * count / positions))
        share = 1 - positions / (math.ceil(count / size) * size * width)
        if best is None or share < best[3]:
            best = (width, size, count, share)
        if share <= target:
            break
    return best


def plan_lines(line_lengths, batch_size, length):
    """`plan` for lines of these lengths cut into rows of at most `length`
    predictions (`buckets.row_lengths`), kept for the next call.

    Args:
        line_lengths: dict, `{words: lines}` (`WordTokenizer.line_lengths`).
        batch_size: int, rows per batch of one row per line.
        length: int, the most predictions of a row (`sequence_length`).

    Returns:
        `plan`'s tuple.

    Raises:
        ValueError: no line has two words or more.

    Example:
    >>> plan_lines({11: 40, 7: 40}, batch_size=8, length=10)
    (16, 4, 40, 0.0)
    """
    return _plan_lines(tuple(sorted(line_lengths.items())), batch_size, length)


@functools.lru_cache(maxsize=8)
def _plan_lines(line_lengths, batch_size, length):
    rows = buckets.row_lengths(dict(line_lengths), length)
    if not rows:
        raise ValueError("Nothing to pack: no line has two words or more.")
    return plan(rows, batch_size)


def worth_packing(line_lengths, batch_size, length, lines):
    """Whether to pack training lines rather than group them by length.

    Packing pays where grouping (`buckets.plan`) leaves more than
    `buckets.TARGET_SHARE` of the positions padded, a pass holds at most
    `GROUP` lines (so `plan` counts its rows) and packing pads less.

    Args:
        line_lengths: dict, `{words: lines}` of the training lines.
        batch_size: int, rows per batch of one row per line.
        length: int, the most predictions of a row (`sequence_length`).
        lines: int, the training lines.

    Returns:
        `(pack, reason)`: a bool, and a printable line (None when not packing).

    Example:
    >>> pack, reason = worth_packing({11: 40, 7: 40}, batch_size=8, length=10, lines=80)
    >>> pack, reason
    (True, '80 training lines, 20% padded in rows of one line: 4 rows of 16 a step, the lines packed (0% padded)')
    """
    rows = buckets.row_lengths(line_lengths, length)
    if not rows or lines > GROUP:
        return False, None
    grouped = buckets.estimate(buckets.plan(line_lengths, batch_size, length), rows)
    if grouped <= buckets.TARGET_SHARE:
        return False, None
    width, size, _, share = plan_lines(line_lengths, batch_size, length)
    if share >= grouped:
        return False, None
    return True, (
        f"{lines:,} training lines, {grouped:.0%} padded in rows of one line: {size} rows of "
        f"{width} a step, the lines packed ({share:.0%} padded)"
    )


def packed_rows(flat, starts, lengths, length, width):
    """Lines' words packed into rows of `width`, each segment's first id negated.

    Each line is cut as `layouts.rows` cuts it (segments of at most `length`
    predictions, a longer line going on in the next segment with its context
    restarting), and the segments are packed `best_fit`.

    Args:
        flat: int ids, shape `(words,)`.
        starts, lengths: each line's start in `flat` and its length.
        length: int, the most predictions of a segment.
        width: int, positions per row, at least `length`.

    Returns:
        `(inputs, targets, sample_weight)`, each `(rows, width)`, post-padded.

    Example:
    >>> x, y, w = packed_rows(tf.constant([2, 3, 4, 4, 2]), [0, 3], [3, 2], 3, 3)
    >>> x.numpy().tolist(), y.numpy().tolist()
    ([[-2, 3, -4]], [[3, 4, 2]])
    """
    segment_starts, segment_sizes = layouts.segments(starts, lengths, length)
    row, offset = tf.numpy_function(
        best_fit, [segment_sizes, width], [tf.int64, tf.int64], stateful=False
    )
    step = tf.ragged.range(segment_sizes)
    which = step.value_rowids()
    step = tf.cast(step.flat_values, tf.int64)
    source = tf.gather(tf.cast(segment_starts, tf.int64), which) + step
    where = tf.stack([tf.gather(row, which), tf.gather(offset, which) + step], axis=1)
    shape = tf.stack([tf.reduce_max(tf.concat([row, [-1]], 0)) + 1, width])
    words = tf.gather(flat, source)
    inputs = tf.where(step == 0, -words, words)
    targets = tf.gather(flat, source + 1)
    weights = tf.ones_like(step, tf.float32)
    return tuple(tf.scatter_nd(where, t, shape) for t in (inputs, targets, weights))
