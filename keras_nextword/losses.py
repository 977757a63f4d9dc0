"""Cross-entropy and perplexity of next-word probabilities, by gathering each target's.

Keras' `SparseCategoricalCrossentropy` on probabilities (and keras-hub's
`Perplexity`, which calls it) turns every target into a one-hot row over the
vocabulary and renormalizes, clips and logs every probability: on The Final
Problem at batch 32 that is 15% of a training step, measured. Reading only
the target's probability gives the same numbers.
"""

import keras
from keras import ops

EPSILON = 1e-7  # Keras' `backend.epsilon()`: the smallest probability scored


def next_word_crossentropy(y_true, y_pred):
    """`-log p(target)` at each position, `p` floored at 1e-7 as Keras does.

    Args:
        y_true: integer target ids, shape `(batch, ...)`.
        y_pred: probabilities, shape `(batch, ..., vocabulary_size)`.

    Returns:
        The per-position losses, shape `(batch, ...)`.

    Example:
    >>> import numpy as np
    >>> losses = next_word_crossentropy(np.array([[1]]), np.array([[[0.5, 0.25, 0.25]]]))
    >>> round(float(keras.ops.convert_to_numpy(losses)[0, 0]), 4)
    1.3863
    """
    target = ops.expand_dims(ops.cast(y_true, "int32"), -1)
    probability = ops.take_along_axis(ops.cast(y_pred, "float32"), target, axis=-1)
    return -ops.log(ops.maximum(ops.squeeze(probability, -1), EPSILON))


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordCrossentropy(keras.losses.Loss):
    """Sparse cross-entropy of probabilities, averaged over weighted positions.

    The numbers of `keras.losses.SparseCategoricalCrossentropy(reduction=
    "mean_with_sample_weight")` on softmax outputs, without their one-hot work.

    Args:
        name: the loss name.
        reduction: a Keras loss reduction.

    Example:
    >>> import numpy as np
    >>> loss = NextWordCrossentropy()
    >>> y_pred = np.array([[[0.5, 0.5], [0.9, 0.1]]])
    >>> round(float(loss(np.array([[0, 1]]), y_pred, np.array([[1.0, 0.0]]))), 4)
    0.6931
    """

    def __init__(
        self, name="next_word_crossentropy", reduction="mean_with_sample_weight", **kwargs
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        return next_word_crossentropy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="keras_nextword")
class Perplexity(keras.metrics.Mean):
    """`exp` of the weighted mean next-word cross-entropy, accumulated over
    batches: keras-hub's `Perplexity` (from probabilities), without its one-hot work.

    Args:
        name: the metric name.
        dtype: the metric's dtype.

    Example:
    >>> import numpy as np
    >>> metric = Perplexity()
    >>> metric.update_state(np.array([[0, 1]]), np.array([[[0.5, 0.5], [0.75, 0.25]]]))
    >>> round(float(metric.result()), 4)
    2.8284
    """

    def __init__(self, name="perplexity", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(next_word_crossentropy(y_true, y_pred), sample_weight)

    def result(self):
        return ops.exp(super().result())
