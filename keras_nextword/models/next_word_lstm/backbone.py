"""`NextWordLSTMBackbone`: token ids to the LSTM's hidden states, a keras-hub `Backbone`."""

import keras
from keras import ops

from keras_nextword.layers.initializers import NumPyInitializer
from keras_nextword.layers.line_starts import LineStartLSTMCell, LineStarts
from keras_nextword.runtime import backend
from keras_nextword.runtime.environment import keras_hub


def check_positive_int(name, value):
    """Raises a `ValueError` naming `name` unless `value` is an int > 0.

    Example:
    >>> check_positive_int("lstm_units", 0)
    Traceback (most recent call last):
    ...
    ValueError: `lstm_units` must be a positive integer. Received: lstm_units=0
    """
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="keras_nextword")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout`, its mask traced as `backend.fast_compiling_random`
    says: the same layer, whose training step compiles faster on JAX's CPU backend.

    Example:
    >>> import numpy as np
    >>> dropped = Dropout(0.5, seed=1)(np.ones((2, 4)), training=True)
    >>> set(np.asarray(dropped).ravel().tolist()) <= {0.0, 2.0}
    True
    """

    def call(self, inputs, training=False):
        with backend.fast_compiling_random():
            return super().call(inputs, training=training)


@keras.saving.register_keras_serializable(package="keras_nextword")
class LeadingPadding(keras.layers.Layer):
    """Moves each row's leading padding (id 0) to its end, or moves it back.

    `LeadingPadding()(token_ids)` rolls each row left by its count of leading
    zeros, so a pre-padded row becomes post-padded and a post-padded or
    unpadded row stays as it is (an identity gather: the same values).
    `LeadingPadding(restore=True)(values, token_ids)` rolls `values` `(batch,
    length, ...)` back by the same counts, so that position `i` of the result
    belongs to position `i` of `token_ids`. No weights; `keras.ops` only.

    Args:
        restore: bool, roll `values` back instead of re-laying `token_ids`.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    >>> import numpy as np
    >>> ids = np.array([[0, 0, 5, 7], [5, 7, 0, 0]])
    >>> relaid = LeadingPadding()(ids)
    >>> keras.ops.convert_to_numpy(relaid).tolist()
    [[5, 7, 0, 0], [5, 7, 0, 0]]
    >>> values = keras.ops.cast(relaid[..., None], "float32")
    >>> back = LeadingPadding(restore=True)(values, ids)
    >>> keras.ops.convert_to_numpy(back)[..., 0].tolist()
    [[0.0, 0.0, 5.0, 7.0], [5.0, 7.0, 0.0, 0.0]]
    """

    def __init__(self, restore=False, **kwargs):
        super().__init__(**kwargs)
        self.restore = restore

    def call(self, inputs, token_ids=None):
        token_ids = inputs if token_ids is None else token_ids
        length = ops.shape(token_ids)[1]
        # The first real position (0 for a row of padding only: nothing moves).
        shift = ops.argmax(ops.cast(ops.not_equal(token_ids, 0), "int32"), axis=1)
        shift = ops.cast(shift, "int32")
        if self.restore:
            shift = length - shift
        positions = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
        indices = ops.mod(positions + ops.expand_dims(shift, 1), length)
        if len(inputs.shape) == 3:
            indices = ops.broadcast_to(ops.expand_dims(indices, -1), ops.shape(inputs))
        return ops.take_along_axis(inputs, indices, axis=1)

    def compute_output_spec(self, inputs, token_ids=None):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "restore": self.restore}


def lstm_layer(units, line_starts=False, dtype=None):
    """The backbone's LSTM layer, named `"lstm"`, with Keras' default initial
    weights drawn without compiling (`initializers`): `keras.layers.LSTM`, or
    with `line_starts` a `keras.layers.RNN` over a `LineStartLSTMCell`, whose
    inputs end with a line-start flag.

    Example:
    >>> lstm_layer(8, line_starts=True).cell.__class__.__name__
    'LineStartLSTMCell'
    """
    arguments = dict(
        kernel_initializer=NumPyInitializer("glorot_uniform"),
        recurrent_initializer=NumPyInitializer("orthogonal"),
        bias_initializer=NumPyInitializer("lstm_bias"),
        unit_forget_bias=False,  # in the bias initializer
        dtype=dtype,
    )
    if line_starts:
        cell = LineStartLSTMCell(units, **arguments, name="lstm_cell")
        return keras.layers.RNN(cell, return_sequences=True, dtype=dtype, name="lstm")
    return keras.layers.LSTM(units, return_sequences=True, **arguments, name="lstm")


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordLSTMBackbone(keras_hub.models.Backbone):
    """Embedding -> dropout -> LSTM: the hidden state of every position.

    Token ids `(batch, length)` give hidden states `(batch, length,
    lstm_units)`, each from the words up to its position. Id 0 is padding,
    before a row's words, after them or both: padding never changes a word's
    hidden state. The LSTM runs without a mask (Keras uses cuDNN only without
    one), so padding after the words changes nothing, and `LeadingPadding`
    moves a row's leading padding to its end before the LSTM and the hidden
    states back after it (a pre-padded row, as `NGramVectorizer` and
    `keras.utils.pad_sequences` give, reads as the post-padded one; a
    post-padded or unpadded row is left as it is). There is no padding-mask
    input. With `line_starts`, a row may hold several lines one after another,
    each line's first id negated (`-i` for word `i`, as
    `keras_nextword.text.packing` packs short lines): the LSTM state restarts
    there (`LineStartLSTMCell`, Keras' generic loop: no cuDNN on a GPU), so
    each line's hidden states are those of a row of its own. Any head can sit on it;
    `NextWordLSTM` puts the next-word output layer there, reading
    `token_embedding` when tied. It saves and loads as every keras-hub
    backbone (`save_to_preset`, `keras_hub.models.Backbone.from_preset`).

    Args:
        vocabulary_size: int, the number of token ids (padding and `[UNK]` included).
        embedding_dim: int, the embedding width.
        lstm_units: int, the LSTM width.
        dropout: float in [0, 1), dropout after the embedding while training.
        tie_weights: bool, make `token_embedding` a
            `keras.layers.ReversibleEmbedding`, which an output layer can
            call with `reverse=True`.
        line_starts: bool, read negative ids as line starts in packed rows.
        dtype: a dtype policy or its name, or None.
        **kwargs: `keras.Model` arguments (`name`).

    Example:
    >>> import numpy as np
    >>> backbone = NextWordLSTMBackbone(vocabulary_size=50, embedding_dim=8, lstm_units=16)
    >>> tuple(backbone(np.array([[5, 7, 9, 0]])).shape)
    (1, 4, 16)
    >>> rows = np.array([[5, 7, 9, 0, 0], [0, 0, 5, 7, 9]])
    >>> post, pre = keras.ops.convert_to_numpy(backbone(rows))
    >>> np.allclose(post[:3], pre[2:], atol=1e-6)
    True

    Two lines packed in one row, the second's first id negated:
    >>> packing = NextWordLSTMBackbone(vocabulary_size=50, embedding_dim=8, lstm_units=16, line_starts=True)
    >>> packed, alone = keras.ops.convert_to_numpy(packing(np.array([[5, 7, -9, 4], [9, 4, 0, 0]])))
    >>> np.allclose(packed[2:], alone[:2], atol=1e-6)
    True
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=100,
        lstm_units=150,
        dropout=0.0,
        tie_weights=False,
        line_starts=False,
        dtype=None,
        **kwargs,
    ):
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("embedding_dim", embedding_dim)
        check_positive_int("lstm_units", lstm_units)
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        # === Layers ===
        embedding = keras.layers.ReversibleEmbedding if tie_weights else keras.layers.Embedding
        self.token_embedding = embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=NumPyInitializer("uniform"),
            dtype=dtype,
            name="embedding",
        )
        self.embedding_dropout = Dropout(dropout, dtype=dtype, name="embedding_dropout")
        self.lstm = lstm_layer(lstm_units, line_starts, dtype)
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        relaid = LeadingPadding(name="padding_to_end")(token_ids)
        if line_starts:
            relaid, starts = LineStarts(dtype=dtype, name="line_starts")(relaid)
        embedded = self.embedding_dropout(self.token_embedding(relaid))
        if line_starts:
            embedded = keras.layers.Concatenate(dtype=dtype, name="with_line_starts")(
                [embedded, starts]
            )
        hidden = self.lstm(embedded)
        hidden = LeadingPadding(restore=True, dtype=dtype, name="padding_restored")(
            hidden, token_ids
        )
        super().__init__(inputs=token_ids, outputs=hidden, dtype=dtype, **kwargs)
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.dropout = dropout
        self.tie_weights = tie_weights
        self.line_starts = line_starts

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "lstm_units": self.lstm_units,
                "dropout": self.dropout,
                "tie_weights": self.tie_weights,
                "line_starts": self.line_starts,
            }
        )
        return config
