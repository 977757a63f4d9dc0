"""Adam whose moving average of the weights warms up (`WarmAveragedAdam`).

Keras' `use_ema` starts the average at the initial weights and moves it by
`1 - ema_momentum` a step: at momentum 0.995 (`from_text` on The Final
Problem) the averaged weights that validation scores are still mostly the
random initial ones after the first epoch (held-out perplexity 1,225 in
`benchmarks/peer.py` with Keras' average, 140 with this one), and they catch
up only after about 3 epochs. Here the momentum of step `t` is
`min(ema_momentum, t / (ema_warmup + t))` (step 0 copies the weights, as
Keras' does). With `ema_warmup=9`, TensorFlow 1's
`ExponentialMovingAverage(num_updates=...)`, the average spans about the last
tenth of the steps so far; with 1 it is the plain mean of all the steps so
far; either way, once the cap is reached, `1 / (1 - ema_momentum)` steps as
Keras' does.
"""

import keras
from keras import ops

from keras_nextword.layers.initializers import NumPyInitializer


@keras.saving.register_keras_serializable(package="keras_nextword")
class WarmAveragedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose weight average (`use_ema=True`) warms up:
    the momentum of step `t` (from 0) is `min(ema_momentum, t / (ema_warmup + t))`.

    Args:
        ema_warmup: float > 0: about `1 / (1 + ema_warmup)` of the steps so far
            carry the average until the cap; 1 is their plain mean.
        *args, **kwargs: `keras.optimizers.Adam` arguments.

    Example:
    >>> optimizer = WarmAveragedAdam(learning_rate=0.5, use_ema=True, ema_momentum=0.99)
    >>> weight = keras.Variable([1.0])
    >>> for _ in range(3):  # the weight goes 1 -> 0.5 -> 0 -> -0.5
    ...     optimizer.apply([keras.ops.array([1.0])], [weight])
    >>> round(float(optimizer._model_variables_moving_average[0][0]), 2)  # Keras' Adam: 0.49
    -0.4
    """

    def __init__(self, *args, ema_warmup=9.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not ema_warmup > 0:
            raise ValueError(f"`ema_warmup` must be > 0. Received: ema_warmup={ema_warmup!r}")
        self.ema_warmup = float(ema_warmup)

    def add_variable(self, shape, initializer="zeros", *args, **kwargs):
        # Zeros from NumPy (`NumPyInitializer`): on JAX, Keras' compile a
        # program for each shape, while `fit` builds the optimizer.
        if initializer == "zeros":
            initializer = NumPyInitializer("zeros")
        return super().add_variable(shape, initializer, *args, **kwargs)

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        step = ops.cast(self.iterations, "float32")
        momentum = ops.minimum(self.ema_momentum, step / (self.ema_warmup + step))
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                rate = ops.cast(momentum, variable.dtype)
                average.assign(rate * average + (1 - rate) * variable)

    def finalize_variable_values(self, var_list):
        # `fit` ends with the average in the weights. Keras assigns each average
        # itself: on JAX the weight and its average then share one buffer, which
        # the next compiled call that donates the weights (`predict`) deletes,
        # and `save` failed on the average. Each weight gets a copy.
        if self.use_ema:
            for variable, average in zip(var_list, self._model_variables_moving_average):
                if average is not None:
                    variable.assign(ops.convert_to_numpy(average))

    def get_config(self):
        return {**super().get_config(), "ema_warmup": self.ema_warmup}
