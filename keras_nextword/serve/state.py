"""Suggestions per keystroke from the LSTM state after a text's complete words.

A keyboard client sends the whole text on every keystroke. Between two
keystrokes the complete words (those before the word being typed) change by
at most a word or two, so the server keeps the LSTM's `(h, c)` state after
each text's complete words (`StateCache`, keyed by their ids) and, for a text
that extends one it has seen, feeds only the new words through the cell
(`decoding.run_cell`, the cell of `NextWordLSTM.call_with_cache`). A text
whose earlier words changed is encoded again from a zero state, all of it: the
context is the whole text, never cut to the preprocessor's `sequence_length`.

Each batch of texts is one compiled call of fixed shapes (a few batch sizes,
up to `STEP_WORDS` new words a row): the cell over the new words, the output
layer, the prefix filter and the top `MAX_K`. A row with more new words first
runs them in chunks of `CHUNK_WORDS`.
"""

import collections
import hashlib
import time

import numpy as np
from keras import ops

from keras_nextword.generation import cell
from keras_nextword.generation.suggest import prefix_index, split_text
from keras_nextword.models.next_word_lstm import decoding
from keras_nextword.runtime import backend
from keras_nextword.text.ngram_vectorizer import OOV_ID, PAD_ID

MAX_K = 20  # the most suggestions per text: the compiled top-k's width
STEP_WORDS = 8  # new words a row feeds inside the suggestion call
CHUNK_WORDS = 64  # words per call of a longer encode
BATCHES = (1, 4, 16, 64)  # the compiled batch sizes


class StateCache:
    """An LRU of LSTM states with expiry: `key (bytes) -> (h, c)`.

    At most `max_entries` states are kept; one unused for `ttl` seconds is
    dropped, so memory stays bounded whatever the clients send.

    Args:
        max_entries: int, the most states kept.
        ttl: float, seconds an unused state is kept.

    Example:
    >>> cache = StateCache(max_entries=2)
    >>> for key in (b"a", b"b", b"c"):
    ...     cache.put(key, key.decode())
    >>> cache.get(b"a"), cache.get(b"c"), len(cache)
    (None, 'c', 2)
    """

    def __init__(self, max_entries=4096, ttl=600.0):
        self.max_entries = max_entries
        self.ttl = ttl
        self._entries = collections.OrderedDict()  # key -> (last use, state)

    def __len__(self):
        return len(self._entries)

    def get(self, key):
        """The state stored under `key` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries[key] = (time.monotonic(), entry[1])
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key, state):
        """Stores `state` under `key`, dropping expired and least recently used states."""
        now = time.monotonic()
        self._entries[key] = (now, state)
        self._entries.move_to_end(key)
        while self._entries:
            oldest_key, (used, _) = next(iter(self._entries.items()))
            if len(self._entries) <= self.max_entries and now - used <= self.ttl:
                break
            del self._entries[oldest_key]


def _key(ids):
    """A cache key of word ids: 16 bytes whatever the text's length, so the
    cache's memory is bounded by its number of entries."""
    return hashlib.blake2b(ids.tobytes(), digest_size=16).digest()


def _bucket(n):
    return next((b for b in BATCHES if b >= n), BATCHES[-1])


class Suggester:
    """`suggest`'s keyboard rule, stateful: the top words after each text.

    Same words and probabilities as `keras_nextword.generation.suggest.suggest` (the
    model's full softmax after the words before the cursor's word, filtered to
    the words that start with the word being typed), but over the whole text
    and from cached states. Not thread-safe: one thread calls it.

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        stateful: bool; False encodes every text in full (the baseline).
        cache: a `StateCache`, or None for a default one.

    Example:
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> suggester = Suggester(model)
    >>> first = suggester.suggest([("a light he", 3)])[0]
    >>> sorted(w for w, _ in first["suggestions"]), first["reused"]
    (['heart', 'heavy'], 0)
    >>> suggester.suggest([("a light heart ", 3)])[0]["reused"]
    2
    """

    def __init__(self, model, stateful=True, cache=None):
        self.model = model
        self.stateful = stateful
        self.cache = StateCache() if cache is None else cache
        self.index = prefix_index(model.preprocessor)
        self.weights = cell.generation_weights(model)
        self.units = model.backbone.lstm_units
        self._step = backend.jit_with_variables(_step, [])
        self._advance = backend.jit_with_variables(_advance, [])

    def warm_up(self):
        """Compiles every shape a request can use, so that none waits for it."""
        for batch in BATCHES:
            self.suggest([("a b ", 1)] * batch)
        self.cache = StateCache(self.cache.max_entries, self.cache.ttl)
        state = np.zeros((1, self.units), "float32")
        self._advance(self.weights, state, state, np.zeros((1, CHUNK_WORDS), "int32"))

    def _start(self, ids):
        """`(h, c, words to feed)` for a text's complete word ids: from the
        longest cached prefix of them, else from a zero state."""
        if self.stateful:
            for end in range(len(ids), max(-1, len(ids) - 2 * CHUNK_WORDS), -1):
                state = self.cache.get(_key(ids[:end]))
                if state is not None:
                    return (*state, ids[end:])
        zeros = np.zeros((1, self.units), "float32")
        return zeros, zeros, ids

    def _prepare(self, ids):
        """`(h, c, words left, words reused)`: the state after all but the last
        `STEP_WORDS` or fewer new words, and how many came from the cache."""
        h, c, rest = self._start(ids)
        reused = len(ids) - len(rest)
        while len(rest) > STEP_WORDS:
            chunk = rest[: min(CHUNK_WORDS, len(rest) - 1)]
            rest = rest[len(chunk) :]
            padded = np.full((1, CHUNK_WORDS), PAD_ID, "int32")
            padded[0, : len(chunk)] = chunk
            h, c = self._advance(self.weights, h, c, padded)
            h, c = ops.convert_to_numpy(h), ops.convert_to_numpy(c)
        return h, c, rest, reused

    def suggest(self, requests):
        """Suggestions for each `(text, k)`, with `1 <= k <= MAX_K`.

        Args:
            requests: list of `(str, int)`.

        Returns:
            One dict per request: `suggestions` (list of `(word, probability)`,
            most likely first), `prefix` (the word being typed, as the
            tokenizer reads it), `words` (complete words before it) and
            `reused` (how many of them came from a cached state).
        """
        results, rows = [], []
        id_of = self.index.id_of  # the preprocessor's words, as a dict: fast per word
        for text, k in requests:
            words, prefix = split_text(text)
            ids = np.array([id_of.get(w, OOV_ID) for w in words], "int32")
            result = {"prefix": prefix, "words": len(ids), "reused": 0, "suggestions": []}
            results.append(result)
            if len(ids):
                h, c, rest, result["reused"] = self._prepare(ids)
                rows.append((result, ids, k, h, c, rest))
        for start in range(0, len(rows), BATCHES[-1]):
            self._run(rows[start : start + BATCHES[-1]])
        return results

    def _run(self, rows):
        """One compiled call for up to `BATCHES[-1]` rows."""
        batch = _bucket(len(rows))
        h = np.zeros((batch, self.units), "float32")
        c = np.zeros((batch, self.units), "float32")
        token_ids = np.full((batch, STEP_WORDS), PAD_ID, "int32")
        last_ids = np.full(batch, PAD_ID, "int32")  # each row's last word: its bigram row
        low = np.zeros(batch, "int32")
        high = np.zeros(batch, "int32")
        for row, (result, context, _, row_h, row_c, rest) in enumerate(rows):
            h[row], c[row], last_ids[row] = row_h[0], row_c[0], context[-1]
            token_ids[row, : len(rest)] = rest
            low[row], high[row] = self.index.prefix_range(result["prefix"])
        outputs = self._step(self.weights, h, c, token_ids, last_ids, low, high, self.index.rank)
        h, c, ids, probabilities = (ops.convert_to_numpy(x) for x in outputs)
        vocabulary = self.index.vocabulary
        for row, (result, context, k, *_) in enumerate(rows):
            if self.stateful:
                self.cache.put(_key(context), (h[row : row + 1], c[row : row + 1]))
            count = min(k, int(high[row] - low[row]))
            result["suggestions"] = [
                (vocabulary[w], float(p))
                for w, p in zip(ids[row, :count], probabilities[row, :count])
            ]


def _advance(weights, h, c, token_ids):
    """The `(h, c)` state after `token_ids` (padding leaves it as it is)."""
    return decoding.run_cell(weights, token_ids, (h, c))[1]


def _step(weights, h, c, token_ids, last_ids, low, high, rank):
    """The state after `token_ids` (ending with `last_ids`), and the top `MAX_K` words whose rank lies
    in each row's `[low, high)` with their probabilities (full softmax)."""
    _, (h, c) = decoding.run_cell(weights, token_ids, (h, c))
    logits = cell.output_layer(weights, never_special=False)(h, last_ids)
    log_probabilities = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    rank = ops.expand_dims(rank, 0)
    allowed = (rank >= ops.expand_dims(low, -1)) & (rank < ops.expand_dims(high, -1))
    k = min(MAX_K, ops.shape(rank)[1])
    best, ids = ops.top_k(ops.where(allowed, log_probabilities, -np.inf), k)
    return h, c, ids, ops.exp(best)
