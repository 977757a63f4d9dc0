"""The weight average that warms up: its momentum, its saving."""

import keras
import numpy as np
import pytest

from keras_nextword.layers.optimizers import WarmAveragedAdam

pytestmark = pytest.mark.backend("jax")  # Keras' optimizer API: the same on every backend


def averages(cls, steps, momentum=0.995, **kwargs):
    optimizer = cls(learning_rate=0.1, use_ema=True, ema_momentum=momentum, **kwargs)
    weight = keras.Variable([0.0])
    weights, average = [], []
    for _ in range(steps):
        optimizer.apply([keras.ops.array([-1.0])], [weight])  # the weight climbs 0.1 a step
        weights.append(float(weight[0]))
        average.append(float(optimizer._model_variables_moving_average[0][0]))
    return np.array(weights), np.array(average)


def test_the_average_follows_the_last_tenth_of_the_steps():
    weights, average = averages(WarmAveragedAdam, 100)
    expected = weights[0]
    for step in range(1, 100):
        rate = min(0.995, step / (9 + step))
        expected = rate * expected + (1 - rate) * weights[step]
    assert average[-1] == pytest.approx(expected, rel=1e-5)
    # After 100 steps it trails the weight by about 1 step in 10, where Keras'
    # average (from the start at momentum 0.995) is still near the start.
    assert weights[-1] - average[-1] < 1.5
    _, keras_average = averages(keras.optimizers.Adam, 100)
    assert keras_average[-1] < 2.5 < average[-1]


def test_the_momentum_caps_the_span():
    weights, average = averages(WarmAveragedAdam, 300, momentum=0.9)
    # From step 81 on, momentum 0.9: the average trails a steady climb by 0.9 / 0.1 steps.
    assert weights[-1] - average[-1] == pytest.approx(0.1 * 9, rel=0.02)


def test_a_warmup_of_one_is_the_plain_mean_until_the_cap():
    weights, average = averages(WarmAveragedAdam, 60, momentum=0.98, ema_warmup=1)
    # Momentum t / (1 + t) reaches 0.98 at step 49: until then, the mean of every step.
    assert average[48] == pytest.approx(weights[:49].mean(), rel=1e-5)
    assert average[-1] > weights[:60].mean()  # then an average of the last 50 steps


def test_a_bad_warmup_is_named():
    with pytest.raises(ValueError, match="ema_warmup"):
        WarmAveragedAdam(ema_warmup=0)


def test_it_saves_with_a_model(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    optimizer = WarmAveragedAdam(0.01, use_ema=True, ema_momentum=0.99, ema_warmup=1)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, WarmAveragedAdam)
    assert loaded.optimizer.ema_momentum == 0.99
    assert loaded.optimizer.ema_warmup == 1


def test_it_ends_fit_with_the_average_and_saves_after_predict(tmp_path):
    """On JAX the weights once ended `fit` sharing the average's buffers, which
    `predict` donated: `save` then failed on a deleted array."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=WarmAveragedAdam(0.1, use_ema=True, ema_momentum=0.9), loss="mse")
    model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=3, verbose=0)
    average = model.optimizer._model_variables_moving_average[0]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.weights[0]), keras.ops.convert_to_numpy(average)
    )
    model.predict(np.ones((1, 2)), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_optimizer_variables_start_at_their_initializers():
    # Zeros drawn with NumPy (nothing compiled on JAX); other initializers as Keras'.
    optimizer = WarmAveragedAdam()
    zeros = optimizer.add_variable((2, 3), dtype="float32", name="m")
    ones = optimizer.add_variable((4,), initializer="ones", name="n")
    assert keras.ops.convert_to_numpy(zeros).tolist() == [[0.0] * 3] * 2
    assert zeros.dtype == "float32" and zeros.name == "m"
    assert keras.ops.convert_to_numpy(ones).tolist() == [1.0] * 4
