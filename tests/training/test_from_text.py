import math
import shutil
import signal
import subprocess
import sys

import h5py
import keras
import keras_hub
import numpy as np
import pytest

from conftest import LINES, REPO
from keras_nextword import TUTORIAL_RECIPE, NextWordLSTM
from keras_nextword.layers.losses import NextWordCrossentropy
from keras_nextword.runtime.distribution import _saved_state
from keras_nextword.text import data
from keras_nextword.text.tokenizer import OOV_ID
from keras_nextword.training import loop, phases, recipe


def test_tutorial_sizes_and_defaults(final_problem_path):
    model = NextWordLSTM.from_text(final_problem_path, epochs=0, validation_split=0.0)
    assert model.history is None
    assert model.backbone.token_embedding.output_dim == 100 and model.backbone.lstm_units == 150
    assert model.backbone.vocabulary_size == 1772 and model.preprocessor.sequence_length == 16
    # The family's keras-hub preprocessor, with the words' counts for word dropout.
    assert isinstance(model.preprocessor, keras_hub.models.CausalLMPreprocessor)
    assert model.preprocessor.word_dropout and len(model.preprocessor.word_counts) == 1772
    lstm = 4 * 150 * (100 + 150 + 1)
    # Tied by default: the output reuses the embeddings after a 150 -> 100 projection.
    assert model.count_params() == 1772 * 100 + lstm + 151 * 100
    assert isinstance(model.loss, NextWordCrossentropy)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)  # a short book's
    tutorial = NextWordLSTM.from_text(
        final_problem_path, epochs=0, validation_split=0.0, **TUTORIAL_RECIPE
    )
    assert tutorial.count_params() == 1772 * 100 + lstm + 151 * 1772  # its Dense(softmax)
    assert not tutorial.optimizer.use_ema and tutorial.backbone.dropout == 0


def test_from_text_holds_out_last_lines(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\r\n".join(LINES * 3 + ["zebra quagga okapi"]), encoding="utf-8")
    model = NextWordLSTM.from_text(
        path, epochs=1, validation_split=0.1, embedding_dim=4, lstm_units=4, verbose=0
    )
    vocabulary = model.preprocessor.get_vocabulary()
    assert "zebra" not in vocabulary  # held-out words stay out of the vocabulary
    assert "val_perplexity" in model.history.history


def train_tiny(tmp_path, lines, **kwargs):
    """`from_text` on `lines` written to a file: a width-4 model, epochs fixed, silent."""
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    settings = dict(early_stopping_patience=0, embedding_dim=4, lstm_units=4, verbose=0)
    return NextWordLSTM.from_text(path, **{**settings, **kwargs}), path


@pytest.mark.parametrize(
    "epochs,ema_warmup,averaged", [(1, 1, False), (4, 1, True), (1, None, True)]
)
def test_weights_are_averaged_unless_a_plain_mean_of_too_few_steps(
    tmp_path, capsys, epochs, ema_warmup, averaged
):
    """A plain mean (warm-up 1) needs 3 / (1 - ema_momentum) steps; the chosen
    warm-up of a small corpus (9, the last tenth) averages any run. Short runs
    were once never averaged: on The Final Problem, seeds 0 and 1, 2 to 8
    epochs read better or alike averaged (2 epochs: 130.4 against 148.8)."""
    model, _ = train_tiny(
        tmp_path,
        LINES * 4,  # 16 lines: 2 steps of 8
        epochs=epochs,
        batch_size=8,
        validation_split=0.0,
        ema_momentum=0.5,  # a plain mean from 3 / (1 - 0.5) = 6 steps on
        ema_warmup=ema_warmup,
        verbose=2,
    )
    assert int(model.optimizer.iterations) == 2 * epochs
    assert model.optimizer.use_ema is averaged
    said = (
        "2 training steps at most, fewer than 3 / (1 - ema_momentum) = 6 for a plain "
        "mean (ema_warmup 1): no weight average"
    )
    assert (said in capsys.readouterr().out) is not averaged


@pytest.mark.parametrize("num_sampled", [None, 8])
def test_validation_scores_the_averaged_weights_the_model_ends_with(tmp_path, num_sampled):
    model, path = train_tiny(
        tmp_path,
        LINES * 3,
        epochs=4,
        batch_size=4,
        validation_split=0.2,
        ema_momentum=0.5,
        learning_rate=0.05,
        num_sampled=num_sampled,
        embedding_dim=8,
        lstm_units=8,
        seed=0,
    )
    assert model.optimizer.use_ema
    _, held_out = data.split_lines(data.read_lines(path), 0.2)
    perplexity = model.evaluate(held_out, verbose=0, return_dict=True)["perplexity"]
    assert perplexity == pytest.approx(model.history.history["val_perplexity"][-1], rel=1e-4)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"epochs": -1}, "epochs"),
        ({"lstm_units": 0}, "lstm_units"),
        ({"embedding_dim": -5}, "embedding_dim"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": -0.1}, "validation_split"),
        ({"batch_size": 0}, "batch_size"),
        ({"ema_momentum": 1.0}, "ema_momentum"),
        ({"ema_momentum": "fast"}, "ema_momentum"),
        ({"ema_warmup": 0}, "ema_warmup"),
    ],
)
def test_bad_hyper_parameters_are_named(final_problem_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        NextWordLSTM.from_text(final_problem_path, **{"epochs": 0, **kwargs})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        NextWordLSTM.from_text(tmp_path / "nope.txt", epochs=0)


def test_diverging_training_is_reported(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES * 3), encoding="utf-8")
    with pytest.raises(FloatingPointError, match="diverged.*learning_rate"):
        NextWordLSTM.from_text(
            path,
            epochs=5,
            learning_rate=1e12,
            early_stopping_patience=0,
            embedding_dim=4,
            lstm_units=4,
            verbose=0,
        )


TRAIN = """
import sys, time, numpy as np, keras
from keras_nextword import NextWordLSTM

class Report(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print("finished epoch", epoch + 1, flush=True)
        time.sleep(float(sys.argv[3]))  # a window to be killed in

model = NextWordLSTM.from_text(
    sys.argv[1], epochs=4, early_stopping_patience=0, checkpoint_dir=sys.argv[2],
    embedding_dim=8, lstm_units=8, seed=0, verbose=0, callbacks=[Report()],
)
print("epochs run", model.history.epoch, "steps", int(model.optimizer.iterations), flush=True)
np.savez(sys.argv[2] + ".npz", *model.get_weights())
print(model.generate("a heavy", max_length=6, sampler="top_p", p=0.9, seed=3), flush=True)
"""


def run_training(*args, timeout=300):
    command = [sys.executable, "-c", TRAIN, *map(str, args)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def kill_after(tmp_path, epochs):
    """Runs `TRAIN` with checkpoints and kills it once `epochs` epochs have
    finished (each is backed up before `TRAIN`'s callback reports it);
    returns the corpus and the checkpoint folder."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINES * 5), encoding="utf-8")
    checkpoints = tmp_path / "checkpoints"
    command = [sys.executable, "-c", TRAIN, str(corpus), str(checkpoints), "30"]
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        for epoch in range(1, epochs + 1):
            assert child.stdout.readline().strip() == f"finished epoch {epoch}"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    return corpus, checkpoints


def test_killed_training_resumes_from_the_last_finished_epoch(tmp_path):
    corpus, checkpoints = kill_after(tmp_path, 1)
    # What each process of a group compares before resuming: the epoch saved (it
    # once read a file from_text never writes, so the check compared nothing).
    assert '"epoch"' in "".join(_saved_state(checkpoints))
    resumed = run_training(corpus, checkpoints, 0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    lines = resumed.stdout.splitlines()
    assert lines[0] == "finished epoch 2"  # not from epoch 0
    assert lines[3].startswith("epochs run [1, 2, 3]")
    # The optimizer took the steps of all 4 epochs: the same as an uninterrupted run.
    whole = run_training(corpus, tmp_path / "whole", 0)
    assert whole.stdout.splitlines()[4] == lines[3].replace("[1, 2, 3]", "[0, 1, 2, 3]")


# Which backup a resume reads is file logic, the same on every backend (resuming
# itself runs on each, above); one killed run serves both cuts.
@pytest.mark.backend("jax")
def test_a_backup_cut_short_by_a_kill_resumes_from_the_one_before(tmp_path):
    # A process killed while writing its backup leaves a cut weights file (a
    # group's kill-and-resume test met both: "bad object header version
    # number", and "expected 1 variables, but received 0").
    corpus, killed = kill_after(tmp_path, 2)
    for cut in ("bytes", "variables"):
        checkpoints = tmp_path / cut
        shutil.copytree(killed, checkpoints)
        weights = checkpoints / "training" / "latest.weights.h5"
        if cut == "bytes":
            weights.write_bytes(weights.read_bytes()[:1000])  # epoch 2's, cut short
        else:
            h5py.File(weights, "w").close()  # a file, its groups never written
        resumed = run_training(corpus, checkpoints, 0)
        assert resumed.returncode == 0, (cut, resumed.stderr[-3000:])
        lines = resumed.stdout.splitlines()
        assert lines[0] == "finished epoch 2", cut  # from epoch 1's backup
        assert lines[3].startswith("epochs run [1, 2, 3]"), cut


def test_same_seed_same_weights_and_text(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINES * 5), encoding="utf-8")
    first, second = (run_training(corpus, tmp_path / name, 0) for name in ("a", "b"))
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout == second.stdout  # the same sampled text
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])


def test_text_without_newlines_trains_in_bounded_rows(tmp_path):
    # One 1 MB line (a book with its line breaks lost): one "line" of 170,000 words.
    words = " ".join(LINES).split()
    text = " ".join(words[i % len(words)] for i in range(170_000))
    path = tmp_path / "one_line.txt"
    path.write_text(text, encoding="utf-8")
    model = NextWordLSTM.from_text(
        path,
        epochs=1,
        validation_split=0.0,
        batch_size=512,
        early_stopping_patience=0,
        embedding_dim=4,
        lstm_units=4,
        verbose=0,
    )
    assert model.preprocessor.sequence_length == 64  # capped, not 169,999
    assert np.isfinite(model.history.history["loss"][0])


def test_learning_rate_schedule(tmp_path):
    halving = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    model, _ = train_tiny(
        tmp_path, LINES * 3, epochs=1, batch_size=4, validation_split=0.0, learning_rate=halving
    )
    steps = int(model.optimizer.iterations)
    assert steps == 3  # 12 lines in batches of 4
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01 * 0.5**steps)


def test_same_seed_same_weights_and_text_in_one_process(final_problem_path):
    """Word dropout and shuffles draw from seeded, stateless streams: a second
    call in the same process trains the same weights as the first."""
    runs = []
    for _ in range(2):
        model = NextWordLSTM.from_text(
            final_problem_path,
            epochs=2,
            batch_size=256,
            embedding_dim=8,
            lstm_units=8,
            seed=5,
            verbose=0,
        )
        text = model.generate("it is with a heavy", max_length=6, sampler="top_k", k=5, seed=1)
        runs.append((model.get_weights(), text))
    (first, first_text), (second, second_text) = runs
    assert first_text == second_text
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_time_limit_shorter_than_one_epoch_stops_mid_epoch(final_problem_path):
    model = NextWordLSTM.from_text(
        final_problem_path, max_minutes=1e-4, embedding_dim=8, lstm_units=8, seed=0, verbose=0
    )
    steps_per_epoch = math.ceil(589 / 8)
    assert len(model.history.epoch) == 1
    assert 0 < int(model.optimizer.iterations) < steps_per_epoch  # cut inside the epoch
    assert np.isfinite(model.history.history["val_perplexity"][0])  # still scored
    assert model.training_settings["max_minutes"] == 1e-4


def test_epochs_are_chosen_in_one_run_on_training_lines_set_apart(tmp_path, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES * 12 + ["zebra quagga okapi"] * 5), encoding="utf-8")
    fits = []
    training_data = loop.training_data

    def spy(model, lines, *args):
        fits.append([line.decode() for line in lines.as_numpy_iterator()])
        return training_data(model, lines, *args)

    layouts = []
    scoring_dataset = NextWordLSTM.scoring_dataset

    def count_layouts(self, x, batch_size):
        layouts.append(x)
        return scoring_dataset(self, x, batch_size)

    monkeypatch.setattr(loop, "training_data", spy)
    monkeypatch.setattr(NextWordLSTM, "scoring_dataset", count_layouts)
    model = NextWordLSTM.from_text(
        path,
        epochs=6,
        validation_split=0.1,
        embedding_dim=8,
        lstm_units=8,
        seed=0,
        verbose=0,
        bigram_weight=None,  # the mix would score the lines set apart once more, after training
    )
    assert len(fits) == 1  # one run: no rehearsal, no retraining
    # The held-out and the set-apart lines are laid out once each, not every epoch
    # (and a sample of both twice before training, to time the scoring).
    assert len(model.history.epoch) > 1 and [len(x) for x in layouts] == [10, 10, 5, 5]
    # 53 lines: the last 5 held out, then 5 of the 48 left set apart to stop on,
    # never trained on (nor in the vocabulary).
    assert len(fits[0]) == 43 and "zebra quagga okapi" not in fits[0]
    assert "zebra" not in model.preprocessor.get_vocabulary()
    history = model.history.history
    assert len(history["dev_perplexity"]) == len(history["val_perplexity"]) >= 1
    # The exact mean loss (Keras' counts the weight-0 rows filling a batch).
    assert np.exp(history["dev_loss"]) == pytest.approx(history["dev_perplexity"], rel=1e-5)
    # The model ends with the weights of its best epoch on the lines set apart.
    dev = (LINES * 12)[-5:]
    best = min(history["dev_perplexity"])
    assert model.evaluate(dev, return_dict=True, verbose=0)["perplexity"] == pytest.approx(
        best, rel=1e-4
    )


def test_a_corpus_too_short_to_set_lines_apart_trains_every_epoch(tmp_path, capsys):
    model, _ = train_tiny(
        tmp_path, LINES, epochs=2, validation_split=0.0, early_stopping_patience=None, verbose=2
    )
    printed = capsys.readouterr().out
    assert "4 training lines: too few to set any apart, every epoch trains" in printed
    assert "stop after" not in printed
    assert model.training_settings["patience"] == 0
    assert len(model.history.history["loss"]) == 2


def test_chosen_settings_are_saved_with_the_model(tmp_path):
    model, _ = train_tiny(tmp_path, LINES * 3, epochs=1, validation_split=0.0)
    assert model.training_settings["batch_size"] == 32  # chosen: a tiny corpus
    assert model.training_settings["ema_warmup"] == model.optimizer.ema_warmup == 9
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.training_settings == model.training_settings


def test_fit_text_continues_a_saved_model_on_more_text(final_problem_path, tmp_path, capsys):
    lines = [line for line in data.read_lines(final_problem_path) if line.strip()]
    first, more = tmp_path / "first.txt", tmp_path / "more.txt"
    first.write_text("\n".join(lines[:300]), encoding="utf-8")
    more.write_text("\n".join(lines[300:]), encoding="utf-8")
    small = dict(embedding_dim=16, lstm_units=16, seed=0, verbose=0)
    NextWordLSTM.from_text(first, epochs=1, **small).save(tmp_path / "first.keras")
    model = keras.saving.load_model(tmp_path / "first.keras")
    held_out = data.listed(recipe.split(more).held_out)  # fit_text's split of the new text
    before = model.evaluate(held_out, return_dict=True, verbose=0)["perplexity"]
    capsys.readouterr()
    model.fit_text(more, epochs=3, seed=0, verbose="auto", max_minutes=None)
    printed = capsys.readouterr().out
    after = model.evaluate(held_out, return_dict=True, verbose=0)["perplexity"]
    assert after < 0.9 * before, (before, after)
    # The new text's words the model never saw are [UNK] to it, and the share is said.
    # Counted independently: the tokenizer's ids of the training lines fit_text split off.
    ids = model.preprocessor.tokenizer.tokenize(data.listed(recipe.split(more).train))
    words = int(ids.flat_values.shape[0])
    unknown = int(np.sum(ids.flat_values.numpy() == OOV_ID))
    assert 0 < unknown < words
    assert f"{words:,} training words, {unknown / words:.1%} of them [UNK]" in printed
    assert model.training_settings["epochs"] == 3 and len(model.history.epoch) <= 3


@pytest.mark.backend("jax")  # what the training phase is given: the same on every backend
def test_training_keeps_no_count_of_every_word_type(final_problem_path, monkeypatch):
    # Past the vocabulary, every word type's count is dropped (a corpus may hold millions).
    given = []
    train = phases.train
    monkeypatch.setattr(
        phases, "train", lambda model, parts, *a: given.append(parts) or train(model, parts, *a)
    )
    NextWordLSTM.from_text(final_problem_path, epochs=1, embedding_dim=8, lstm_units=8, verbose=0)
    assert given[0].word_counts is None and given[0].line_lengths
