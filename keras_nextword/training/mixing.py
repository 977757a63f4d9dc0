"""Phase 6 of `from_text`: the trained LSTM mixed with a bigram count model
where the lines set apart score the mix better.

The bigram model is interpolated Kneser-Ney over the model's vocabulary,
counted on the training lines (`bigram_counts`, `kneser_ney`), a row of its
own for each of the most frequent words that fit the table's 64 MiB
(`layers.bigram.context_rows`: every word up to 4,095 words). Its weight is
chosen on the lines set apart, which neither model trained on: the LSTM's
share in `WEIGHTS` with the lowest perplexity there, 1 (no mix) included, so
the mix is kept only where it measures better. The lines set apart are then
counted in, and the model rebuilt around the table (`with_bigram`). See
docs/benchmarks.md ("A count model in the mix").
"""

import time

import numpy as np

from keras_nextword.layers.bigram import context_rows
from keras_nextword.text import data, pipeline
from keras_nextword.text.ngram_vectorizer import PAD_ID

# Training words `bigram_counts` counts a second, an estimate: the canon's 545,022 took
# 5.2 s on 2 busy cores once (a check, not a benchmark; it only bounds the time limit).
COUNT_RATE = 100_000
CHOICE_LINES = 500  # lines set apart the share is chosen on, at most
WEIGHTS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)
# The log-probability of padding, which the table never predicts: below any word's,
# and finite and near the others, so that int8 export keeps the table's resolution.
FLOOR = -30.0


def _discount(counts):
    """Ney's discount `n1 / (n1 + 2 n2)` of a count array (0 without ones)."""
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    return n1 / (n1 + 2 * n2) if n1 else 0.0


def kneser_ney(counts, rare_pairs=None, chunk=128):
    """Interpolated Kneser-Ney bigram log-probabilities, as `BigramMixture` reads them.

    `P(w | v) = (max(c(v w) - D, 0) + D N(v .) P1(w)) / c(v .)` for the words
    `v` with a row, and `P1` for the others (the table's last row): the
    continuation unigram `(max(N(. w) - D1, 0) + D1 N / |V|) / N(. .)`, `|V|`
    the ids but padding, `N(. w)` counting every word before `w`. `D` is Ney's
    discount of the rows' counts, `D1` of the continuation counts.

    Args:
        counts: int array `(rows, vocabulary)`, `counts[v, w]` the times `w`
            follows `v` in a line, for the `rows` most frequent `v`.
        rare_pairs: int array of the distinct `v * vocabulary + w` with
            `v >= rows` (None: none).
        chunk: rows computed at once (memory).

    Returns:
        float32 `(rows + 1, vocabulary)` log-probabilities, each row
        summing to 1 over the ids but padding (`FLOOR` there).

    Example:
    >>> table = kneser_ney(np.array([[0, 0, 0], [0, 0, 2], [0, 1, 0]]))
    >>> table.shape, np.exp(table[2, 1:]).astype(float).round(3).tolist()
    ((4, 3), [0.833, 0.167])
    """
    rows, vocabulary = counts.shape
    rare = np.zeros(0, "int64") if rare_pairs is None else rare_pairs
    continuation = np.count_nonzero(counts, axis=0) + np.bincount(
        rare % vocabulary, minlength=vocabulary
    )
    continuation[PAD_ID] = 0
    d1 = _discount(continuation[continuation > 0])
    types, total = np.count_nonzero(continuation), max(continuation.sum(), 1)
    unigram = (np.maximum(continuation - d1, 0) + d1 * types / (vocabulary - 1)) / total
    unigram[PAD_ID] = 0.0
    d2 = _discount(counts[counts > 0])
    table = np.empty((rows + 1, vocabulary), "float32")
    for first in range(0, rows, chunk):
        block = counts[first : first + chunk].astype("float64")
        row_total = block.sum(axis=1, keepdims=True)
        backoff = d2 * np.count_nonzero(block, axis=1)[:, None] * unigram
        seen = (np.maximum(block - d2, 0) + backoff) / np.maximum(row_total, 1)
        table[first : first + len(block)] = np.where(row_total > 0, seen, unigram)
    table[rows] = unigram
    with np.errstate(divide="ignore"):
        np.log(table, out=table)  # in place: the table can be 64 MiB
    return np.maximum(table, FLOOR, out=table)


def bigram_counts(preprocessor, lines, rows):
    """How often each word follows each other in `lines`, as the model reads
    them: counted for the `rows` most frequent first words, the pairs of the
    others listed once.

    Args:
        preprocessor: a model's preprocessor.
        lines: a `tf.data.Dataset` of str, one line each.
        rows: int, the first words (ids below it) counted in full.

    Returns:
        `(counts, rare_pairs)`: int32 `(rows, vocabulary)` counts, and the
        sorted distinct `v * vocabulary + w` of the pairs with `v >= rows`.

    Example:
    >>> import tensorflow as tf
    >>> from keras_nextword import NGramVectorizer
    >>> vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "b"])
    >>> counts, rare = bigram_counts(vectorizer, tf.data.Dataset.from_tensor_slices(["a b a"]), 3)
    >>> counts[2].tolist(), rare.tolist()  # a -> b counted; b -> a listed: 3 * 4 + 2
    ([0, 0, 0, 1], [14])
    """
    size = preprocessor.vocabulary_size()
    counts, rare = np.zeros(rows * size, "int32"), [np.zeros(0, "int64")]
    for batch in lines.batch(4096):
        flat, starts, lengths = (t.numpy() for t in pipeline.word_ids(preprocessor, batch))
        follows = np.ones(len(flat), bool)
        follows[starts[lengths > 0]] = False  # a line's first word follows nothing
        before = flat[:-1][follows[1:]].astype("int64")
        pairs = before * size + flat[1:][follows[1:]]
        own, n = np.unique(pairs[before < rows], return_counts=True)
        counts[own] += n  # the first words' rows come first: their codes index `counts`
        rare.append(np.unique(pairs[before >= rows]))
    return counts.reshape(rows, size), np.unique(np.concatenate(rare))


def target_log_probabilities(model, lines, table, rows=8):
    """The LSTM's and the bigram model's log-probabilities of each target of
    `lines` (each word after the first of its line, from the words before it).

    The model runs compiled (`predict_on_batch`) on `rows` rows at a time: a
    whole scoring batch's logits hold its rows x width x vocabulary floats,
    and eager calls on JAX kept far more memory (commit 0c8bea7 says how
    much); their log-softmax is taken a few rows at a time (`log_softmax_at`).

    Args:
        model: a `NextWordLSTM` without a bigram mix, with a preprocessor.
        lines: list of str.
        table: the bigram log-probabilities (`kneser_ney`).
        rows: int, rows a call.

    Returns:
        `(lstm, bigram)`, float64 arrays of one value a target.
    """
    lstm, bigram = [], []
    for x, y, w in model.scoring_dataset(lines):
        x, y, real = x.numpy(), y.numpy(), w.numpy() > 0
        for first in range(0, len(x), rows):
            part = slice(first, first + rows)
            logits = np.asarray(model.predict_on_batch(x[part]), "float32")  # compiled
            lstm.append(log_softmax_at(logits, y[part])[real[part]])
        context = np.minimum(np.abs(x[real]), len(table) - 1)  # rarer words: the last row
        bigram.append(table[context, y[real]].astype("float64"))
    return np.concatenate(lstm), np.concatenate(bigram)


def log_softmax_at(logits, targets, rows=4):
    """`log_softmax(logits)` at `targets`, `rows` rows at a time: the
    temporaries stay a few rows' size, however wide the batch's logits.

    Args:
        logits: float array `(batch, width, vocabulary)`.
        targets: int array `(batch, width)`.
        rows: int, rows computed at once.

    Returns:
        float64 array `(batch, width)`.

    Example:
    >>> log_softmax_at(np.log([[[0.25, 0.75]]]), np.array([[1]])).round(3).tolist()
    [[-0.288]]
    """
    out = np.empty(targets.shape, "float64")
    for first in range(0, len(logits), rows):
        part = logits[first : first + rows]
        top = part.max(-1, keepdims=True)
        log_z = np.log(np.exp(part - top).sum(-1)) + top[..., 0]
        target = np.take_along_axis(part, targets[first : first + rows, ..., None], -1)
        out[first : first + rows] = target[..., 0] - log_z
    return out


def perplexity(lstm, bigram, weight):
    """The mix's perplexity from `target_log_probabilities` (1: the LSTM's)."""
    if weight == 1.0:
        return float(np.exp(-lstm.mean()))
    return float(np.exp(-np.logaddexp(lstm + np.log(weight), bigram + np.log1p(-weight)).mean()))


def choose_weight(model, lines, table):
    """The LSTM's share in `WEIGHTS` that scores `lines` best, and the
    perplexity of each share there.

    Args:
        model: a `NextWordLSTM` without a bigram mix, with a preprocessor.
        lines: list of str, lines neither model trained on.
        table: the bigram log-probabilities (`kneser_ney`).

    Returns:
        `(weight, {weight: perplexity})`.
    """
    lstm, bigram = target_log_probabilities(model, lines, table)
    scores = {weight: perplexity(lstm, bigram, weight) for weight in WEIGHTS}
    return min(scores, key=scores.get), scores


def with_bigram(model, table, weight):
    """`model` rebuilt with a bigram mix: the same backbone and preprocessor
    (weights shared), its output layer's weights, compiled as `from_text`
    leaves it, its `training_settings` and `history`.

    Args:
        model: a `NextWordLSTM` without a bigram mix.
        table: the bigram log-probabilities (`kneser_ney`).
        weight: float in (0, 1), the LSTM's share.

    Returns:
        The new `NextWordLSTM`.
    """
    rows = len(table) - 1  # the words with a row of their own; the last row serves the rest
    mixed = type(model)(
        model.backbone, preprocessor=model.preprocessor, bigram_weight=weight, bigram_rows=rows
    )
    if model.head is not None:
        mixed.head.set_weights(model.head.get_weights())
    mixed.bigram.table.assign(table)
    mixed.compile(optimizer=model.optimizer, sampler=model.sampler)
    mixed.training_settings = dict(model.training_settings, bigram_weight=weight)
    mixed.history = model.history
    return mixed


def mix(model, parts, bigram_weight="auto", say=print, deadline=None):
    """`from_text`'s last phase: the model, mixed with a bigram model when
    `bigram_weight` says so (`"auto"`: where the lines set apart score the
    mix better; None: never; a float in (0, 1): that share), its reason said.
    The training lines are counted once (about `COUNT_RATE` words/s), the
    lines set apart once more, and the share chosen on at most
    `CHOICE_LINES` of them, evenly spaced; nothing is mixed where counting
    would pass `deadline`. The mixed model's held-out perplexity is said.

    Args:
        model: the trained `NextWordLSTM`.
        parts: its `recipe.Split`.
        bigram_weight: `"auto"`, None or a float in (0, 1).
        say: a `print`-like function.
        deadline: `time.monotonic()` of the time limit, or None.

    Returns:
        The model, mixed or as it was.

    Example:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=2, verbose=0)
    >>> model.bigram.weight < 1
    True
    """
    if bigram_weight is None or model.bigram is not None:
        return model
    if bigram_weight == "auto" and parts.dev is None:
        return model  # nothing to choose on
    words = sum(length * lines for length, lines in (parts.line_lengths or {}).items())
    late = f"No bigram mix: counting {words:,} training words would pass the time limit"
    if deadline is not None and time.monotonic() + words / COUNT_RATE > deadline:
        say(late)
        return model
    preprocessor, rows = model.preprocessor, context_rows(model.backbone.vocabulary_size)
    counts, rare = bigram_counts(preprocessor, parts.train, rows)
    if deadline is not None and time.monotonic() > deadline:
        say(late)
        return model
    if bigram_weight == "auto":
        dev = data.listed(parts.dev)
        dev = dev[:: -(-len(dev) // CHOICE_LINES)]  # evenly spaced: a bounded cost
        bigram_weight, scores = choose_weight(model, dev, kneser_ney(counts, rare))
        if bigram_weight == 1.0:
            say(f"No bigram mix: {len(dev):,} lines set apart score the LSTM alone best")
            return model
        say(
            f"Mixed with a bigram model, {bigram_weight:.0%} LSTM: {len(dev):,} lines set apart "
            f"score {scores[bigram_weight]:.1f} against {scores[1.0]:.1f} for the LSTM alone"
        )
    if parts.dev is not None:  # counted too: the table keeps every line the split gave it
        more, more_rare = bigram_counts(preprocessor, parts.dev, rows)
        counts += more
        rare = np.union1d(rare, more_rare)
        del more
    table = kneser_ney(counts, rare)
    if parts.held_out_lines and (deadline is None or time.monotonic() < deadline):
        both = target_log_probabilities(model, data.listed(parts.held_out), table)
        say(f"Held-out perplexity with the mix: {perplexity(*both, bigram_weight):.1f}")
    return with_bigram(model, table, bigram_weight)
