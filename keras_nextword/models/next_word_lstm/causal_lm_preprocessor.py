"""`NextWordLSTMCausalLMPreprocessor`: raw strings to `(x, y, sample_weight)`, as keras-hub's."""

import keras

from keras_nextword.models.next_word_lstm.backbone import NextWordLSTMBackbone
from keras_nextword.runtime.environment import keras_hub, tf
from keras_nextword.text.ngram_vectorizer import _maybe_to_backend
from keras_nextword.text.tokenizer import MAX_SEQUENCE_LENGTH, PAD_ID, WordTokenizer


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordLSTMCausalLMPreprocessor(keras_hub.models.CausalLMPreprocessor):
    """A keras-hub `CausalLMPreprocessor` for `WordTokenizer` words.

    Each string becomes one post-padded row of at most `sequence_length`
    word ids, and the targets are the same words one position on: `x` is the
    token ids `(batch, sequence_length)` (the backbone's one input; no
    padding mask, since rows are post-padded and the LSTM needs none), `y` the
    next word at every position, `sample_weight` 1.0 where `y` is a word and
    0.0 on padding. Longer lines are cut to their first words. There are no
    start or end tokens. It runs in `tf.data` (`dataset.map(preprocessor)`) and
    eagerly, as keras-hub's preprocessors do; eager outputs are backend
    tensors. `generate_preprocess` and `generate_postprocess` give and take
    the `{"token_ids", "padding_mask"}` that `NextWordLSTM.generate_step` takes.

    It is the preprocessor `from_text` gives a model. It also answers what
    the package asks of a model's preprocessor (`tokenizer`,
    `sequence_length`, `tokenize`, `token_to_id`, `get_vocabulary`,
    `vocabulary_size`, `word_dropout`, `word_counts`), the interface
    `NGramVectorizer` (models saved by keras_nextword 0.1) answers too.

    Args:
        tokenizer: a `WordTokenizer` (adapted, or with a vocabulary).
        sequence_length: int, the length of the rows.
        add_start_token: must be False (no start token); for keras-hub's config.
        add_end_token: must be False (no end token); for keras-hub's config.
        word_dropout: bool. Training pipelines (`keras_nextword.text.pipeline`)
            replace each occurrence of a word seen `n` times by `[UNK]` with
            probability `1 / (1 + n)`, as `NGramVectorizer`'s.
        word_counts: list of int or None, the occurrences of each id in the
            training text (`tokenizer.word_counts` when None), which
            `word_dropout` reads.
        **kwargs: `keras_hub.models.Preprocessor` arguments (`name`, ...).

    Example:
    >>> tokenizer = WordTokenizer(vocabulary=["", "[UNK]", "a", "heavy", "heart"])
    >>> preprocessor = NextWordLSTMCausalLMPreprocessor(tokenizer, sequence_length=4)
    >>> x, y, sample_weight = preprocessor(["a heavy heart", "heart"])
    >>> keras.ops.convert_to_numpy(x).tolist()
    [[2, 3, 4, 0], [4, 0, 0, 0]]
    >>> keras.ops.convert_to_numpy(y).tolist()
    [[3, 4, 0, 0], [0, 0, 0, 0]]
    >>> keras.ops.convert_to_numpy(sample_weight).tolist()
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """

    backbone_cls = NextWordLSTMBackbone
    tokenizer_cls = WordTokenizer

    def __init__(
        self,
        tokenizer,
        sequence_length=MAX_SEQUENCE_LENGTH,
        add_start_token=False,
        add_end_token=False,
        word_dropout=False,
        word_counts=None,
        **kwargs,
    ):
        if add_start_token or add_end_token:
            raise ValueError("`WordTokenizer` has no start or end token to add.")
        super().__init__(
            tokenizer, sequence_length, add_start_token=False, add_end_token=False, **kwargs
        )
        self.word_dropout = word_dropout
        self.word_counts = word_counts if word_counts is not None else tokenizer.word_counts
        self.built = True

    @classmethod
    def from_counts(
        cls, word_counts, line_lengths, max_tokens=None, sequence_length=None, **kwargs
    ):
        """A preprocessor over a new `WordTokenizer` of counted words, as
        `NGramVectorizer.adapt_counts` adapts one (`from_text`'s).

        Args:
            word_counts: a mapping of word to its occurrences
                (`keras_nextword.text.first_pass.count_words`).
            line_lengths: a mapping of line length in words to lines.
            max_tokens: int or None, the vocabulary cap (padding and `[UNK]` included).
            sequence_length: int or None for the longest line minus one, at
                most 64 (`WordTokenizer.context_length`).
            **kwargs: the constructor's other arguments (`word_dropout`).

        Returns:
            A `NextWordLSTMCausalLMPreprocessor`.

        Example:
        >>> preprocessor = NextWordLSTMCausalLMPreprocessor.from_counts(
        ...     {"heavy": 2, "heart": 1}, {2: 1, 1: 1}, word_dropout=True
        ... )
        >>> preprocessor.get_vocabulary(), preprocessor.sequence_length, preprocessor.word_counts
        (['', '[UNK]', 'heavy', 'heart'], 1, [0, 0, 2, 1])
        """
        tokenizer = WordTokenizer(max_tokens=max_tokens, name="word_tokenizer")
        tokenizer.adapt_counts(word_counts, line_lengths)
        sequence_length = tokenizer.context_length(sequence_length)
        return cls(tokenizer, sequence_length, **kwargs)

    def build(self, input_shape):
        # keras-hub's builds a start/end packer; rows here need only padding.
        self.built = True

    def _padded_ids(self, x, sequence_length):
        scalar = isinstance(x, str) or (isinstance(x, tf.Tensor) and x.shape.rank == 0)
        lines = tf.reshape(tf.convert_to_tensor(x, tf.string), [-1])
        ids = self.tokenizer.tokenize(lines)
        if sequence_length is None:
            return ids.to_tensor(PAD_ID), scalar
        ids = ids[:, :sequence_length]
        return ids.to_tensor(PAD_ID, shape=[None, sequence_length]), scalar

    def call(self, x, y=None, sample_weight=None, sequence_length=None):
        """Strings to `(token_ids, next_ids, sample_weight)`; `y` and
        `sample_weight` are ignored (the text is its own target)."""
        sequence_length = sequence_length or self.sequence_length
        ids, scalar = self._padded_ids(x, sequence_length + 1)
        token_ids, y = ids[:, :-1], ids[:, 1:]
        sample_weight = tf.cast(tf.not_equal(y, PAD_ID), "float32")
        outputs = (token_ids, y, sample_weight)
        if scalar:
            outputs = tuple(t[0] for t in outputs)
        return tuple(_maybe_to_backend(t) for t in outputs)

    def generate_preprocess(self, x, sequence_length=None):
        """Strings to `{"token_ids", "padding_mask"}`, post-padded to
        `sequence_length` (the longest prompt when None), for `generate_step`.

        Args:
            x: a string or a list of strings.
            sequence_length: int or None.

        Returns:
            A dict of `token_ids` (int32) and `padding_mask` (bool), each
            `(batch, length)` (or `(length,)` for one string).
        """
        ids, scalar = self._padded_ids(x, sequence_length)
        ids = ids[0] if scalar else ids
        return {
            "token_ids": _maybe_to_backend(ids),
            "padding_mask": _maybe_to_backend(tf.not_equal(ids, PAD_ID)),
        }

    def generate_postprocess(self, x):
        """`{"token_ids", "padding_mask"}` back to strings (masked ids dropped).

        Args:
            x: a dict as `generate_step` returns.

        Returns:
            A string per row (a list), or one string for one row.
        """
        ids = keras.ops.convert_to_numpy(x["token_ids"])
        mask = keras.ops.convert_to_numpy(x["padding_mask"]).astype(bool)
        ids = ids * mask  # masked positions become padding, which detokenize drops
        return self.tokenizer.detokenize(ids)

    def tokenize(self, text):
        """The tokenizer's ids, a `tf.RaggedTensor` `(lines, None)`."""
        return self.tokenizer.tokenize(tf.reshape(tf.convert_to_tensor(text, tf.string), [-1]))

    def detokenize(self, ids):
        """Maps ids back to words, as `NGramVectorizer.detokenize` (`tokenizer.words_of`)."""
        return self.tokenizer.words_of(ids)

    def token_to_id(self, token):
        """The tokenizer's id of one word (1, `[UNK]`, if unknown)."""
        return self.tokenizer.token_to_id(token)

    def get_vocabulary(self):
        """The tokenizer's vocabulary, in id order."""
        return self.tokenizer.get_vocabulary()

    def vocabulary_size(self):
        """The number of ids, padding and `[UNK]` included."""
        return self.tokenizer.vocabulary_size()

    def get_config(self):
        config = super().get_config()
        config.update({"word_dropout": self.word_dropout, "word_counts": self.word_counts})
        return config
