import keras
import keras_hub
import numpy as np
import pytest

from keras_nextword.losses import NextWordCrossentropy, Perplexity


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 6, 50)).astype("float32")
    y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y_true = rng.integers(0, 50, (4, 6))
    weights = (rng.random((4, 6)) > 0.3).astype("float32")
    return y_true, y_pred, weights


def test_loss_equals_keras_sparse_crossentropy(batch):
    expected = keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")
    got = float(NextWordCrossentropy()(*batch))
    assert got == pytest.approx(float(expected(*batch)), rel=1e-5)
    y_true, y_pred, weights = batch
    by_hand = -np.log(np.take_along_axis(y_pred, y_true[..., None], -1)[..., 0])
    assert got == pytest.approx((by_hand * weights).sum() / weights.sum(), rel=1e-5)


def test_loss_floors_zero_probabilities_as_keras():
    y_pred = np.array([[[1.0, 0.0]]], "float32")
    loss = float(NextWordCrossentropy()(np.array([[1]]), y_pred))
    assert loss == pytest.approx(-np.log(1e-7), rel=1e-4)


def test_perplexity_equals_keras_hub_over_batches(batch):
    ours, theirs = Perplexity(), keras_hub.metrics.Perplexity()
    y_true, y_pred, weights = batch
    for rows in (slice(0, 1), slice(1, 4)):  # accumulates across batches of unequal weight
        ours.update_state(y_true[rows], y_pred[rows], weights[rows])
        theirs.update_state(y_true[rows], y_pred[rows], weights[rows])
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-5)
    ours.reset_state()
    ours.update_state(y_true, np.full_like(y_pred, 1 / 50))
    assert float(ours.result()) == pytest.approx(50, rel=1e-5)


def test_loss_and_metric_serialize():
    for obj in (NextWordCrossentropy(), Perplexity(name="ppl")):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
        assert type(restored) is type(obj) and restored.name == obj.name
