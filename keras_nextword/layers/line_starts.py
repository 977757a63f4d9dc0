"""Rows that hold several lines: an LSTM whose state restarts where a line starts.

A packed training row (`keras_nextword.text.packing`) holds several short
lines one after another; each line's first id is negated. `LineStarts`
reads those ids back and flags the line starts, and `LineStartLSTMCell`
zeroes the LSTM state at each flag, so that every line's words see the words
before them in their own line only, as in a row of their own.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_nextword")
class LineStarts(keras.layers.Layer):
    """Token ids with line starts marked negative, to ids and start flags.

    Id `-i` is word `i` starting a line packed after another in one row; id 0
    is padding, positive ids are words within a line. A row that starts with
    its line needs no mark: the state starts at zero there.

    Args:
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Returns (when called on ids `(batch, length)`):
        `(ids, starts)`: the ids made positive, and `(batch, length, 1)`
        floats in the layer's compute dtype, 1 where a line starts.

    Example:
    >>> import numpy as np
    >>> ids, starts = LineStarts()(np.array([[5, 7, -4, 2, 0]]))
    >>> keras.ops.convert_to_numpy(ids).tolist()
    [[5, 7, 4, 2, 0]]
    >>> keras.ops.convert_to_numpy(starts)[..., 0].tolist()
    [[0.0, 0.0, 1.0, 0.0, 0.0]]
    """

    def call(self, token_ids):
        starts = ops.cast(ops.less(token_ids, 0), self.compute_dtype)
        return ops.abs(token_ids), ops.expand_dims(starts, -1)

    def compute_output_spec(self, token_ids):
        return (
            keras.KerasTensor(token_ids.shape, dtype=token_ids.dtype),
            keras.KerasTensor((*token_ids.shape, 1), dtype=self.compute_dtype),
        )


@keras.saving.register_keras_serializable(package="keras_nextword")
class LineStartLSTMCell(keras.layers.LSTMCell):
    """`keras.layers.LSTMCell` whose last input feature flags a line start:
    where it is 1, the state `(h, c)` is zeroed before the step.

    The other features are the cell's input, so its weights (`kernel`,
    `recurrent_kernel`, `bias`) have the shapes of an LSTM cell on them: a
    model reads them as it reads `keras.layers.LSTM`'s. Under
    `keras.layers.RNN` it runs Keras' generic loop (no cuDNN on a GPU).

    Args:
        units: int, the LSTM width.
        **kwargs: `keras.layers.LSTMCell` arguments.

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.RNN(LineStartLSTMCell(4, seed=1), return_sequences=True)
    >>> x = np.random.default_rng(0).normal(size=(1, 4, 3)).astype("float32")
    >>> flags = np.array([[[0], [0], [1], [0]]], "float32")
    >>> packed = keras.ops.convert_to_numpy(rnn(np.concatenate([x, flags], -1)))
    >>> alone = keras.ops.convert_to_numpy(rnn(np.concatenate([x[:, 2:], flags[:, :2]], -1)))
    >>> np.allclose(packed[:, 2:], alone, atol=1e-6)
    True
    """

    def build(self, input_shape):
        super().build((*input_shape[:-1], input_shape[-1] - 1))

    def call(self, inputs, states, training=False):
        keep = 1.0 - inputs[..., -1:]
        states = [state * ops.cast(keep, state.dtype) for state in states]
        return super().call(inputs[..., :-1], states, training=training)
