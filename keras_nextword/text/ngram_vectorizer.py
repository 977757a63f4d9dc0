"""`NGramVectorizer`: text in, padded prefix n-grams and next-word targets out.

This module is the tf.data seam of the package: `keras.layers.TextVectorization`
runs on TensorFlow ops whatever the Keras backend, so everything here is
TensorFlow and belongs in `tf.data` pipelines or eager code, never inside a
compiled JAX or torch graph.
"""

import keras

from keras_nextword.runtime.environment import tf

# The words are the tokenizer's; these names are read from here too.
from keras_nextword.text.tokenizer import (  # noqa: F401
    FILTERS,
    MAX_SEQUENCE_LENGTH,
    OOV_ID,
    PAD_ID,
    WordTokenizer,
    _as_line_batches,
    python_split_words,
    split_words,
)


@keras.saving.register_keras_serializable(package="keras_nextword")
class NGramVectorizer(keras.layers.Layer):
    """Turns lines of text into prefix n-grams and next-word targets.

    The tutorial-compatible n-gram layer (`from_text` gives a model a
    `NextWordLSTMCausalLMPreprocessor` over the same tokenizer; a model also
    takes this layer as its preprocessor). Built on a `WordTokenizer`
    (`keras.layers.TextVectorization` inside), its `tokenizer`, whose words are exactly the Keras-2 `Tokenizer`'s of the
    tutorial: lowercase, the characters
    ``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~`` plus tab and newline become spaces,
    apostrophes stay inside words. Index 0 is padding and index 1 the
    out-of-vocabulary token `[UNK]`; unknown words map to 1, never dropped.

    Called on a batch of lines it returns `(inputs, targets)`: for every line of
    `n` words, the `n - 1` prefixes, each pre-padded (or cut from the front) to
    `sequence_length`, and the word that follows each prefix. No n-gram crosses
    a line. `NextWordLSTM` reads pre-padded rows as it reads post-padded ones
    (the same logits at the last word), so `model.fit(inputs, ...)` on them
    trains the model a post-padded run trains. Runs eagerly and inside
    `tf.data.Dataset.map`; eager calls return backend tensors, calls inside
    `tf.data` return `tf.Tensor`s.

    Args:
        max_tokens: int or None. Cap on the vocabulary, padding and `[UNK]`
            included. None keeps every word seen by `adapt()`.
        sequence_length: int or None. Length of the padded inputs. None sets it
            in `adapt()` to the longest line minus one, as the tutorial did, up
            to `MAX_SEQUENCE_LENGTH` (64: a text without line breaks is one
            line, and longer lines continue in the next row).
        vocabulary: list of str or None. A vocabulary to use instead of
            `adapt()`, as returned by `get_vocabulary()`.
        word_dropout: bool. Training pipelines (`keras_nextword.text.pipeline`)
            replace each occurrence of a word seen `n` times in `adapt()` by
            `[UNK]` with probability `1 / (1 + n)`, so that a model learns how
            much mass unseen words deserve.
        word_counts: list of int or None. Occurrences of each vocabulary entry
            in the adapted text (set by `adapt()`; used by `word_dropout`).

    Examples:
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["It is with a heavy heart", "that I take up my pen"])
    >>> vectorizer.sequence_length
    5
    >>> inputs, targets = vectorizer(["a heavy heart"])
    >>> keras.ops.convert_to_numpy(inputs).tolist()
    [[0, 0, 0, 0, 13], [0, 0, 0, 13, 11]]
    >>> vectorizer.detokenize(keras.ops.convert_to_numpy(targets))
    ['heavy', 'heart']
    """

    def __init__(
        self,
        max_tokens=None,
        sequence_length=None,
        vocabulary=None,
        word_dropout=False,
        word_counts=None,
        **kwargs,
    ):
        if max_tokens is not None and max_tokens < 3:
            raise ValueError(
                f"`max_tokens` must be at least 3 (padding, [UNK] and one word). "
                f"Received: max_tokens={max_tokens}"
            )
        if sequence_length is not None and sequence_length < 1:
            raise ValueError(
                f"`sequence_length` must be a positive integer. "
                f"Received: sequence_length={sequence_length}"
            )
        super().__init__(**kwargs)
        self.max_tokens = max_tokens
        self.sequence_length = sequence_length
        self.word_dropout = word_dropout
        self.word_counts = word_counts
        # The words and their ids are the tokenizer's; this layer adds the
        # n-grams, the training context length and the counts word dropout reads.
        self.tokenizer = WordTokenizer(vocabulary, max_tokens, name="word_tokenizer")
        # String inputs: no public Keras switch (as in `WordTokenizer`).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self._reset_lookup_cache()
        self.built = True  # no weights: the vocabulary lives in `tokenizer`

    @property
    def vectorizer(self):
        """The tokenizer's `keras.layers.TextVectorization`."""
        return self.tokenizer.vectorizer

    def adapt(self, data, batch_size=1024):
        """Builds the vocabulary (and `sequence_length` if unset) from lines of text.

        Args:
            data: a string, a list or array of strings, or a `tf.data.Dataset`
                of strings (batched or not). Each string is one line.
            batch_size: lines per step when `data` is not already batched.
        """
        self.tokenizer.adapt(data, batch_size)
        self._adapted()

    def adapt_counts(self, word_counts, line_lengths):
        """`adapt` from the counts of `keras_nextword.text.first_pass.count_words`.

        Args:
            word_counts: a mapping of word to its occurrences.
            line_lengths: a mapping of line length in words to lines.

        Example:
        >>> vectorizer = NGramVectorizer()
        >>> vectorizer.adapt_counts({"heavy": 2, "heart": 1}, {2: 1, 1: 1})
        >>> vectorizer.get_vocabulary(), vectorizer.sequence_length
        (['', '[UNK]', 'heavy', 'heart'], 1)
        """
        self.tokenizer.adapt_counts(word_counts, line_lengths)
        self._adapted()

    def _adapted(self):
        self._reset_lookup_cache()
        self.word_counts = self.tokenizer.word_counts
        self.sequence_length = self.tokenizer.context_length(self.sequence_length)

    def _reset_lookup_cache(self):
        # Traced once per vocabulary: keeps TextVectorization's output a tf.Tensor
        # on every backend and saves TensorFlow's eager per-op overhead.
        self._tokenize = tf.function(
            self._tokenize_lines, input_signature=[tf.TensorSpec([None], tf.string)]
        )

    def vocabulary_size(self):
        """Returns the vocabulary size, padding and `[UNK]` included."""
        return self.tokenizer.vocabulary_size()

    def get_vocabulary(self, include_special_tokens=True):
        """Returns the vocabulary as a list of strings, index order."""
        vocabulary = self.tokenizer.get_vocabulary()
        return vocabulary if include_special_tokens else vocabulary[OOV_ID + 1 :]

    def token_to_id(self, word):
        """Returns the id of one (standardized) word, `OOV_ID` if unknown."""
        return self.tokenizer.token_to_id(word)

    def tokenize(self, text):
        """Maps lines of text to word ids, one ragged row per line.

        Args:
            text: a string, or a list, array or `tf.Tensor` of strings.

        Returns:
            A `tf.RaggedTensor` of int32 ids, shape `(lines, None)`.
        """
        return self._tokenize(tf.reshape(tf.convert_to_tensor(text, tf.string), [-1]))

    def _tokenize_lines(self, lines):
        # Words never map to PAD_ID, so the padded zeros mark the row ends.
        ids = tf.cast(self.vectorizer(lines), "int32")
        return tf.RaggedTensor.from_tensor(ids, padding=PAD_ID, row_splits_dtype="int32")

    def detokenize(self, ids):
        """Maps ids back to words: an int returns a word, an array a nested list
        (the tokenizer's `words_of`)."""
        return self.tokenizer.words_of(ids)

    def contexts(self, text):
        """Each line's last `sequence_length` word ids, pre-padded: the model input
        that predicts the word after the line (the tutorial's prompt encoding);
        `NextWordLSTM`'s logits at the last position are those of the words alone."""
        ids = self.tokenize(text)
        ids = ids[:, -self.sequence_length :]
        # Pre-pad: reverse each row, pad at the end, reverse back.
        padded = ids[:, ::-1].to_tensor(PAD_ID, shape=[None, self.sequence_length])
        return _maybe_to_backend(padded[:, ::-1])

    def call(self, inputs):
        ids = self.tokenize(inputs)
        flat, row_starts, row_lengths = ids.flat_values, ids.row_starts(), ids.row_lengths()
        line_start = tf.repeat(row_starts, row_lengths)
        position = tf.range(tf.shape(flat)[0])
        # Every word but the first of its line is a target; its context is the
        # `sequence_length` positions before it that lie in the same line.
        target_position = tf.boolean_mask(position, position > line_start)
        start = tf.boolean_mask(line_start, position > line_start)
        window = target_position[:, None] + tf.range(-self.sequence_length, 0)[None, :]
        in_line = window >= start[:, None]
        inputs = tf.where(in_line, tf.gather(flat, tf.maximum(window, 0)), PAD_ID)
        targets = tf.gather(flat, target_position)
        return _maybe_to_backend(inputs), _maybe_to_backend(targets)

    def compute_output_spec(self, inputs):
        return (
            keras.KerasTensor((None, self.sequence_length), dtype="int32"),
            keras.KerasTensor((None,), dtype="int32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_tokens": self.max_tokens,
                "sequence_length": self.sequence_length,
                "vocabulary": self.get_vocabulary() if self.vocabulary_size() else None,
                "word_dropout": self.word_dropout,
                "word_counts": self.word_counts,
            }
        )
        return config


def _maybe_to_backend(x):
    """Inside tf.data (or on the TF backend) keep tf tensors; else hand back backend ones."""
    if tf.inside_function() or keras.backend.backend() == "tensorflow":
        return x
    return keras.ops.convert_to_tensor(x.numpy())
