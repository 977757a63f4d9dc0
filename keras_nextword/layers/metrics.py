"""Keyboard metrics: top-k accuracy of the next word and keystroke savings.

`SuggestionAccuracy` is a Keras metric for `compile`/`evaluate`: the share of
next words among the `k` words a keyboard would show. `keyboard_metrics`
scores any model from its next-word scores (the LSTM's, or a count model's
for comparison) on the same predictions, with the same suggestion rule as
`keras_nextword.generation.suggest`.
"""

import keras
import numpy as np
from keras import ops

from keras_nextword.generation.suggest import PrefixIndex, next_word_log_probabilities, prefix_index
from keras_nextword.layers.losses import flat_positions
from keras_nextword.text.ngram_vectorizer import OOV_ID, python_split_words


@keras.saving.register_keras_serializable(package="keras_nextword")
class SuggestionAccuracy(keras.metrics.SparseTopKCategoricalAccuracy):
    """Share of next words among the `k` most likely words, padding and
    `[UNK]` never among them (a keyboard never shows them).

    `keras.metrics.SparseTopKCategoricalAccuracy` with padding and `[UNK]`
    left out of the count of words scoring higher than the target, and a
    `[UNK]` target always missed, as it is by `suggest`. Takes probabilities
    or logits (only the order counts), of shape `(..., vocabulary_size)`, and integer targets of shape `(...)`.
    A target tied with the `k`-th score counts as found.

    Args:
        k: int, the number of suggestions.
        name: the metric name; `f"top{k}_accuracy"` when None.
        dtype: the metric's dtype.

    Example:
    >>> metric = SuggestionAccuracy(k=1)
    >>> y_pred = np.array([[[0.1, 0.5, 0.3, 0.1], [0.0, 0.1, 0.2, 0.7]]])
    >>> metric.update_state(np.array([[2, 2]]), y_pred)
    >>> float(metric.result())  # the first: [UNK] is the likeliest but never shown
    0.5
    """

    def __init__(self, k=3, name=None, dtype=None, **kwargs):
        super().__init__(k=k, name=name or f"top{k}_accuracy", dtype=dtype, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = flat_positions(y_true, y_pred, sample_weight)
        higher, target = _higher(y_true, y_pred)
        # Padding and [UNK] are never shown: take out those scoring higher.
        special = ops.cast(y_pred[:, : OOV_ID + 1], "float32")
        higher = higher - ops.sum(ops.cast(special > target, "int32"), axis=-1)
        found = ops.logical_and(higher < self.k, ops.cast(y_true, "int32") > OOV_ID)
        return keras.metrics.Mean.update_state(
            self, ops.cast(found, self.dtype), sample_weight=sample_weight
        )


def _higher(y_true, y_pred):
    """How many words score higher than each target, and the target's score.

    One pass over the scores, where a top-k or an argmax is one pass each:
    `PositionAccuracy` and `SuggestionAccuracy` compute the same count, which
    XLA computes once for them all.
    """
    y_pred = ops.cast(y_pred, "float32")
    target = ops.take_along_axis(y_pred, ops.cast(y_true, "int32")[:, None], axis=-1)
    return ops.sum(ops.cast(y_pred > target, "int32"), axis=-1), target


@keras.saving.register_keras_serializable(package="keras_nextword")
class PositionAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Share of positions where no word scores higher than the target (Keras'
    `"accuracy"`, but a tie counts as found), each weighted position counted
    alike whatever its batch's length (`losses.flat_positions`).

    Args:
        name: the metric name.
        dtype: the metric's dtype.

    Example:
    >>> metric = PositionAccuracy()
    >>> metric.update_state(np.array([[1]]), np.array([[[0.2, 0.8]]]))
    >>> metric.update_state(np.array([[0, 0, 1]]), np.array([[[0.9, 0.1]] * 3]))
    >>> float(metric.result())
    0.75
    """

    def __init__(self, name="accuracy", dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = flat_positions(y_true, y_pred, sample_weight)
        higher, _ = _higher(y_true, y_pred)
        return keras.metrics.Mean.update_state(
            self, ops.cast(higher == 0, self.dtype), sample_weight=sample_weight
        )


def typed_before_shown(index, word, scores, k):
    """How many characters of `word` are typed before it shows among `k` suggestions.

    Suggestions follow `suggest`'s rule: after `t` characters, the `k`
    highest-scored vocabulary words that start with them (ties: lower id
    first), padding and `[UNK]` never.

    Args:
        index: a `keras_nextword.generation.suggest.PrefixIndex`.
        word: str, the word the user types (the tokenizer's form).
        scores: 1-D array over the vocabulary, higher is likelier.
        k: int, the number of suggestions.

    Returns:
        int in `[0, len(word))`, or None if the word never shows before it is
        typed in full (it is out of the vocabulary, or ranks too low).

    Example:
    >>> index = PrefixIndex(["", "[UNK]", "the", "then", "holmes"])
    >>> scores = np.array([0.0, 0.0, 0.5, 0.2, 0.3])
    >>> typed_before_shown(index, "holmes", scores, k=1)  # "" shows "the", "h" holmes
    1
    >>> print(typed_before_shown(index, "then", scores, k=1))  # "the" always ahead
    None
    """
    target = index.id_of.get(word)
    if target is None:
        return None
    score = scores[target]
    for typed in range(len(word)):
        low, high = index.prefix_range(word[:typed])
        candidates = index.ids[low:high]
        others = scores[candidates]
        ahead = np.count_nonzero((others > score) | ((others == score) & (candidates < target)))
        if ahead < k:
            return typed
    return None


def keyboard_metrics(vocabulary, words, scores, k=3, top=(1, 3)):
    """Top-n accuracy and keystroke savings of next-word scores.

    Keystroke savings is the share of the words' characters a user need not
    type when a suggestion equal to the word is taken as soon as it shows
    among `k`: a word that shows after `t` of its `n` characters saves
    `n - t`. Taking a suggestion costs nothing and spaces are not counted; a
    word out of the vocabulary is typed in full.

    Args:
        vocabulary: list of str in id order, padding and `[UNK]` first (or a
            `PrefixIndex` of it).
        words: list of str, the word typed at each prediction.
        scores: array `(len(words), vocabulary_size)`, each row's scores of
            the next word (probabilities, log-probabilities or logits).
        k: int, suggestions shown while typing (keystroke savings).
        top: ints n for the top-n accuracy: the share of `words` among the
            n suggestions shown before their first character.

    Returns:
        A dict: `"predictions"`, `"characters"`, `"saved_characters"`,
        `"keystroke_savings"` (saved / characters) and `f"top{n}_accuracy"`
        for each n in `top`.

    Example:
    >>> vocabulary = ["", "[UNK]", "the", "then", "holmes"]
    >>> scores = np.array([[0.0, 0.0, 0.5, 0.2, 0.3], [0.0, 0.0, 0.5, 0.2, 0.3]])
    >>> metrics = keyboard_metrics(vocabulary, ["then", "holmes"], scores, k=1, top=(1, 2))
    >>> metrics["saved_characters"], metrics["characters"]  # "then": 0; "h" shows holmes: 5
    (5, 10)
    >>> metrics["top1_accuracy"], metrics["top2_accuracy"]
    (0.0, 0.5)
    """
    index = vocabulary if isinstance(vocabulary, PrefixIndex) else PrefixIndex(vocabulary)
    scores = np.asarray(scores)
    if len(scores) != len(words):
        raise ValueError(f"{len(words)} words but {len(scores)} rows of scores.")
    characters = sum(len(word) for word in words)
    saved = 0
    for word, row in zip(words, scores):
        typed = typed_before_shown(index, word, row, k)
        saved += 0 if typed is None else len(word) - typed
    results = {
        "predictions": len(words),
        "characters": characters,
        "saved_characters": saved,
        "keystroke_savings": saved / characters if characters else 0.0,
    }
    for n in top:
        hits = sum(typed_before_shown(index, w, row, n) == 0 for w, row in zip(words, scores))
        results[f"top{n}_accuracy"] = hits / len(words) if words else 0.0
    return results


def line_predictions(lines):
    """The predictions of lines of text: each word after the first of its
    line, with the words before it in the line (the pairs the model trains
    on and `evaluate` scores).

    Args:
        lines: list of str.

    Returns:
        `(contexts, words)`: a list of lists of str and a list of str.

    Example:
    >>> line_predictions(["It is with a", "heavy"])
    ([['it'], ['it', 'is'], ['it', 'is', 'with']], ['is', 'with', 'a'])
    """
    contexts, words = [], []
    for line in lines:
        line_words = python_split_words(line)
        for i in range(1, len(line_words)):
            contexts.append(line_words[:i])
            words.append(line_words[i])
    return contexts, words


def evaluate_keyboard(model, lines, k=3, top=(1, 3), batch_size=1024):
    """`keyboard_metrics` of a model over the predictions of `lines`.

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        lines: list of str, e.g. held-out lines.
        k: int, suggestions shown while typing.
        top: ints n for the top-n accuracy.
        batch_size: predictions scored at a time (bounds memory).

    Returns:
        The dict of `keyboard_metrics`, totalled over all predictions.

    Example:
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> results = evaluate_keyboard(model, ["a heavy heart"])
    >>> results["predictions"], results["characters"]
    (2, 10)
    """
    contexts, words = line_predictions(lines)
    index = prefix_index(model.preprocessor)
    token_to_id = model.preprocessor.token_to_id
    parts = []
    for start in range(0, len(words), batch_size):
        ids = [[token_to_id(w) for w in c] for c in contexts[start : start + batch_size]]
        scores = next_word_log_probabilities(model, ids)
        parts.append(keyboard_metrics(index, words[start : start + batch_size], scores, k, top))
    return _total(parts, top)


def _total(parts, top):
    """Adds up `keyboard_metrics` results of disjoint chunks."""
    total = {name: sum(p[name] for p in parts) for name in ("predictions", "characters")}
    total["saved_characters"] = sum(p["saved_characters"] for p in parts)
    total["keystroke_savings"] = total["saved_characters"] / max(total["characters"], 1)
    for n in top:
        name = f"top{n}_accuracy"
        hits = sum(p[name] * p["predictions"] for p in parts)
        total[name] = hits / max(total["predictions"], 1)
    return total
