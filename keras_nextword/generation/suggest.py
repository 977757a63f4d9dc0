"""Next-word suggestions as a keyboard shows them: `suggest(model, text, k)`.

A text that ends in whitespace (or in punctuation the tokenizer drops) asks
for the next word; otherwise its last word is still being typed, and the
suggestions are the vocabulary words that start with it. Every suggestion
carries the model's probability of that word after the words before it (the
full softmax over the vocabulary, not renormalized over the candidates).

One compiled call per batch does the model pass, the prefix filter and the
top-k: the words that start with a prefix are one contiguous range of the
vocabulary sorted as strings (`PrefixIndex`), so a row's candidates are the
ids whose rank falls in `[low, high)`, two integers per row and no Python loop
over the vocabulary.

This module reads a model only through `model(token_ids)`, `model.variables`
and `model.preprocessor`; the model never imports it.
"""

import bisect
import math
import weakref

import keras
import numpy as np
from keras import ops

from keras_nextword.runtime import backend
from keras_nextword.text.ngram_vectorizer import OOV_ID, PAD_ID, python_split_words

_LAST_CHARACTER = "\U0010ffff"  # sorts after every character a word can hold


def next_word_logits(model, token_ids, lengths):
    """The model's next-word logits after each row's last real position.

    The one place that knows what the model outputs: every other function
    here works from these logits.

    Args:
        model: a `NextWordLSTM`.
        token_ids: int32 tensor `(batch, length)`, each row's word ids
            post-padded with `PAD_ID`.
        lengths: int32 tensor `(batch,)`, each row's number of words (>= 1).

    Returns:
        float32 tensor `(batch, vocabulary_size)`; `softmax` of a row is the
        distribution of the word after that row's words.

    Example:
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> ids = np.array([[2, 3, 0], [2, 0, 0]], "int32")  # "heart a", "heart"
    >>> logits = next_word_logits(model, ids, np.array([2, 1], "int32"))
    >>> tuple(logits.shape)
    (2, 6)
    """
    # The model's float32 logits at every position; the last real one predicts.
    outputs = ops.cast(model(token_ids, training=False), "float32")
    batch, length, vocabulary = ops.shape(outputs)
    rows = ops.arange(batch, dtype="int32") * length + ops.cast(lengths, "int32") - 1
    return ops.take(ops.reshape(outputs, (-1, vocabulary)), rows, axis=0)


class PrefixIndex:
    """The vocabulary sorted as strings: the words that start with a prefix are
    the ids whose `rank` lies in `prefix_range(prefix)`.

    Padding and `[UNK]` get rank -1, below every range, so they are never
    candidates.

    Args:
        vocabulary: list of str in id order, padding and `[UNK]` first.

    Example:
    >>> index = PrefixIndex(["", "[UNK]", "the", "that", "holmes", "then"])
    >>> low, high = index.prefix_range("th")
    >>> sorted(index.vocabulary[i] for i in index.ids[low:high])
    ['that', 'the', 'then']
    >>> index.prefix_range("")
    (0, 4)
    """

    def __init__(self, vocabulary):
        self.vocabulary = list(vocabulary)
        self.ids = np.array(
            sorted(range(OOV_ID + 1, len(self.vocabulary)), key=self.vocabulary.__getitem__),
            dtype="int32",
        )
        self.words = [self.vocabulary[i] for i in self.ids]
        self.rank = np.full(len(self.vocabulary), -1, dtype="int32")
        self.rank[self.ids] = np.arange(len(self.ids), dtype="int32")
        self.id_of = {word: i for i, word in enumerate(self.vocabulary) if i > OOV_ID}

    def prefix_range(self, prefix):
        """Returns `(low, high)`: the ranks of the words that start with `prefix`."""
        if not prefix:
            return 0, len(self.words)
        low = bisect.bisect_left(self.words, prefix)
        return low, bisect.bisect_left(self.words, prefix + _LAST_CHARACTER, low)


def split_text(text):
    """Splits a text as typed: `(words before the cursor's word, word being typed)`.

    Words are the tokenizer's (`python_split_words`). The last word is being
    typed unless the text ends in whitespace or in punctuation the tokenizer
    drops; then the word being typed is `""`.

    Args:
        text: str.

    Returns:
        `(list of str, str)`.

    Example:
    >>> split_text("It is with a hea")
    (['it', 'is', 'with', 'a'], 'hea')
    >>> split_text("It is with a ")
    (['it', 'is', 'with', 'a'], '')
    """
    words = python_split_words(text)
    if words and python_split_words(text[-1:]):
        return words[:-1], words[-1]
    return words, ""


_INDEXES = weakref.WeakKeyDictionary()  # preprocessor -> PrefixIndex
_COMPILED = weakref.WeakKeyDictionary()  # model -> {k: compiled function}


def prefix_index(preprocessor):
    """The `PrefixIndex` of a preprocessor's vocabulary, built once."""
    if preprocessor not in _INDEXES:
        _INDEXES[preprocessor] = PrefixIndex(preprocessor.get_vocabulary())
    return _INDEXES[preprocessor]


def _bucket(n, multiple):
    """Rounds up so that nearby sizes share one compiled function."""
    return max(multiple, int(math.ceil(n / multiple)) * multiple)


def _rows(contexts, batch=None):
    """Contexts (lists of ids, each non-empty) as post-padded bucketed arrays."""
    batch = batch or (1 if len(contexts) == 1 else _bucket(len(contexts), 8))
    length = _bucket(max(len(c) for c in contexts), 8)
    token_ids = np.full((batch, length), PAD_ID, dtype="int32")
    lengths = np.ones(batch, dtype="int32")
    for row, ids in enumerate(contexts):
        token_ids[row, : len(ids)] = ids
        lengths[row] = len(ids)
    token_ids[len(contexts) :, 0] = token_ids[0, 0]  # filler rows: one real word
    return token_ids, lengths


def _compiled(model, k):
    """The compiled `(values, token_ids, lengths, low, high, rank) -> (ids,
    probabilities)` for `model` and `k` (`k=None`: every log-probability)."""
    functions = _COMPILED.setdefault(model, {})
    if k in functions:
        return functions[k]
    # A weak reference: the cache's values must not keep its keys alive.
    model_reference = weakref.ref(model)

    def top_k(values, token_ids, lengths, low, high, rank):
        model = model_reference()
        with keras.StatelessScope(state_mapping=list(zip(model.variables, values))):
            logits = next_word_logits(model, token_ids, lengths)
        log_probabilities = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
        if k is None:
            return log_probabilities
        rank = ops.expand_dims(rank, 0)
        allowed = (rank >= ops.expand_dims(low, -1)) & (rank < ops.expand_dims(high, -1))
        best, ids = ops.top_k(ops.where(allowed, log_probabilities, -np.inf), k)
        return ids, ops.exp(best)

    functions[k] = backend.jit_with_variables(top_k, [])
    return functions[k]


def _values(model):
    return [v.value for v in model.variables]


def encode(preprocessor, texts):
    """Each text as `(context ids, prefix)`: the last `sequence_length` words
    before the cursor's word as ids (unknown words as `[UNK]`), and the word
    being typed."""
    token_to_id = preprocessor.token_to_id
    length = preprocessor.sequence_length
    rows = []
    for text in texts:
        words, prefix = split_text(text)
        rows.append(([token_to_id(w) for w in words[-length:]], prefix))
    return rows


def suggest(model, texts, k=5):
    """The `k` most likely words to type next, with their probabilities.

    Keyboard rule: a text that ends in whitespace (or in punctuation the
    tokenizer drops) asks for the next word; otherwise its last word is still
    being typed, and the suggestions are the vocabulary words that start with
    it (after the tokenizer's lowercasing). Each word comes with the model's
    probability of it after the words before it (the last `sequence_length`
    of them; unknown words read as `[UNK]`), a probability over the whole
    vocabulary. Padding and `[UNK]` are never suggested. A text with no word
    before the cursor's gets no suggestions (the model predicts a word from
    the words before it), and a prefix that fewer than `k` words start with
    gets fewer. A list of texts runs in batches (one compiled call each).

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        texts: a string, or a list of strings.
        k: int >= 1, the most suggestions per text.

    Returns:
        For a string, a list of `(word, probability)` tuples, most likely
        first; for a list, one such list per text.

    Example:
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> sorted(word for word, _ in suggest(model, "a he", k=3))  # two words start with he
    ['heart', 'heavy']
    >>> [len(words) for words in suggest(model, ["a light ", "a light", "heart"], k=3)]
    [3, 1, 0]
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    index = prefix_index(model.preprocessor)
    k = min(k, len(index.words))
    rows = encode(model.preprocessor, texts)
    results = [[] for _ in texts]
    todo = [i for i, (context, _) in enumerate(rows) if context and k]
    values = _values(model)
    for start in range(0, len(todo), 256):
        chunk = todo[start : start + 256]
        token_ids, lengths = _rows([rows[i][0] for i in chunk])
        low = np.zeros(len(token_ids), "int32")
        high = np.zeros(len(token_ids), "int32")
        for row, i in enumerate(chunk):
            low[row], high[row] = index.prefix_range(rows[i][1])
        ids, probabilities = _compiled(model, k)(values, token_ids, lengths, low, high, index.rank)
        ids, probabilities = ops.convert_to_numpy(ids), ops.convert_to_numpy(probabilities)
        for row, i in enumerate(chunk):
            count = min(k, int(high[row] - low[row]))
            results[i] = [
                (index.vocabulary[w], float(p))
                for w, p in zip(ids[row, :count], probabilities[row, :count])
            ]
    return results[0] if single else results


def next_word_log_probabilities(model, contexts, batch_size=256):
    """The model's log-probabilities of the next word after each context, as
    `suggest` computes them (same compiled pass).

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        contexts: list of lists of word ids, each non-empty (cut to the last
            `sequence_length` ids).
        batch_size: rows per compiled call.

    Returns:
        float32 numpy array `(len(contexts), vocabulary_size)`.

    Example:
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> scores = next_word_log_probabilities(model, [[2, 3], [2]])
    >>> scores.shape, bool(np.allclose(np.exp(scores).sum(axis=1), 1, atol=1e-5))
    ((2, 6), True)
    """
    length = model.preprocessor.sequence_length
    values, outputs = _values(model), []
    dummy = np.zeros(1, "int32")
    for start in range(0, len(contexts), batch_size):
        chunk = [c[-length:] for c in contexts[start : start + batch_size]]
        token_ids, lengths = _rows(chunk, batch=batch_size)
        scores = _compiled(model, None)(values, token_ids, lengths, dummy, dummy, dummy)
        outputs.append(ops.convert_to_numpy(scores)[: len(chunk)])
    vocabulary = model.preprocessor.vocabulary_size()
    return np.concatenate(outputs) if outputs else np.zeros((0, vocabulary), "float32")
