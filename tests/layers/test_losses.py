import math

import keras
import keras_hub
import numpy as np
import pytest

from keras_nextword.layers.losses import NextWordCrossentropy, Perplexity, next_word_crossentropy


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 6, 50)).astype("float32")
    y_true = rng.integers(0, 50, (4, 6))
    weights = (rng.random((4, 6)) > 0.3).astype("float32")
    return y_true, logits, weights


def test_loss_equals_keras_sparse_crossentropy(batch):
    expected = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"
    )
    got = float(NextWordCrossentropy()(*batch))
    assert got == pytest.approx(float(expected(*batch)), rel=1e-5)
    y_true, logits, weights = batch
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    by_hand = -np.take_along_axis(log_p, y_true[..., None], -1)[..., 0]
    assert got == pytest.approx((by_hand * weights).sum() / weights.sum(), rel=1e-5)


def test_perplexity_is_exact_below_keras_epsilon():
    # Target 0 has probability 1 / (1 + e^20) = 2.1e-9, under Keras' 1e-7 floor.
    logits = np.array([[[0.0, 20.0], [0.0, 0.0]]], "float32")
    y_true = np.array([[0, 1]])
    by_hand = [math.log1p(math.exp(20.0)), math.log(2.0)]  # 20.000000002, 0.693
    losses = keras.ops.convert_to_numpy(next_word_crossentropy(y_true, logits))
    np.testing.assert_allclose(losses[0], by_hand, rtol=1e-6)
    metric = Perplexity()
    metric.update_state(y_true, logits)
    assert float(metric.result()) == pytest.approx(math.exp(sum(by_hand) / 2), rel=1e-5)
    clipped = -math.log(1e-7)  # what a probability clipped at Keras' epsilon scores
    assert float(metric.result()) > 1.01 * math.exp((clipped + by_hand[1]) / 2)


def test_perplexity_equals_keras_hub_over_batches(batch):
    ours, theirs = Perplexity(), keras_hub.metrics.Perplexity(from_logits=True)
    y_true, logits, weights = batch
    for rows in (slice(0, 1), slice(1, 4)):  # accumulates across batches of unequal weight
        ours.update_state(y_true[rows], logits[rows], weights[rows])
        theirs.update_state(y_true[rows], logits[rows], weights[rows])
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-5)
    ours.reset_state()
    ours.update_state(y_true, np.zeros_like(logits))
    assert float(ours.result()) == pytest.approx(50, rel=1e-5)


def test_probabilities_too(batch):
    y_true, logits, weights = batch
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    from_logits = float(NextWordCrossentropy()(y_true, logits, weights))
    loss = NextWordCrossentropy(from_logits=False)
    assert float(loss(y_true, probabilities, weights)) == pytest.approx(from_logits, rel=1e-5)


def test_loss_and_metric_serialize():
    for obj in (NextWordCrossentropy(from_logits=False), Perplexity(name="ppl")):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
        assert type(restored) is type(obj) and restored.name == obj.name
        assert restored.from_logits == obj.from_logits


def test_metrics_weigh_every_position_alike_whatever_the_batch_length():
    # Batches of different lengths, as bucketed validation gives: each metric is
    # the mean over weighted positions, not over rows (Keras' `Mean` first
    # averages each row over its length, which weighs a short row's words more).
    from keras_nextword.layers.metrics import PositionAccuracy, SuggestionAccuracy

    rng = np.random.default_rng(0)
    batches = []
    for length in (2, 9):
        logits = rng.normal(size=(3, length, 12)).astype("float32")
        y_true = rng.integers(2, 12, (3, length))
        weights = (rng.random((3, length)) > 0.3).astype("float32")
        batches.append((y_true, logits, weights))
    y_true = np.concatenate([b[0].ravel() for b in batches])
    logits = np.concatenate([b[1].reshape(-1, 12) for b in batches])
    weights = np.concatenate([b[2].ravel() for b in batches])
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_p, y_true[:, None], -1)[:, 0]
    target = np.take_along_axis(logits, y_true[:, None], -1)
    ranks = (logits > target).sum(-1)
    shown = (logits[:, 2:] > target).sum(-1)  # padding and [UNK] never suggested
    expected = {
        "perplexity": math.exp((nll * weights).sum() / weights.sum()),
        "accuracy": ((ranks == 0) * weights).sum() / weights.sum(),
        "top3_accuracy": ((shown < 3) * weights).sum() / weights.sum(),
    }
    for metric in (Perplexity(), PositionAccuracy(), SuggestionAccuracy(3)):
        for batch in batches:
            metric.update_state(*batch)
        assert float(metric.result()) == pytest.approx(expected[metric.name], rel=1e-5)
