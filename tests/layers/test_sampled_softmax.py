import keras
import numpy as np
import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.layers.sampled_softmax import SampledSoftmaxTrainer
from keras_nextword.text import pipeline

LINES = [
    "it is with a heavy heart that i take up my pen",
    "to write these the last words in which i shall ever record",
    "the singular gifts by which my friend mr sherlock holmes",
    "was distinguished in a heavy heart",
]


def tiny_model(**kwargs):
    preprocessor = NGramVectorizer()
    preprocessor.adapt(LINES)
    keras.utils.set_random_seed(0)
    kwargs = {"embedding_dim": 8, "lstm_units": 8, **kwargs}
    return NextWordLSTM.from_sizes(
        preprocessor.vocabulary_size(), preprocessor=preprocessor, **kwargs
    )


@pytest.mark.parametrize("tying", [{}, {"tie_weights": True, "embedding_dim": 6}])
def test_loss_is_the_softmax_over_target_frequent_and_weighed_drawn_words(monkeypatch, tying):
    model = tiny_model(**tying)
    x, y, w = (keras.ops.convert_to_numpy(t) for t in pipeline.layout(model.preprocessor, LINES))
    y[0, 0] = 9  # an accidental hit: word 9 is also drawn
    y[0, 1] = 1  # a target among the frequent ids, which are scored anyway
    drawn = np.array([9, 17], "int32")
    monkeypatch.setattr(keras.random, "randint", lambda *args, **kwargs: drawn)
    trainer = SampledSoftmaxTrainer(model, num_sampled=4)  # ids 0 and 1, and two drawn
    hidden = trainer(x)
    loss = trainer.compute_loss(x, y, hidden, w)

    # The full model's logits (log-probabilities up to a constant per position,
    # which a softmax over any subset of words ignores).
    logits = keras.ops.convert_to_numpy(model(x))
    vocabulary = model.backbone.vocabulary_size
    negatives = np.array([0, 1, 9, 17])
    weights = np.log([1, 1, (vocabulary - 2) / 2, (vocabulary - 2) / 2])
    target = np.take_along_axis(logits, y[..., None], -1)
    others = np.where(negatives == y[..., None], -np.inf, logits[..., negatives] + weights)
    both = np.concatenate([target, others], -1)
    top = both.max(-1, keepdims=True)
    expected = (np.log(np.exp(both - top).sum(-1)) + top[..., 0] - target[..., 0]) * w
    np.testing.assert_allclose(float(loss), expected.sum() / w.sum(), rtol=1e-5)


def test_sampled_sum_estimates_the_full_softmax_sum_without_bias():
    # One position: exp(loss) is the estimated sum of exp(logits) over the
    # vocabulary divided by the target's term, so its mean over draws is
    # 1 / p(target). (Uniform draws without weights, the earlier loss, gave
    # about a quarter of it here.)
    model = tiny_model()
    x, y, w = (keras.ops.convert_to_numpy(t) for t in pipeline.layout(model.preprocessor, LINES))
    w = np.zeros_like(w)
    w[0, 0] = 1.0
    y[0, 0] = model.backbone.vocabulary_size - 1  # a rare word, only ever drawn
    trainer = SampledSoftmaxTrainer(model, num_sampled=8, seed=0)
    hidden = trainer(x)
    estimates = [np.exp(float(trainer.compute_loss(x, y, hidden, w))) for _ in range(1_000)]
    probability = keras.ops.convert_to_numpy(keras.ops.softmax(model(x)[0, 0]))[y[0, 0]]
    assert np.mean(estimates) == pytest.approx(1 / probability, rel=0.05)


def test_fit_with_sampled_softmax_reports_exact_validation():
    model = tiny_model()
    model.optimizer.learning_rate = 0.05
    before = model.evaluate(LINES, verbose=0, return_dict=True)["perplexity"]
    history = model.fit(
        LINES, validation_data=LINES[:2], epochs=20, batch_size=8, num_sampled=8, verbose=0
    )
    # Training through sampled negatives trains the model's exact softmax.
    assert model.evaluate(LINES, verbose=0, return_dict=True)["perplexity"] < 0.5 * before
    exact = model.evaluate(LINES[:2], verbose=0, return_dict=True)
    assert history.history["val_perplexity"][-1] == pytest.approx(exact["perplexity"], rel=1e-5)
    assert model.history is history


@pytest.mark.parametrize("num_sampled", [0, 10_000])
def test_bad_num_sampled_is_named(num_sampled):
    with pytest.raises(ValueError, match="num_sampled"):
        SampledSoftmaxTrainer(tiny_model(), num_sampled)


def test_exact_validation_takes_x_y_and_sample_weight():
    model = tiny_model()
    x, y, w = (keras.ops.convert_to_numpy(t) for t in pipeline.layout(model.preprocessor, LINES))
    history = model.fit(
        x, y, sample_weight=w, validation_data=(x, y, w), epochs=1, num_sampled=4, verbose=0
    )
    exact = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert history.history["val_perplexity"][-1] == pytest.approx(exact["perplexity"], rel=1e-5)


def test_training_without_metrics_trains_the_same_and_still_validates_them():
    def fit(training_metrics):
        model = tiny_model(dropout=0.3)
        model.compile(optimizer=keras.optimizers.Adam(0.05))
        history = model.fit(
            LINES,
            validation_data=LINES[:2],
            epochs=3,
            batch_size=2,
            seed=1,
            training_metrics=training_metrics,
            verbose=0,
        )
        return model, history.history

    _, logs = fit(True)
    loss_only, lean_logs = fit(False)
    assert "accuracy" in logs and "accuracy" not in lean_logs and "perplexity" not in lean_logs
    # The same first epoch (weights, shuffles and the first dropout draws seeded alike; later
    # draws may differ: torch draws dropout from its global generator) and the same loss.
    np.testing.assert_allclose(lean_logs["loss"][0], logs["loss"][0], rtol=1e-4)
    assert lean_logs["loss"][-1] < lean_logs["loss"][0]
    # Validation still reports every metric, exactly.
    for name in ("val_perplexity", "val_accuracy", "val_top3_accuracy"):
        assert len(lean_logs[name]) == 3
    exact = loss_only.evaluate(LINES[:2], verbose=0, return_dict=True)["perplexity"]
    assert lean_logs["val_perplexity"][-1] == pytest.approx(exact, rel=1e-5)
