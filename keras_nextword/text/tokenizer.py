"""`WordTokenizer`: the package's words as a `keras_hub.tokenizers.Tokenizer`.

Built on `keras.layers.TextVectorization` with the tutorial's standardization
and split (`split_words`: on ASCII text, the Keras-2 `Tokenizer`'s words; typeset
punctuation reads as its ASCII kin). Id 0
is padding (`""`) and id 1 `[UNK]`: unknown words map to it, never dropped.
Like every `TextVectorization`, it runs on TensorFlow ops whatever the Keras
backend: in `tf.data` or eagerly, never inside a compiled JAX or torch graph.
"""

import collections
import os

import keras
import numpy as np

from keras_nextword.runtime.environment import keras_hub, tf

VOCABULARY_FILE = "vocabulary.txt"
# The Keras-2 `Tokenizer` default `filters`: each of these becomes a space.
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
# Their typographic kin, filters too, so that a typeset text has an ASCII text's words:
# curly double quotes, guillemets, dashes, the ellipsis and the non-breaking and
# typeset spaces. Curly single quotes read as the apostrophe, which words keep.
TYPOGRAPHIC_FILTERS = (
    "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\u2010\u2011\u2012\u2013\u2014\u2015"
    "\u2026\u00a0\u2002\u2003\u2009\u200a\u202f\u3000"
)
APOSTROPHES = "\u2018\u2019\u02bc"
# Every filter, escaped for a regular expression's character class.
FILTER_CLASS = "".join("\\" + c if c not in "\t\n" else c for c in FILTERS) + TYPOGRAPHIC_FILTERS
_FILTER_PATTERN = "[" + FILTER_CLASS + "]"
_APOSTROPHE_PATTERN = "[" + APOSTROPHES + "]"
# The characters above that are not ASCII, for text that has any (`first_pass`).
TYPOGRAPHIC_TABLE = str.maketrans(
    {**dict.fromkeys(TYPOGRAPHIC_FILTERS, " "), **dict.fromkeys(APOSTROPHES, "'")}
)
_FILTER_TABLE = {**str.maketrans(FILTERS, " " * len(FILTERS)), **TYPOGRAPHIC_TABLE}
PAD_ID = 0
OOV_ID = 1
# The longest training context (rows of `sequence_length` words): a text
# without line breaks is one line, and longer lines continue in the next row.
MAX_SEQUENCE_LENGTH = 64


@keras.saving.register_keras_serializable(package="keras_nextword")
def split_words(text):
    """Standardizes and splits a batch of lines into words (ragged `tf.string`).

    Lowercase (full Unicode), the tutorial's filter characters and their
    typographic kin (`TYPOGRAPHIC_FILTERS`) become spaces, curly single quotes
    the apostrophe, then split on single spaces dropping empty strings: on
    ASCII text, the Keras-2 `Tokenizer`'s words.
    It is TextVectorization's `split` (with `standardize=None`): Keras hands a
    callable `standardize` NumPy arrays on non-TensorFlow backends, which cannot
    run inside `tf.data`, while `split` always gets a `tf.Tensor`.
    """
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _APOSTROPHE_PATTERN, "'")
    text = tf.strings.regex_replace(text, _FILTER_PATTERN, " ")
    words = tf.strings.split(text, sep=" ")
    return tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)


def python_split_words(text):
    """Python twin of `split_words` for one string.

    Same words as the TensorFlow path (and as the Keras-2 `Tokenizer`), without a
    TensorFlow call: used where microseconds matter, such as generation prompts.

    Example:
    >>> python_split_words("Mr. Sherlock Holmes's friend -- 'all")
    ['mr', 'sherlock', "holmes's", 'friend', "'all"]
    >>> python_split_words("Mr.\u00a0Sherlock Holmes\u2019s friend\u2014\u2018all")
    ['mr', 'sherlock', "holmes's", 'friend', "'all"]
    """
    return [w for w in text.lower().translate(_FILTER_TABLE).split(" ") if w]


@keras.saving.register_keras_serializable(package="keras_nextword")
class WordTokenizer(keras_hub.tokenizers.Tokenizer):
    """Splits text into the tutorial's words and maps them to ids.

    Args:
        vocabulary: list of str, a path to a file of one word per line, or
            None (then call `adapt`). Entry 0 must be `""` (padding) and
            entry 1 `"[UNK]"`, as `get_vocabulary()` returns them.
        max_tokens: int or None, the most words `adapt` keeps (padding and
            `[UNK]` included).
        **kwargs: `keras_hub.tokenizers.Tokenizer` arguments (`name`, ...).

    Example:
    >>> tokenizer = WordTokenizer()
    >>> tokenizer.adapt(["It is with a heavy heart", "a heavy pen"])
    >>> tokenizer.vocabulary_size(), tokenizer.line_lengths
    (9, {3: 1, 6: 1})
    >>> ids = tokenizer(["A heavy heart, Holmes"])
    >>> ids.to_list()
    [[3, 2, 8, 1]]
    >>> tokenizer.detokenize(ids)
    ['a heavy heart [UNK]']
    """

    def __init__(self, vocabulary=None, max_tokens=None, **kwargs):
        if max_tokens is not None and max_tokens < 3:
            raise ValueError(
                f"`max_tokens` must be at least 3 (padding, [UNK] and one word). "
                f"Received: max_tokens={max_tokens}"
            )
        super().__init__(**kwargs)
        self.max_tokens = max_tokens
        self.vectorizer = keras.layers.TextVectorization(
            max_tokens=max_tokens,
            standardize=None,
            split=split_words,
            output_mode="int",
            encoding="utf-8",
            name="text_vectorization",
        )
        # As in NGramVectorizer: no weights, never inside a compiled step. Keras 3
        # has no public list of a layer's nested sublayers (`_flatten_layers`).
        for layer in self.vectorizer._flatten_layers():
            layer.supports_jit = True
            layer.built = True
        # String inputs: Keras has no public switch for them; keras-hub's
        # `PreprocessingLayer` sets the same two private attributes.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.file_assets = [VOCABULARY_FILE]
        self.pad_token, self.pad_token_id = "", PAD_ID
        self.oov_token, self.oov_token_id = "[UNK]", OOV_ID
        self._index, self._words = None, None  # word -> id and id -> word, made on first use
        self.word_counts, self.line_lengths = None, None  # set by `adapt`
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.built = True

    def adapt(self, data, batch_size=1024):
        """Builds the vocabulary from lines of text, most frequent words first,
        and counts each word (`word_counts`), the lines of each length in
        words (`line_lengths`, `{words: lines}`) and the longest line's words
        (`longest_line`).

        Args:
            data: a string, a list or array of strings, or a `tf.data.Dataset`
                of strings (batched or not). Each string is one line.
            batch_size: lines per step when `data` is not already batched.
        """
        lengths, counts = collections.Counter(), collections.Counter()
        for lines in _as_line_batches(data, batch_size):
            words = split_words(lines)
            lengths.update(words.row_lengths().numpy().tolist())
            unique, _, n = tf.unique_with_counts(words.flat_values)
            counts.update(dict(zip(unique.numpy().tolist(), n.numpy().tolist())))
        self.adapt_counts({w.decode("utf-8"): n for w, n in counts.items()}, lengths)

    def adapt_counts(self, word_counts, line_lengths):
        """`adapt` from counts made elsewhere (`keras_nextword.text.first_pass`): the
        vocabulary is ordered as `TextVectorization.adapt` orders it (most
        frequent first, ties in reverse word order), cut at `max_tokens`.

        Args:
            word_counts: a mapping of word (str, as `split_words` gives it) to
                its occurrences.
            line_lengths: a mapping of line length in words to lines.

        Example:
        >>> tokenizer = WordTokenizer(max_tokens=4)
        >>> tokenizer.adapt_counts({"holmes": 3, "the": 5, "watson": 3}, {1: 2, 4: 2})
        >>> tokenizer.get_vocabulary(), tokenizer.word_counts, tokenizer.longest_line
        (['', '[UNK]', 'the', 'watson'], [0, 0, 5, 3], 4)
        """
        words = sorted(word_counts, key=lambda w: (word_counts[w], w), reverse=True)
        if self.max_tokens is not None:
            words = words[: self.max_tokens - 2]
        self.vectorizer.reset_state()
        self.set_vocabulary([self.pad_token, self.oov_token, *words])
        self.word_counts = [0, 0, *(word_counts[w] for w in words)]
        self.line_lengths = dict(sorted(line_lengths.items()))

    @property
    def longest_line(self):
        """The words of the longest line `adapt` saw (from `line_lengths`), or None."""
        return None if self.line_lengths is None else max(self.line_lengths, default=0)

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary: a list of words, or a file of one word per line.

        Args:
            vocabulary: as the constructor's.
        """
        if isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().split("\n")[:-1]
        vocabulary = list(vocabulary)
        if vocabulary[:2] != ["", "[UNK]"]:
            raise ValueError(
                f'`vocabulary` must start with "" (padding) and "[UNK]". Received: {vocabulary[:2]}'
            )
        # TextVectorization adds padding and [UNK] itself.
        self.vectorizer.set_vocabulary(vocabulary[2:])
        self._index, self._words = None, None

    def get_vocabulary(self):
        """Returns the vocabulary as a list of strings, in id order."""
        return [str(w) for w in self.vectorizer.get_vocabulary()]

    def vocabulary_size(self):
        """Returns the number of ids, padding and `[UNK]` included."""
        return self.vectorizer.vocabulary_size()

    def id_to_token(self, id):
        """Returns the word of one id."""
        vocabulary = self.get_vocabulary()
        if not 0 <= id < len(vocabulary):
            raise ValueError(f"`id` must be in [0, {len(vocabulary)}). Received: id={id}")
        return vocabulary[id]

    def words_of(self, ids):
        """Maps ids to words, one word per id (the word table kept between calls).

        Args:
            ids: an int, or an array or nested list of ints.

        Returns:
            A word for an int, else a nested list of words of the same shape.

        Example:
        >>> WordTokenizer(vocabulary=["", "[UNK]", "a", "heart"]).words_of([[2, 3], [3, 0]])
        [['a', 'heart'], ['heart', '']]
        """
        if self._words is None:
            self._words = np.asarray(self.get_vocabulary(), dtype=object)
        words = self._words[np.asarray(ids)]
        return words.tolist() if isinstance(words, np.ndarray) else words

    def context_length(self, sequence_length=None):
        """The rows' length in words for a model of the adapted lines:
        `sequence_length`, or the longest line minus one when None, at most
        `MAX_SEQUENCE_LENGTH` (the tutorial's choice, capped). Both
        `NGramVectorizer` and `NextWordLSTMCausalLMPreprocessor` rows take it.

        Args:
            sequence_length: int > 0 or None.

        Returns:
            int.

        Raises:
            ValueError: `sequence_length` is not positive, or no adapted line
                has two words (nothing to predict).

        Example:
        >>> tokenizer = WordTokenizer()
        >>> tokenizer.adapt(["it is with a heavy heart", "a heavy pen"])
        >>> tokenizer.context_length(), tokenizer.context_length(3)
        (5, 3)
        """
        if sequence_length is not None and sequence_length < 1:
            raise ValueError(
                f"`sequence_length` must be a positive integer. "
                f"Received: sequence_length={sequence_length}"
            )
        if (self.longest_line or 0) < 2:
            raise ValueError(
                "no line to learn from has two or more words, so there is no next word to learn."
            )
        return sequence_length or min(self.longest_line - 1, MAX_SEQUENCE_LENGTH)

    def token_to_id(self, token):
        """Returns the id of one (standardized) word, 1 (`[UNK]`) if unknown."""
        if self._index is None:
            self._index = {w: i for i, w in enumerate(self.get_vocabulary())}
        return self._index.get(token, OOV_ID)

    def tokenize(self, inputs):
        """Maps text to word ids.

        Args:
            inputs: a string, or a list, array or `tf.Tensor` of strings.

        Returns:
            For one string, an int32 `tf.Tensor` of its ids; for several, a
            `tf.RaggedTensor` `(lines, None)`.
        """
        scalar = isinstance(inputs, str) or (
            isinstance(inputs, tf.Tensor) and inputs.shape.rank == 0
        )
        lines = tf.reshape(tf.convert_to_tensor(inputs, tf.string), [-1])
        ids = tf.cast(self.vectorizer(lines), "int32")
        ids = tf.RaggedTensor.from_tensor(ids, padding=PAD_ID, row_splits_dtype="int32")
        return ids[0] if scalar else ids

    def detokenize(self, inputs):
        """Maps ids back to text, words joined by spaces, padding dropped.

        Args:
            inputs: ids, one row (a string back) or a batch of rows (a list of
                strings back), as a list, array, tensor or `tf.RaggedTensor`.

        Returns:
            A string or a list of strings.
        """
        if isinstance(inputs, tf.RaggedTensor):
            inputs = inputs.to_list()
        elif not isinstance(inputs, list):
            inputs = keras.ops.convert_to_numpy(inputs).tolist()
        vocabulary = np.asarray(self.get_vocabulary(), dtype=object)
        if not inputs or not isinstance(inputs[0], list):
            return " ".join(vocabulary[i] for i in inputs if i != PAD_ID)
        return [self.detokenize(row) for row in inputs]

    def call(self, inputs):
        return self.tokenize(inputs)

    def save_assets(self, dir_path):
        with open(os.path.join(dir_path, VOCABULARY_FILE), "w", encoding="utf-8") as f:
            f.writelines(f"{word}\n" for word in self.get_vocabulary())

    def load_assets(self, dir_path):
        # Files saved before `NGramVectorizer` held a tokenizer (keras_nextword
        # 0.1) have no assets here: the vocabulary of the config stands.
        if dir_path is not None and os.path.isfile(os.path.join(dir_path, VOCABULARY_FILE)):
            self.set_vocabulary(os.path.join(dir_path, VOCABULARY_FILE))

    def get_config(self):
        config = super().get_config()
        vocabulary = self.get_vocabulary() if self.vocabulary_size() > 2 else None
        config.update({"vocabulary": vocabulary, "max_tokens": self.max_tokens})
        return config


def _as_line_batches(data, batch_size):
    if isinstance(data, tf.data.Dataset):
        if data.element_spec.shape.rank == 0:
            data = data.batch(batch_size)
        return data
    lines = tf.reshape(tf.convert_to_tensor(data, dtype=tf.string), [-1])
    return tf.data.Dataset.from_tensor_slices(lines).batch(batch_size)
