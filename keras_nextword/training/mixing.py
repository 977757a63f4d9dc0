"""Phase 6 of `from_text`: the trained LSTM mixed with a bigram count model
where the lines set apart score the mix better.

The bigram model is interpolated Kneser-Ney over the model's vocabulary,
counted on the training lines (`bigram_table`). Its weight is chosen on the
lines set apart, which neither model trained on: the LSTM's share in
`WEIGHTS` with the lowest perplexity there, 1 (no mix) included, so the mix
is kept only where it measures better. The table is then counted again with
the lines set apart, and the model rebuilt around it (`with_bigram`). A table
holds `vocabulary_size ** 2` floats: vocabularies over `MAX_VOCABULARY` words
(64 MiB) are not mixed. See docs/benchmarks.md ("A count model in the mix").
"""

import numpy as np
from keras import ops

from keras_nextword.text import data, pipeline
from keras_nextword.text.ngram_vectorizer import PAD_ID

MAX_VOCABULARY = 4096
WEIGHTS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)
# The log-probability of padding, which the table never predicts: below any word's,
# and finite and near the others, so that int8 export keeps the table's resolution.
FLOOR = -30.0


def _discount(counts):
    """Ney's discount `n1 / (n1 + 2 n2)` of a count array (0 without ones)."""
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    return n1 / (n1 + 2 * n2) if n1 else 0.0


def kneser_ney(counts):
    """Interpolated Kneser-Ney bigram log-probabilities of bigram counts.

    `P(w | v) = (max(c(v w) - D, 0) + D N(v .) P1(w)) / c(v .)`, and `P1` the
    continuation unigram `(max(N(. w) - D1, 0) + D1 N / |V|) / N(. .)` with
    `|V|` the ids but padding; a word never seen before anything reads `P1`.

    Args:
        counts: int array `(vocabulary, vocabulary)`, `counts[v, w]` the times
            `w` follows `v` in a line.

    Returns:
        float32 `(vocabulary, vocabulary)` log-probabilities, each row
        summing to 1 over the ids but padding (`FLOOR` there).

    Example:
    >>> table = kneser_ney(np.array([[0, 0, 0], [0, 0, 2], [0, 1, 0]]))
    >>> np.exp(table[2, 1:]).astype(float).round(3).tolist()
    [0.833, 0.167]
    """
    vocabulary = counts.shape[0]
    follows = counts > 0
    continuation = follows.sum(axis=0).astype("float64")
    continuation[PAD_ID] = 0
    d1 = _discount(continuation[continuation > 0])
    types, total = np.sum(continuation > 0), max(continuation.sum(), 1.0)
    unigram = (np.maximum(continuation - d1, 0) + d1 * types / (vocabulary - 1)) / total
    unigram[PAD_ID] = 0.0
    d2 = _discount(counts[follows])
    row_total = counts.sum(axis=1, keepdims=True).astype("float64")
    backoff = d2 * follows.sum(axis=1, keepdims=True) * unigram
    seen = (np.maximum(counts - d2, 0) + backoff) / np.maximum(row_total, 1)
    probabilities = np.where(row_total > 0, seen, unigram)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(probabilities), FLOOR).astype("float32")


def bigram_counts(preprocessor, lines):
    """How often each word follows each other in `lines`, as the model reads them.

    Args:
        preprocessor: a model's preprocessor.
        lines: a `tf.data.Dataset` of str, one line each.

    Returns:
        int64 `(vocabulary, vocabulary)` counts.

    Example:
    >>> import tensorflow as tf
    >>> from keras_nextword import NGramVectorizer
    >>> vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "b"])
    >>> bigram_counts(vectorizer, tf.data.Dataset.from_tensor_slices(["a b a"]))[2].tolist()
    [0, 0, 0, 1]
    """
    size = preprocessor.vocabulary_size()
    counts = np.zeros(size * size, "int64")
    for batch in lines.batch(4096):
        flat, starts, lengths = (t.numpy() for t in pipeline.word_ids(preprocessor, batch))
        follows = np.ones(len(flat), bool)
        follows[starts[lengths > 0]] = False  # a line's first word follows nothing
        pairs = flat[:-1][follows[1:]] * size + flat[1:][follows[1:]]
        counts += np.bincount(pairs, minlength=size * size)
    return counts.reshape(size, size)


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
    lstm, bigram = [], []
    for x, y, w in model.scoring_dataset(lines):
        logits = ops.convert_to_numpy(model(x, training=False)).astype("float64")
        real = w.numpy() > 0
        logits, x, y = logits[real], np.abs(x.numpy())[real], y.numpy()[real]
        top = logits.max(-1)
        log_z = np.log(np.exp(logits - top[:, None]).sum(-1)) + top
        lstm.append(logits[np.arange(len(y)), y] - log_z)
        bigram.append(table[x, y].astype("float64"))
    lstm, bigram = np.concatenate(lstm), np.concatenate(bigram)
    scores = {1.0: float(np.exp(-lstm.mean()))}
    for weight in WEIGHTS[1:]:
        mixed = np.logaddexp(lstm + np.log(weight), bigram + np.log1p(-weight))
        scores[weight] = float(np.exp(-mixed.mean()))
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
    mixed = type(model)(model.backbone, preprocessor=model.preprocessor, bigram_weight=weight)
    if model.head is not None:
        mixed.head.set_weights(model.head.get_weights())
    mixed.bigram.table.assign(table)
    mixed.compile(optimizer=model.optimizer, sampler=model.sampler)
    mixed.training_settings = dict(model.training_settings, bigram_weight=weight)
    mixed.history = model.history
    return mixed


def mix(model, parts, bigram_weight="auto", say=print):
    """`from_text`'s last phase: the model, mixed with a bigram model when
    `bigram_weight` says so (`"auto"`: where the lines set apart score the
    mix better; None: never; a float in (0, 1): that share), its reason said.

    Args:
        model: the trained `NextWordLSTM`.
        parts: its `recipe.Split`.
        bigram_weight: `"auto"`, None or a float in (0, 1).
        say: a `print`-like function.

    Returns:
        The model, mixed or as it was.

    Example:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=2, verbose=0)
    >>> model.bigram.weight < 1
    True
    """
    size = model.backbone.vocabulary_size
    if bigram_weight is None or model.bigram is not None:
        return model
    if size > MAX_VOCABULARY:
        if bigram_weight != "auto":
            say(f"No bigram mix: {size:,} words, a table of more than {MAX_VOCABULARY:,} ** 2")
        return model
    lines = parts.train if parts.dev is None else parts.train.concatenate(parts.dev)
    if bigram_weight == "auto":
        if parts.dev is None:
            return model
        train_only = kneser_ney(bigram_counts(model.preprocessor, parts.train))
        bigram_weight, scores = choose_weight(model, data.listed(parts.dev), train_only)
        if bigram_weight == 1.0:
            say(f"No bigram mix: the lines set apart score the LSTM alone best ({scores[1.0]:.1f})")
            return model
        say(
            f"Mixed with a bigram model, {bigram_weight:.0%} LSTM: the lines set apart "
            f"score {scores[bigram_weight]:.1f} against {scores[1.0]:.1f} for the LSTM alone"
        )
    table = kneser_ney(bigram_counts(model.preprocessor, lines))
    return with_bigram(model, table, bigram_weight)
