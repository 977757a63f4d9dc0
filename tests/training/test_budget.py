"""The time limit of the whole call, and checks inside a long epoch
(`keras_nextword.training.budget`, `loop`): fake clocks, no timing asserted."""

import keras
import numpy as np
import pytest

from conftest import LINES
from keras_nextword import NextWordLSTM
from keras_nextword.training import budget, phases, recipe

pytestmark = pytest.mark.backend("jax")  # clocks, counts and files: the same on every backend


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class SlowScorer:
    """A model whose `evaluate` takes `compile_seconds` once, then `per_line` a line."""

    def __init__(self, clock, per_line, compile_seconds):
        self.clock, self.per_line, self.compile_seconds = clock, per_line, compile_seconds

    def evaluate(self, lines, verbose=0):
        self.clock.now += self.compile_seconds + self.per_line * len(lines)
        self.compile_seconds = 0.0


def test_the_scoring_reserve_is_measured_and_kept_whole_when_time_allows(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(budget.time, "monotonic", clock)
    parts = {"set apart": [f"d{i}" for i in range(500)], "held out": [f"h{i}" for i in range(1000)]}
    model = SlowScorer(clock, per_line=0.01, compile_seconds=3.0)
    reserve, kept = budget.scoring(model, parts, deadline=600.0, say=print)
    assert kept == parts
    # 1,500 lines at 0.01 s, and the compile measured by the probe's first call.
    assert reserve == pytest.approx(budget.MARGIN * (3.0 + 15.0))


def test_short_time_scores_an_evenly_spaced_sample_and_says_so(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(budget.time, "monotonic", clock)
    said = []
    parts = {
        "set apart": [f"d{i}" for i in range(5000)],
        "held out": [f"h{i}" for i in range(10000)],
    }
    model = SlowScorer(clock, per_line=0.01, compile_seconds=0.0)
    reserve, kept = budget.scoring(model, parts, deadline=60.0, say=said.append)
    # All 15,000 lines would take 150 s; a quarter of the ~60 s left goes to scoring.
    assert 100 <= len(kept["set apart"]) < 5000 and 100 <= len(kept["held out"]) < 10000
    assert reserve <= budget.SCORING_SHARE * 60.0
    assert kept["held out"][:2] == ["h0", f"h{10000 // len(kept['held out'])}"]  # spread out
    assert said and said[0].startswith("Scoring ") and "held out" in said[0]
    sample = kept
    # Past the deadline already: the fewest lines, still scored.
    _, kept = budget.scoring(model, parts, deadline=clock.now - 1, say=said.append)
    assert [len(part) for part in kept.values()] == [budget.MIN_SCORED_LINES] * 2
    # An epoch checked 4 times: a quarter of that room for each check's scoring.
    clock.now = 0.0
    reserve, fewer = budget.scoring(model, parts, deadline=60.0, say=said.append, checks=4)
    assert len(fewer["held out"]) < len(sample["held out"]) / 3
    # A group of processes scores every line (the same shapes on each).
    _, kept = budget.scoring(model, parts, deadline=60.0, say=said.append, bounded=False)
    assert kept == parts


def test_long_epochs_are_checked_several_times():
    assert budget.epoch_parts(5_860, 15) == (1, None)  # The Final Problem
    assert budget.epoch_parts(545_021, 15)[0] == 1  # the canon, at the default limit
    assert budget.epoch_parts(545_021, 1)[0] == 12  # ... at one minute: every 6 s of words
    assert budget.epoch_parts(545_021, 1, steps=771)[0] == 3  # ... in parts of >= 200 steps
    assert budget.epoch_parts(54_500_000, None)[0] == 12  # no limit: every 10 minutes


def test_the_verdict_says_whether_more_time_would_help():
    falling = {"dev_perplexity": [300.0, 200.0, 190.0, 180.0, 171.0]}
    assert "fell 5.0% in the last epoch (180.0 -> 171.0)" in budget.verdict(
        falling, "dev_perplexity", 1, 5
    )
    # Checked twice an epoch: the last epoch is the last two checks.
    assert "fell 10.0% in the last 2 checks (190.0 -> 171.0)" in budget.verdict(
        falling, "dev_perplexity", 2, 5
    )
    assert budget.verdict({"val_perplexity": [150.0, 151.0]}, "val_perplexity", 1, 5) is None


def test_a_short_limit_keeps_room_for_the_scoring_and_says_more_time_would_help(
    final_problem_path, capsys
):
    model = NextWordLSTM.from_text(
        final_problem_path, max_minutes=1e-4, embedding_dim=8, lstm_units=8, seed=0, verbose=2
    )
    out = capsys.readouterr().out
    # The time was gone before training began: a bounded sample, every line of both here.
    assert "Scoring 66 of the lines held out and 59 of the lines set apart" in out
    assert "Stopped by the 0.0001-minute limit in its first check: more time would help" in out
    assert np.isfinite(model.history.history["val_perplexity"][0])


def test_the_first_step_does_not_wait_for_the_scoring_estimate(final_problem_path, monkeypatch):
    events = []
    timed = budget.probe
    monkeypatch.setattr(budget, "probe", lambda *args: events.append("probe") or timed(*args))
    first_step = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: events.append("step") if not events else None
    )
    NextWordLSTM.from_text(
        final_problem_path,
        epochs=2,
        embedding_dim=8,
        lstm_units=8,
        seed=0,
        verbose=0,
        callbacks=[first_step],
    )
    # Timed once, at the first check, after the first step (it was timed before it).
    assert events == ["step", "probe"]


class Kill(keras.callbacks.Callback):
    """Raises after `steps` training steps of this `fit`: a process killed there."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch, logs=None):
        self.steps -= 1
        if not self.steps:
            raise RuntimeError("killed")


def train_in_parts(path, checkpoint_dir, callbacks=()):
    """`from_text`'s phases on `path`, each epoch checked in 3 parts."""
    parts = recipe.split(path)
    preprocessor = phases.adapt(parts)
    settings, _ = phases.choose(parts, preprocessor, batch_size=4, early_stopping_patience=5)
    keras.utils.set_random_seed(0)
    model = phases.build(NextWordLSTM, preprocessor, settings, 36, embedding_dim=8, lstm_units=8)
    history = phases.train(
        model,
        parts,
        epochs=6,
        max_minutes=None,
        checkpoint_dir=checkpoint_dir,
        callbacks=list(callbacks),
        verbose=0,
        seed=0,
        epoch_parts=3,
    )
    return model, history


def test_a_run_killed_inside_an_epoch_resumes_from_its_last_check(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES * 15), encoding="utf-8")
    whole, whole_history = train_in_parts(path, None)
    part = int(whole.optimizer.iterations) // len(whole_history.epoch)  # steps a check
    assert len(whole_history.epoch) > 5 and part > 2
    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(RuntimeError, match="killed"):
        train_in_parts(path, checkpoints, [Kill(steps=4 * part + 2)])  # 2 steps after a check
    resumed, history = train_in_parts(path, checkpoints)
    assert history.epoch[0] == 4  # from the 5th check: 2 steps lost, not the epoch
    # The same steps, batches, stopping and best weights as the run never killed.
    assert history.epoch == whole_history.epoch[4:]
    assert history.history["dev_perplexity"] == pytest.approx(
        whole_history.history["dev_perplexity"][4:], rel=1e-6
    )
    assert int(resumed.optimizer.iterations) == int(whole.optimizer.iterations)
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
