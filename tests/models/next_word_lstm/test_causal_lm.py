import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import BACKENDS, LINES, REPO, backend
from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.text import pipeline


def tiny_model(lines=LINES, **kwargs):
    preprocessor = NGramVectorizer()
    preprocessor.adapt(lines)
    kwargs = {"embedding_dim": 8, "lstm_units": 8, **kwargs}
    return NextWordLSTM.from_sizes(
        preprocessor.vocabulary_size(), preprocessor=preprocessor, **kwargs
    )


def test_fit_on_raw_strings_learns_and_reports_perplexity():
    keras.utils.set_random_seed(0)
    model = tiny_model()
    model.optimizer.learning_rate = 0.05
    history = model.fit(LINES, validation_data=LINES[:1], epochs=40, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert {"val_loss", "val_perplexity", "val_accuracy", "perplexity"} <= set(history.history)


def test_evaluate_perplexity_is_exp_loss():
    model = tiny_model()
    # Raw lines are scored in batches of similar length; the loss of one batch
    # holding every line is the mean over all their predictions.
    one_batch = pipeline.text_dataset(LINES, model.preprocessor, batch_size=32)
    loss = model.evaluate(one_batch, verbose=0, return_dict=True)["loss"]
    results = model.evaluate(LINES, verbose=0, return_dict=True)
    assert results["perplexity"] == pytest.approx(math.exp(loss), rel=1e-4)
    # An untrained model is close to uniform over the vocabulary.
    assert results["perplexity"] == pytest.approx(model.backbone.vocabulary_size, rel=0.1)


@pytest.mark.parametrize("width, bucketed", [(17, False), (40, True)])
def test_scoring_shares_one_layout_bucketed_only_on_wide_rows(width, bucketed):
    """Validation, the lines set apart and `evaluate` share their batches' shapes
    (they compiled 8 steps on The Final Problem); rows of up to 32 positions are
    not bucketed: one shape."""
    lines = [" ".join(["holmes"] * n) for n in range(2, 42)]
    preprocessor = NGramVectorizer(sequence_length=width)
    preprocessor.adapt(lines)
    model = NextWordLSTM.from_sizes(preprocessor.vocabulary_size(), 8, 8, preprocessor=preprocessor)
    shapes = {tuple(x.shape) for x, _, _ in model.scoring_dataset(lines, 8)}
    # Narrow rows: 8 rows a step times 8; wide ones: bucketed at the batch size.
    assert {rows for rows, _ in shapes} == ({8} if bucketed else {64})
    assert (len(shapes) > 1) == bucketed and max(w for _, w in shapes) == width


def test_scores_are_the_same_however_batched():
    model = tiny_model()
    by_64 = model.evaluate(LINES, batch_size=8, verbose=0, return_dict=True)
    by_128 = model.evaluate(LINES, batch_size=128, verbose=0, return_dict=True)
    assert by_64["perplexity"] == pytest.approx(by_128["perplexity"], rel=1e-5)


def test_losses_over_raw_lines_are_exact_means():
    """Keras weighs each batch's mean loss by its rows, filler rows included: over
    70 lines in 64-row batches (the second holding 6 lines) that is far off."""
    lines = [" ".join(["holmes", "watson"] * (1 + n % 5)) for n in range(70)]
    lines[64:] = ["holmes watson"] * 6  # short lines in the short last batch
    model = tiny_model(lines)
    history = model.fit(lines, validation_data=lines, epochs=1, batch_size=8, verbose=0)
    logs = {name: values[-1] for name, values in history.history.items()}
    assert logs["val_loss"] == pytest.approx(math.log(logs["val_perplexity"]), rel=1e-5)
    results = model.evaluate(lines, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(math.log(results["perplexity"]), rel=1e-5)
    as_list = model.evaluate(lines, verbose=0)
    assert as_list[0] == pytest.approx(results["loss"]) and len(as_list) == len(results)


def test_fit_on_integer_arrays():
    model = tiny_model()
    x, y, w = (keras.ops.convert_to_numpy(t) for t in pipeline.layout(model.preprocessor, LINES))
    history = model.fit(x, y, sample_weight=w, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def softmax(logits):
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def ids_of(model, text):
    return np.array([[model.preprocessor.token_to_id(w) for w in text.split()]], "int32")


def test_predict_on_strings_uses_last_words():
    model = tiny_model()
    by_text = model.predict(["a heavy heart that", "heart"], verbose=0)
    by_ids = softmax(model.predict(ids_of(model, "a heavy heart that"), verbose=0)[:, -1])
    np.testing.assert_allclose(by_text[:1], by_ids, atol=1e-6)
    assert by_text.shape == (2, model.backbone.vocabulary_size)
    np.testing.assert_allclose(by_text.sum(-1), 1.0, rtol=1e-5)


TYINGS = [{}, {"tie_weights": True}, {"tie_weights": True, "embedding_dim": 8}]


@pytest.mark.parametrize("tying", TYINGS)
def test_post_padding_does_not_change_predictions(tying):
    model = tiny_model(**tying)
    ids = ids_of(model, "a heavy heart")
    padded = np.pad(ids, [(0, 0), (0, 5)])
    logits = model.predict(ids, verbose=0)
    assert logits.dtype == np.float32 and logits.shape == (1, 3, model.backbone.vocabulary_size)
    np.testing.assert_allclose(model.predict(padded, verbose=0)[:, :3], logits, atol=1e-6)


def masked_twin(model):
    """The same weights in the masked graph (`Embedding(mask_zero=True)`)."""
    token_ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(
        model.backbone.vocabulary_size, model.backbone.embedding_dim, mask_zero=True
    )(token_ids)
    x = keras.layers.LSTM(model.backbone.lstm_units, return_sequences=True)(x)
    twin = keras.Model(token_ids, keras.layers.Dense(model.backbone.vocabulary_size)(x))
    twin.set_weights(model.get_weights())
    return twin


def test_mask_free_model_trains_as_the_masked_one_on_post_padded_rows():
    from keras_nextword.layers.losses import NextWordCrossentropy

    keras.utils.set_random_seed(0)
    model = tiny_model()
    twin = masked_twin(model)
    x, y, w = (keras.ops.convert_to_numpy(t) for t in pipeline.layout(model.preprocessor, LINES))
    zeros = np.zeros_like(x[:1])  # a filler row, as `text_dataset` adds, all padding
    x, y, w = np.concatenate([x, zeros]), np.concatenate([y, zeros]), np.concatenate([w, zeros])
    assert (w == 0).any() and (w == 1).any()
    for m in (model, twin):
        m.compile(optimizer=keras.optimizers.SGD(1.0), loss=NextWordCrossentropy())
    losses = [
        m.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["loss"]
        for m in (model, twin)
    ]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    # One SGD step of rate 1 moves each weight by minus its gradient.
    for m in (model, twin):
        m.train_on_batch(x, y, sample_weight=w)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("tying", TYINGS)
def test_keras_round_trip(tmp_path, tying):
    model = tiny_model(**tying)
    model.fit(LINES, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, NextWordLSTM)
    assert restored.get_config() == model.get_config()
    assert restored.preprocessor.get_vocabulary() == model.preprocessor.get_vocabulary()
    x = keras.ops.convert_to_numpy(pipeline.layout(model.preprocessor, LINES)[0])
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )
    assert restored.generate("a heavy", max_length=4) == model.generate("a heavy", max_length=4)


def test_tied_weights_share_the_embedding_matrix():
    model = tiny_model(tie_weights=True, embedding_dim=6)  # lstm_units 8: a projection
    vocabulary = model.backbone.vocabulary_size
    lstm = 4 * 8 * (6 + 8 + 1)
    assert model.count_params() == vocabulary * 6 + lstm + (8 * 6 + 6)
    x = keras.ops.convert_to_numpy(pipeline.layout(model.preprocessor, LINES)[0])
    hidden = keras.ops.convert_to_numpy(model.backbone(x))
    embeddings = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings)
    expected = (
        hidden @ keras.ops.convert_to_numpy(model.head.kernel) + model.head.bias
    ) @ embeddings.T
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


LOAD_AND_PREDICT = """
import json, sys, numpy as np, keras
import keras_nextword
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(x, verbose=0))
print(json.dumps(model.generate("a heavy", max_length=4)))
"""


@pytest.mark.parametrize("other", [b for b in BACKENDS if b != backend()])
def test_loads_under_other_backends(tmp_path, other):
    pytest.importorskip(other)
    model = tiny_model()
    model.fit(LINES, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    x = keras.ops.convert_to_numpy(pipeline.layout(model.preprocessor, LINES)[0])
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, KERAS_BACKEND=other)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_AND_PREDICT,
            str(tmp_path / "model.keras"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), atol=1e-5)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == model.generate(
        "a heavy", max_length=4
    )


def composite_models(lm):
    token_ids = keras.Input(shape=(None,), dtype="int32")
    # The whole language model as a layer (its next-word logits after the
    # last position), under a second output.
    logits = lm(token_ids)[:, -1]
    confidence = keras.layers.Dense(1, name="confidence")(logits)
    whole = keras.Model(token_ids, [logits, confidence])
    # Its backbone (embedding + LSTM hidden states) under a new head.
    features = keras.layers.GlobalAveragePooling1D()(lm.backbone(token_ids))
    label = keras.layers.Dense(1, activation="sigmoid", name="label")(features)
    return whole, keras.Model(token_ids, label)


@pytest.mark.parametrize("which", ["whole", "backbone"])
def test_composite_functional_model_trains_saves_and_reloads(tmp_path, which):
    lm = tiny_model()
    whole, headed = composite_models(lm)
    # Each line's first words, unpadded: the last position is a real one.
    x = np.array([[lm.preprocessor.token_to_id(w) for w in line.split()[:4]] for line in LINES])
    y = x[:, -1]
    if which == "whole":
        model, targets = whole, [y, np.zeros(len(y), "float32")]
        scce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer="adam", loss=[scce, "mse"])
    else:
        model, targets = headed, (y % 2).astype("float32")
        model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, targets, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "composite.keras")
    restored = keras.saving.load_model(tmp_path / "composite.keras")
    for a, b in zip(
        keras.tree.flatten(model.predict(x, verbose=0)),
        keras.tree.flatten(restored.predict(x, verbose=0)),
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_evaluate_reports_keyboard_accuracy_and_the_model_suggests(
    small_model, final_problem_lines
):
    lines = [line for line in final_problem_lines if line.strip()][-66:]
    results = small_model.evaluate(lines, return_dict=True, verbose=0)
    assert 0 <= results["top1_accuracy"] <= results["top3_accuracy"] <= 1
    words = small_model.suggest("it is with a heavy ", k=3)
    assert len(words) == 3 and all(w not in ("", "[UNK]") for w, _ in words)


@pytest.mark.parametrize("name", ["v0_1_untied", "v0_1_tied"])
def test_loads_a_model_saved_by_keras_nextword_0_1(name):
    """`.keras` files saved before `NextWordLSTM` was a keras-hub `CausalLM`
    (their config held the sizes, not a backbone) load with their weights."""
    model = keras.saving.load_model(REPO / "tests" / "data" / f"{name}.keras")
    assert isinstance(model, NextWordLSTM) and model.training_settings == {"batch_size": 8}
    x = np.array([[2, 3, 4, 0]], "int32")
    expected = np.load(REPO / "tests" / "data" / f"{name}_logits.npy")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
