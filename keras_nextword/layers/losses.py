"""Exact cross-entropy and perplexity of next-word logits, by gathering each target's.

`-log p(target) = logsumexp(logits) - logits[target]`, computed in float32 with
no clip: a target the model gives a probability below Keras' epsilon (1e-7)
counts for what it is, where Keras' probability path floors it (on a
75,000-prediction corpus that read 198.8 for an exact 199.4). Keras'
`SparseCategoricalCrossentropy` (and keras-hub's `Perplexity`, which calls
it) also builds a one-hot row over the vocabulary per target: 15% of a
training step on The Final Problem at batch 32, measured; gathering the
target's logit does not. `exact_loss` reads a pass's exact mean loss from its
perplexity.
"""

import math

import keras
from keras import ops


def next_word_crossentropy(y_true, y_pred, from_logits=True):
    """`-log p(target)` at each position, exactly (log-softmax, no clip).

    Args:
        y_true: integer target ids, shape `(batch, ...)`.
        y_pred: logits (or, with `from_logits=False`, probabilities), shape
            `(batch, ..., vocabulary_size)`.
        from_logits: bool, whether `y_pred` holds logits.

    Returns:
        The per-position losses in float32, shape `(batch, ...)`; a zero
        probability gives `inf`.

    Example:
    >>> import numpy as np
    >>> logits = np.log(np.array([[[0.5, 0.25, 0.25]]]))
    >>> round(float(keras.ops.convert_to_numpy(next_word_crossentropy(np.array([[1]]), logits))[0, 0]), 4)
    1.3863
    """
    target = ops.expand_dims(ops.cast(y_true, "int32"), -1)
    y_pred = ops.cast(y_pred, "float32")
    picked = ops.squeeze(ops.take_along_axis(y_pred, target, axis=-1), -1)
    if from_logits:
        return ops.logsumexp(y_pred, axis=-1) - picked
    return -ops.log(picked)


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordCrossentropy(keras.losses.Loss):
    """Sparse cross-entropy of logits, averaged over weighted positions.

    The numbers of `keras.losses.SparseCategoricalCrossentropy(from_logits=True,
    reduction="mean_with_sample_weight")`, without their one-hot work.

    Args:
        from_logits: bool, whether predictions are logits (the default) or
            probabilities.
        name: the loss name.
        reduction: a Keras loss reduction.

    Example:
    >>> import numpy as np
    >>> loss = NextWordCrossentropy()
    >>> logits = np.array([[[0.0, 0.0], [2.0, 0.0]]])
    >>> round(float(loss(np.array([[0, 1]]), logits, np.array([[1.0, 0.0]]))), 4)
    0.6931
    """

    def __init__(
        self,
        from_logits=True,
        name="next_word_crossentropy",
        reduction="mean_with_sample_weight",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        return next_word_crossentropy(y_true, y_pred, self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


def flat_positions(y_true, y_pred, sample_weight=None):
    """Every position as its own sample: targets `(n,)`, scores `(n, vocabulary)`,
    weights `(n,)`.

    Keras' mean metrics first average each row over its length, then weigh the
    rows, so a metric over batches of different lengths (bucketed lines) would
    count a short row's words more; flat, each weighted position counts alike.

    Example:
    >>> y, p, w = flat_positions(np.zeros((2, 3)), np.zeros((2, 3, 5)), np.ones((2, 3)))
    >>> tuple(y.shape), tuple(p.shape), tuple(w.shape)
    ((6,), (6, 5), (6,))
    """
    y_pred = ops.convert_to_tensor(y_pred)
    flat = ops.reshape(y_pred, (-1, ops.shape(y_pred)[-1]))
    if sample_weight is not None:
        sample_weight = ops.reshape(ops.convert_to_tensor(sample_weight), (-1,))
    return ops.reshape(ops.convert_to_tensor(y_true), (-1,)), flat, sample_weight


@keras.saving.register_keras_serializable(package="keras_nextword")
class Perplexity(keras.metrics.Mean):
    """`exp` of the weighted mean next-word cross-entropy, accumulated over
    batches: keras-hub's `Perplexity`, exact (no clip) and without its
    one-hot work.

    Args:
        from_logits: bool, whether predictions are logits (the default) or
            probabilities.
        name: the metric name.
        dtype: the metric's dtype.

    Example:
    >>> import numpy as np
    >>> metric = Perplexity(from_logits=False)
    >>> metric.update_state(np.array([[0, 1]]), np.array([[[0.5, 0.5], [0.75, 0.25]]]))
    >>> round(float(metric.result()), 4)
    2.8284
    """

    def __init__(self, from_logits=True, name="perplexity", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = from_logits

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = flat_positions(y_true, y_pred, sample_weight)
        losses = next_word_crossentropy(y_true, y_pred, self.from_logits)
        super().update_state(losses, sample_weight)

    def result(self):
        return ops.exp(super().result())

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


def exact_loss(logs, prefix=""):
    """Sets `logs[prefix + "loss"]` to the log of the exact perplexity beside it.

    Keras averages the losses of a pass's batches weighting each by its rows,
    the weight-0 rows that fill a short last batch included: over raw lines
    scored in a few full batches, that read 3.21 on The Final Problem for an
    exact 4.41. The perplexity metric counts each weighted position alike, so
    its log is the exact mean loss.

    Example:
    >>> logs = {"val_loss": 3.21, "val_perplexity": 82.41}
    >>> exact_loss(logs, "val_")
    >>> round(logs["val_loss"], 2)
    4.41
    """
    if logs is not None and f"{prefix}loss" in logs and f"{prefix}perplexity" in logs:
        logs[f"{prefix}loss"] = math.log(logs[f"{prefix}perplexity"])
