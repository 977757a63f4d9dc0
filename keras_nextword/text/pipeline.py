"""`tf.data` pipelines of training rows: layouts, word dropout, batching.

Lines go in, `(token_ids, targets, sample_weight)` batches come out, built
inside `tf.data` in batches of lines, so no layout of the whole corpus ever
exists at once. Every row is post-padded with id 0 and weighted 0 there, so a
model's LSTM needs no mask (Keras uses cuDNN only without one), and every
layout predicts each word from words before it only.

Randomness (shuffles, word dropout) is seeded and stateless: the same `seed`
gives the same batches, in one process or another.
"""

import collections

from keras_nextword.runtime.environment import tf
from keras_nextword.text import buckets, layouts, packing
from keras_nextword.text.ngram_vectorizer import OOV_ID

MODES = ("window", "line", "prefix")


def _plain(function):
    """`function` for `tf.data` to trace as written: the layouts branch on Python
    values only, so autograph's conversion of them (about 1 s for `from_text`'s
    two pipelines in a profile, not a benchmark) buys nothing."""
    return tf.autograph.experimental.do_not_convert(function)


def word_ids(preprocessor, text, training=False, seed=None):
    """Word ids of lines as one flat vector, with each line's start and length.

    With `training` and the preprocessor's `word_dropout`, each occurrence of
    a word seen `n` times in `adapt()` becomes `[UNK]` with probability
    `1 / (1 + n)`, so that a model learns how much mass unseen words deserve.
    The draw is stateless: `seed`, a shape-`[2]` int tensor, fixes it (None
    draws a fresh one).

    Args:
        preprocessor: a model's preprocessor (a `NextWordLSTMCausalLMPreprocessor`,
            or an `NGramVectorizer`).
        text: a string or a 1-D batch of strings.
        training: bool, apply word dropout.
        seed: None or a `[2]` int32/int64 tensor.

    Returns:
        `(flat, row_starts, row_lengths)`, int tensors.

    Example:
    >>> from keras_nextword import NGramVectorizer
    >>> vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "b"])
    >>> flat, starts, lengths = word_ids(vectorizer, ["a b", "b"])
    >>> flat.numpy().tolist(), starts.numpy().tolist(), lengths.numpy().tolist()
    ([2, 3, 3], [0, 2], [2, 1])
    """
    ids = preprocessor.tokenize(text)
    flat = ids.flat_values
    if training and preprocessor.word_dropout:
        counts = tf.constant(preprocessor.word_counts, tf.float32)
        unk_probability = tf.gather(tf.where(counts > 0, 1.0 / (1.0 + counts), 0.0), flat)
        if seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
        draw = tf.random.stateless_uniform(tf.shape(flat), seed=tf.cast(seed, tf.int64))
        flat = tf.where(draw < unk_probability, OOV_ID, flat)
    return flat, ids.row_starts(), ids.row_lengths()


def layout(
    preprocessor, text, mode="line", window_length=20, training=False, seed=None, pack_width=None
):
    """One batch of lines in a training layout; see `text_dataset`.

    Args:
        preprocessor: a model's preprocessor (a `NextWordLSTMCausalLMPreprocessor`,
            or an `NGramVectorizer`).
        text: a 1-D batch of strings (lines).
        mode: `"line"`, `"window"` or `"prefix"`.
        window_length: positions per row in `"window"` mode.
        training: bool, apply word dropout.
        seed: None or a `[2]` int tensor for word dropout.
        pack_width: None, or in `"line"` mode the width of rows the lines
            are packed in (`packing.packed_rows`).

    Returns:
        `(inputs, targets, sample_weight)` rows.

    Example:
    >>> from keras_nextword import NGramVectorizer
    >>> vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "b", "c"])
    >>> x, y, w = layout(vectorizer, ["a b c", "c a"], "window", window_length=2)
    >>> x.numpy().tolist(), y.numpy().tolist()
    ([[2, 3], [4, 4]], [[3, 4], [4, 2]])
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
    flat, starts, lengths = word_ids(preprocessor, text, training, seed)
    if mode == "window":
        return layouts.rows(flat, tf.zeros([1], tf.int32), tf.shape(flat)[:1], window_length)
    if mode == "line" and pack_width:
        return packing.packed_rows(flat, starts, lengths, preprocessor.sequence_length, pack_width)
    if mode == "line":
        return layouts.rows(flat, starts, lengths, preprocessor.sequence_length)
    return layouts.prefix_rows(flat, starts, lengths, preprocessor.sequence_length)


def text_dataset(
    lines,
    preprocessor,
    batch_size=32,
    mode="line",
    window_length=20,
    bucket=False,
    shuffle=False,
    training=None,
    seed=None,
    cache=False,
    line_lengths=None,
):
    """A `tf.data` pipeline of `(inputs, targets, sample_weight)` batches from lines.

    Every layout gives next-word targets at each position and weight 0 on
    padding, for a model with one output per position:

    - `"line"`: one post-padded row per line; each word after the first of
      its line is predicted once, from the words before it in the line: the
      tutorial's predictions in one LSTM pass.
    - `"window"`: the running word stream in rows of `window_length`; context
      crosses line breaks, rows carry no padding. Lines are not shuffled (that
      would cut the stream), rows are.
    - `"prefix"`: the tutorial's prefix n-grams, one row each, post-padded,
      only the last real position weighted: the same objective as `"line"` at
      up to `sequence_length` times the LSTM work.

    Every batch is filled to `batch_size` rows with weight-0 rows, so a train
    step compiles once and splits evenly across devices.

    Args:
        lines: str, list of str, or a `tf.data.Dataset` of str (one line each).
        preprocessor: a model's preprocessor (a `NextWordLSTMCausalLMPreprocessor`,
            or an `NGramVectorizer`).
        batch_size: rows per batch.
        mode: `"line"`, `"window"` or `"prefix"`.
        window_length: positions per row in `"window"` mode.
        bucket: in `"line"` mode, `"auto"` batches rows by length in the
            widths `buckets.plan` chooses from the lines' lengths
            (`line_lengths`), each width with the rows per batch
            that hold as many real positions as `batch_size` rows do on
            average: few padded positions, and each word weighs alike in the
            mean loss. True batches `batch_size` rows of similar length, each
            batch cut to its longest row: a short line's words then weigh more
            in the mean loss of their batch, which measured worse on held-out
            lines. `"pack"` packs the lines of a pass (up to
            `packing.GROUP` at once) into rows of the width `packing.plan`
            chooses from their lengths, each line's first id negated, for a
            backbone with `line_starts`. False, or either without lengths:
            `batch_size` rows as they come.
        shuffle: bool, shuffle lines and rows (reshuffled every pass).
        training: bool, apply word dropout; None for `shuffle`'s value.
        seed: int or None: the shuffles and the word dropout draws.
        cache: bool, keep the batches in memory (`tf.data.Dataset.cache`),
            for lines scored again and again. Lines in memory, without
            `training`, are then laid out at once, eagerly.
        line_lengths: dict, `{words: lines}` of `lines`, that the `"auto"` and
            `"pack"` batches are planned on (`batches_per_pass` counts their
            batches from the same), or None: those of lines in memory are
            counted, those of a dataset are the ones the preprocessor's
            `adapt` counted (none in a loaded preprocessor).

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Example:
    >>> from keras_nextword import NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> x, y, w = next(iter(text_dataset(["a heavy heart"], vectorizer, batch_size=2)))
    >>> x.numpy().tolist(), w.numpy().tolist()
    ([[3, 5], [0, 0]], [[1.0, 1.0], [0.0, 0.0]])
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
    training = shuffle if training is None else training
    in_memory = not isinstance(lines, tf.data.Dataset)
    if in_memory:
        lines = [lines] if isinstance(lines, str) else list(lines)
    planned = _plans(in_memory and lines, preprocessor, batch_size, mode, bucket, line_lengths)
    if cache and in_memory and not training and lines:
        # Rows to keep: laid out once, eagerly, with no function to trace and no
        # pass to count them (both were part of `from_text`'s startup).
        return _kept(lines, preprocessor, batch_size, mode, window_length, planned, shuffle, seed)
    if in_memory:
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, tf.string))
    else:
        dataset = lines.unbatch() if lines.element_spec.shape.rank else lines
    if shuffle and mode != "window":
        dataset = dataset.shuffle(16_384, seed=seed, reshuffle_each_iteration=True)
    packed = planned[0]
    dataset = dataset.batch(_group(mode, packed))
    if training:
        # One stateless seed per batch of lines, new ones on every pass.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds)
    else:
        dataset = dataset.map(_plain(lambda batch: (batch, tf.zeros([2], tf.int64))))

    width = packed and packed[0]

    def lay_out(batch, batch_seed):
        return layout(preprocessor, batch, mode, window_length, training, batch_seed, width)

    dataset = dataset.map(_plain(lay_out), num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    return _batched(dataset, batch_size, planned, shuffle, seed, cache, count=in_memory)


def _plans(lines, preprocessor, batch_size, mode, bucket, line_lengths):
    """How `_batched` batches rows, `(packed, chosen, by_length)`: `packing.plan_lines`'
    plan where packed, `buckets.plan`'s where grouped, from `line_lengths`, or
    else the lengths of `lines` (in memory; else falsy), or else those the
    preprocessor adapted on; rows as they come without lengths."""
    if mode != "line" or bucket not in ("auto", "pack"):
        return None, None, mode == "line" and bucket is True
    lengths = line_lengths
    if lengths is None and lines:
        counted = preprocessor.tokenize(tf.constant(lines, tf.string)).row_lengths()
        lengths = collections.Counter(counted.numpy().tolist())
    if lengths is None:
        lengths = preprocessor.tokenizer.line_lengths
    length = preprocessor.sequence_length
    if not lengths or not buckets.row_lengths(lengths, length):
        return None, None, False
    if bucket == "pack":
        return packing.plan_lines(lengths, batch_size, length), None, False
    return None, buckets.plan(lengths, batch_size, length), False


def _group(mode, packed):
    """The lines a layout call takes: window rows span them (bigger calls cut the
    stream less often), packed rows mix them (a whole pass of a small corpus)."""
    return 4_096 if mode == "window" else packing.GROUP if packed else 256


def _batched(line_rows, batch_size, planned, shuffle, seed, cache, count):
    """Rows to batches (shuffled, bucketed as `_plans` planned, cached as
    `text_dataset` says); with `count` and no shuffle, the number of batches
    is counted (if unknown) and set."""
    dataset = line_rows
    if shuffle:
        dataset = dataset.shuffle(16_384, seed=seed, reshuffle_each_iteration=True)
    packed, chosen, by_length = planned
    if packed:
        size = packed[1]
        dataset = dataset.batch(size).map(_plain(lambda *batch: buckets.fill(batch, size)))
    elif chosen:
        dataset = buckets.by_plan(dataset, chosen)
    elif by_length:
        dataset = buckets.by_length(dataset, batch_size)
    else:
        dataset = dataset.batch(batch_size).map(
            _plain(lambda *batch: buckets.fill(batch, batch_size))
        )
    if cache:
        dataset = dataset.cache()
    if count and not shuffle and dataset.cardinality() < 0:
        # Keras' `evaluate` of a dataset of unknown length counts one batch too
        # many in its mean loss (Keras 3.15): count the batches of lines in memory.
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(count_batches(dataset)))
    # With tf.data's autotuning on, dropping the iterator at the end of a canon
    # epoch held `fit` up for 35 s (TensorFlow 2.21, waiting on the tuning
    # thread); AUTOTUNE's values without it trained as fast.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _kept(lines, preprocessor, batch_size, mode, window_length, planned, shuffle, seed):
    """`text_dataset` of lines in memory, without training: the rows laid out
    eagerly in the pipeline's batches of lines (window rows span 4,096 lines),
    batched as `_plans` planned."""
    packed = planned[0]
    group, width = _group(mode, packed), packed and packed[0]
    parts = [
        layout(
            preprocessor, tf.constant(lines[i : i + group]), mode, window_length, pack_width=width
        )
        for i in range(0, len(lines), group)
    ]
    line_rows = tf.data.Dataset.from_tensor_slices(
        tuple(tf.concat(column, axis=0) for column in zip(*parts))
    )
    return _batched(line_rows, batch_size, planned, shuffle, seed, cache=True, count=True)


def batches_per_pass(line_lengths, batch_size, mode="line", length=None, bucket=False):
    """The number of batches `text_dataset` makes of lines in one pass (not
    bucketed, `"auto"` or `"pack"`), from the number of lines of each length,
    without that pass.

    Args:
        line_lengths: dict, `{words: lines}`, as a tokenizer's `adapt` counts
            them (`WordTokenizer.line_lengths`): those of the lines laid out,
            `text_dataset`'s `line_lengths`.
        batch_size: rows per batch.
        mode: `"line"` or `"prefix"` (window rows depend on the order of the
            lines: `count_batches` counts them).
        length: int, the positions per row in `"line"` mode (the
            preprocessor's `sequence_length`); a longer line takes several rows.
        bucket: False, `"auto"` or `"pack"`: batched as `text_dataset`
            batches them then (in `"line"` mode).

    Returns:
        int.

    Example:
    >>> batches_per_pass({1: 3, 5: 10, 12: 2}, batch_size=4, length=8)
    4
    >>> batches_per_pass({1: 3, 5: 10, 12: 2}, batch_size=4, mode="prefix")
    16
    """
    if mode not in ("line", "prefix"):
        raise ValueError(f"`mode` must be 'line' or 'prefix'. Received: mode={mode!r}")
    if mode == "line" and not length:
        raise ValueError(f"`length` must be a positive integer in 'line' mode. Received: {length}")
    if mode == "line" and bucket == "pack":  # exact for up to `packing.GROUP` lines
        _, size, rows, _ = packing.plan_lines(line_lengths, batch_size, length)
        return -(-rows // size)
    if mode == "line" and bucket == "auto":
        chosen = buckets.plan(line_lengths, batch_size, length)
        return buckets.batches(chosen, line_lengths, length)
    predictions = {words - 1: lines for words, lines in line_lengths.items() if words > 1}
    if mode == "line":
        rows = sum(lines * -(-count // length) for count, lines in predictions.items())
    else:
        rows = sum(lines * count for count, lines in predictions.items())
    return -(-rows // batch_size)


def count_batches(dataset):
    """The number of batches in one pass over `dataset`, by making that pass.

    Example:
    >>> count_batches(tf.data.Dataset.range(10).batch(4))
    3
    """
    return int(dataset.reduce(tf.constant(0, tf.int64), _plain(lambda count, _: count + 1)))


def repeated(dataset):
    """`dataset` repeated without end, and its number of batches per pass.

    For `fit(repeated_dataset, steps_per_epoch=batches)`. Keras makes a new
    iterator over a finite dataset for each epoch, and making one instantiates
    the preprocessing functions again while training waits; one iterator over
    the repeated dataset serves every epoch, prefetching on across epoch ends.
    Each pass is still one epoch (shuffles reshuffle per pass).

    Args:
        dataset: a finite `tf.data.Dataset` of batches.

    Returns:
        `(dataset, batches)`.

    Example:
    >>> dataset, batches = repeated(tf.data.Dataset.range(10).batch(4))
    >>> batches, [int(b[0]) for b in dataset.take(4)]
    (3, [0, 4, 8, 0])
    """
    return dataset.repeat(), count_batches(dataset)
