"""Keras' default initial weights for the LSTM model, drawn with NumPy.

On JAX every Keras initializer is a compiled program, one per operation and
shape (random uniform and normal draws, the orthogonal matrix's QR, zeros),
compiled while `from_text` builds its model, before training. These draw the same
distributions as Keras' defaults with NumPy, which compiles nothing: values
come from NumPy's global generator, which `keras.utils.set_random_seed` seeds.
"""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="keras_nextword")
class NumPyInitializer(keras.initializers.Initializer):
    """Keras' default initial weights, drawn with NumPy.

    Args:
        distribution: `"uniform"` (an `Embedding`'s: uniform in +-0.05),
            `"glorot_uniform"` (a kernel's), `"orthogonal"` (an LSTM's
            recurrent kernel), `"zeros"` or `"lstm_bias"` (zeros, ones on the
            forget gate: Keras' `unit_forget_bias`).

    Example:
    >>> keras.utils.set_random_seed(0)
    >>> bias = NumPyInitializer("lstm_bias")((8,))
    >>> bias.tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    >>> q = NumPyInitializer("orthogonal")((3, 3))
    >>> np.allclose(q @ q.T, np.eye(3), atol=1e-6)
    True
    """

    DISTRIBUTIONS = ("uniform", "glorot_uniform", "orthogonal", "zeros", "lstm_bias")

    def __init__(self, distribution):
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"`distribution` must be one of {self.DISTRIBUTIONS}. "
                f"Received: distribution={distribution!r}"
            )
        self.distribution = distribution

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if self.distribution == "uniform":
            value = np.random.uniform(-0.05, 0.05, shape)
        elif self.distribution == "glorot_uniform":
            limit = np.sqrt(6 / (np.prod(shape[:-1]) + shape[-1]))
            value = np.random.uniform(-limit, limit, shape)
        elif self.distribution == "orthogonal":
            rows, columns = int(np.prod(shape[:-1])), shape[-1]
            q, r = np.linalg.qr(np.random.standard_normal((max(rows, columns), min(rows, columns))))
            q *= np.sign(np.diag(r))
            value = (q.T if rows < columns else q).reshape(shape)
        else:
            value = np.zeros(shape)
            if self.distribution == "lstm_bias":  # the gates: input, forget, cell, output
                value[shape[0] // 4 : shape[0] // 2] = 1.0
        return value.astype(np.float32)  # the variable casts it to its dtype

    def get_config(self):
        return {"distribution": self.distribution}
