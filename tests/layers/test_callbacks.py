"""The training recipe's callbacks, driven by hand with a fake clock."""

import types

import keras
import numpy as np

from keras_nextword.layers import callbacks
from keras_nextword.layers.callbacks import BestWeights, TimeLimit


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_model():
    return types.SimpleNamespace(stop_training=False)


def test_time_limit_checks_every_few_steps_after_waiting_for_the_step(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "monotonic", clock)
    waited = []

    class Loss:
        """A loss whose value is only known once the step has run."""

        def __float__(self):
            waited.append(clock.now)
            return 1.0

    limit = TimeLimit(deadline=100.0, say=lambda line: None, every=4)
    limit.set_model(fake_model())
    for step in range(8):
        clock.now = 200.0  # past the deadline from the first step
        limit.on_train_batch_end(step, {"loss": Loss()})
        if step < 3:
            assert not limit.model.stop_training  # not a checking step yet
    assert limit.model.stop_training and limit.reached
    assert len(waited) == 1  # waited for step 4's loss, then stopped checking


def test_time_limit_keeps_room_for_the_epoch_end_scoring(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "monotonic", clock)
    limit = TimeLimit(deadline=100.0, say=lambda line: None, every=1)
    limit.set_model(fake_model())
    limit.on_train_batch_end(0, {})
    clock.now = 30.0  # validation took 30 s after the epoch's last step
    limit.on_epoch_end(0)
    clock.now = 75.0
    limit.on_train_batch_end(0, {})
    assert limit.model.stop_training  # 75 s + 30 s of scoring would pass 100 s


def test_best_weights_end_training_with_the_best_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = BestWeights("val_perplexity", patience=2)
    best.set_model(model)
    for epoch, (perplexity, value) in enumerate([(9.0, 1.0), (7.0, 2.0), (8.0, 3.0), (8.5, 4.0)]):
        model.set_weights([np.full((2, 1), value), np.zeros(1)])
        best.on_epoch_end(epoch, {"val_perplexity": perplexity})
    assert model.stop_training and best.best_epoch == 1  # two epochs without better
    best.on_train_end()
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 1), 2.0))
