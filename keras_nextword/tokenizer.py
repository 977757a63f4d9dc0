"""`WordTokenizer`: the package's words as a `keras_hub.tokenizers.Tokenizer`.

Built on `keras.layers.TextVectorization` with the tutorial's standardization
and split (`preprocessing.split_words`, the Keras-2 `Tokenizer`'s words). Id 0
is padding (`""`) and id 1 `[UNK]`: unknown words map to it, never dropped.
Like every `TextVectorization`, it runs on TensorFlow ops whatever the Keras
backend: in `tf.data` or eagerly, never inside a compiled JAX or torch graph.
"""

import os

import keras
import numpy as np

from keras_nextword.environment import keras_hub, tf
from keras_nextword.preprocessing import OOV_ID, PAD_ID, split_words

VOCABULARY_FILE = "vocabulary.txt"


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
    >>> tokenizer.vocabulary_size()
    9
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
        # As in NGramVectorizer: no weights, never inside a compiled step.
        for layer in self.vectorizer._flatten_layers():
            layer.supports_jit = True
            layer.built = True
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.file_assets = [VOCABULARY_FILE]
        self.pad_token, self.pad_token_id = "", PAD_ID
        self.oov_token, self.oov_token_id = "[UNK]", OOV_ID
        self._index = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.built = True

    def adapt(self, lines):
        """Builds the vocabulary from lines of text, most frequent words first.

        Args:
            lines: a list of strings or a `tf.data.Dataset` of strings.
        """
        self.vectorizer.adapt(lines)
        self._index = None

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
        self._index = None

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
        self.set_vocabulary(os.path.join(dir_path, VOCABULARY_FILE))

    def get_config(self):
        config = super().get_config()
        vocabulary = self.get_vocabulary() if self.vocabulary_size() > 2 else None
        config.update({"vocabulary": vocabulary, "max_tokens": self.max_tokens})
        return config
