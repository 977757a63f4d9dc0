"""The time limit of a whole `from_text` or `fit_text` call, from the call
itself: set-up, first pass, compiling, training and the final scoring all
fit in `max_minutes`.

- `scoring`: training keeps room for the scoring after its last step (the
  held-out lines and those set apart), estimated at the first check by timing
  a sample (until then, `SCORING_SHARE` of the time left); when scoring every
  line would take too much of the time left, a bounded sample of them is
  scored, and the printed reason says so.
- `epoch_parts`: a long epoch (by the training words it holds) is checked
  several times (validation, best weights, early stopping, backups).
- `verdict`: at the end, whether the time limit cut training while the lines
  set apart were still improving.
"""

import math
import time

import keras

# A long epoch is checked about this many times within the time limit.
CHECKS_PER_LIMIT = 10
# Without a time limit, a long epoch is checked at least this often (seconds).
MAX_CHECK_SECONDS = 600
# Training words per second on 2 CPU cores (JAX), rounded down from issue 28's
# 8,900 on a corpus of 890,000 words: only says which epochs are long. The
# epoch's parts follow from counts alone, so a resumed run splits as the
# killed one did.
TRAINING_WORDS_PER_SECOND = 8_000
# At most this share of the time left when training begins goes to the final scoring.
SCORING_SHARE = 0.25
MIN_PART_STEPS = 200  # at least, between two checks inside an epoch
PROBE_LINES = 128  # lines timed at the first check to estimate the scoring
MIN_SCORED_LINES = 100  # at least, of each part scored
MARGIN = 1.25  # on the estimate: scoring's other shapes compile on first sight


def epoch_parts(train_words, max_minutes, steps=None):
    """How many checks an epoch is split into: one, unless the epoch
    (`train_words` at `TRAINING_WORDS_PER_SECOND`) is longer than
    `1 / CHECKS_PER_LIMIT` of the time limit (`MAX_CHECK_SECONDS` without
    one); parts of at least `MIN_PART_STEPS` steps.

    Args:
        train_words: int, the training words of an epoch.
        max_minutes: float or None, the time limit.
        steps: int, the training steps of an epoch, or None.

    Returns:
        `(parts, reason)`: an int >= 1, and a printable line when it is over 1,
        else None.

    Example:
    >>> epoch_parts(5_860, 15)
    (1, None)
    >>> epoch_parts(5_450_000, 15)[1]
    'An epoch of 5,450,000 words takes about 11 min at 8,000 words/s: checked 8 times an epoch (the lines set apart, best weights, early stopping, backups)'
    """
    seconds = train_words / TRAINING_WORDS_PER_SECOND
    check = MAX_CHECK_SECONDS if max_minutes is None else 60 * max_minutes / CHECKS_PER_LIMIT
    parts = math.ceil(seconds / min(check, MAX_CHECK_SECONDS))
    if steps is not None:
        parts = min(parts, steps // MIN_PART_STEPS)
    parts = max(parts, 1)
    if parts == 1:
        return 1, None
    return parts, (
        f"An epoch of {train_words:,} words takes about {_minutes(seconds)} at "
        f"{TRAINING_WORDS_PER_SECOND:,} words/s: checked {parts} times an epoch "
        "(the lines set apart, best weights, early stopping, backups)"
    )


def probe(model, lines):
    """Times the scoring of up to `PROBE_LINES` of `lines` twice: the first
    call compiles.

    Args:
        model: a model whose `evaluate` scores raw lines.
        lines: list of str.

    Returns:
        `(seconds_per_line, compile_seconds)`.
    """
    sample = lines[:: max(1, len(lines) // PROBE_LINES)][:PROBE_LINES]
    times = []
    for _ in range(2):
        begin = time.monotonic()
        model.evaluate(sample, verbose=0)  # figures come back as floats: computed
        times.append(time.monotonic() - begin)
    return times[1] / len(sample), max(times[0] - times[1], 0.0)


def scoring(model, parts, deadline, say=print, bounded=True, checks=1):
    """The final scoring within the time limit: its estimate (`probe`) is the
    room training leaves before `deadline`; when scoring every line would
    take more than `SCORING_SHARE` of the time left (of its share for one
    check, when the epoch is checked `checks` times), an evenly spaced sample
    of each part is scored instead (at least `MIN_SCORED_LINES`), and said.

    Args:
        model: the model to train.
        parts: dict of a name (`"set apart"`) to its list of lines.
        deadline: `time.monotonic()` of the time limit.
        say: a function that prints one line.
        bounded: bool, False scores every line whatever the time.
        checks: int, the checks of an epoch (`epoch_parts`).

    Returns:
        `(reserve, parts)`: the seconds to keep for the scoring, and the lines
        to score by name (the same lists, or samples of them).
    """
    lines = [line for part in parts.values() for line in part]
    if not lines:
        return 0.0, parts
    per_line, compile_seconds = probe(model, lines)
    left = deadline - time.monotonic()
    whole, allowed = MARGIN * (compile_seconds + per_line * len(lines)), SCORING_SHARE * left
    if whole <= allowed / checks or not bounded:
        return whole, parts
    share = max(allowed / checks / MARGIN - compile_seconds, 0.0) / (per_line * len(lines))
    parts = {name: _sample(part, share) for name, part in parts.items()}
    say(
        "Scoring "
        + " and ".join(f"{len(part):,} of the lines {name}" for name, part in parts.items())
        + f" (evenly spaced): scoring all {len(lines):,} would take about {whole:.0f} s "
        f"of the {max(left, 0):.0f} s left"
    )
    scored = sum(len(part) for part in parts.values())
    return MARGIN * (compile_seconds + per_line * scored), parts


class ScoringBudget(keras.callbacks.Callback):
    """`scoring` for the lines that `evaluations` score, at the first check
    (the first epoch's end, before they score: the first training step comes
    without waiting for it), `SCORING_SHARE` of the time left kept for the
    scoring until then; they then score the lines it keeps, and `time_limit`
    keeps its room.

    Args:
        model: the model trained (`evaluate` on raw lines).
        evaluations: dict of a name (`"held out"`) to its `Evaluation`.
        time_limit: the `TimeLimit`.
        say: a function that prints one line.
        bounded, checks: as `scoring`'s.
    """

    def __init__(self, model, evaluations, time_limit, say=print, bounded=True, checks=1):
        super().__init__()
        self.lm, self.evaluations, self.time_limit = model, evaluations, time_limit
        self.say, self.bounded, self.checks = say, bounded, checks
        self.pending = False

    def on_train_begin(self, logs=None):
        self.pending = self.time_limit.deadline is not None
        if self.pending:
            left = self.time_limit.deadline - time.monotonic()
            self.time_limit.scoring = SCORING_SHARE * max(left, 0.0)

    def on_epoch_end(self, epoch, logs=None):
        if not self.pending:
            return
        self.pending = False
        lines = {name: evaluation.data for name, evaluation in self.evaluations.items()}
        deadline = self.time_limit.deadline
        reserve, lines = scoring(self.lm, lines, deadline, self.say, self.bounded, self.checks)
        for name, evaluation in self.evaluations.items():
            evaluation.data = lines[name]
        self.time_limit.scoring = reserve


def _sample(lines, share):
    if not lines or share >= 1:
        return lines
    count = min(len(lines), max(MIN_SCORED_LINES, int(share * len(lines))))
    return [lines[i * len(lines) // count] for i in range(count)]


def verdict(history, monitor, parts, max_minutes):
    """What the time limit cost: a line saying how much `monitor` still fell
    over the last epoch (its last `parts` checks) when the limit stopped
    training, or None when it had stopped falling.

    Args:
        history: `History.history`, a dict of lists.
        monitor: the log watched, e.g. `"dev_perplexity"`.
        parts: checks per epoch.
        max_minutes: float, the time limit.

    Returns:
        A printable line, or None.

    Example:
    >>> verdict({"dev_perplexity": [180.0, 157.5, 151.0]}, "dev_perplexity", 1, 15)
    'Stopped by the 15-minute limit while the perplexity of the lines set apart still fell 4.1% in the last epoch (157.5 -> 151.0): more time would help'
    """
    values = history.get(monitor) or []
    name = "the lines set apart" if monitor.startswith("dev_") else "the held-out lines"
    limit = f"Stopped by the {max_minutes:g}-minute limit"
    if len(values) < 2:
        return f"{limit} in its first check: more time would help"
    before, last = values[-1 - min(parts, len(values) - 1)], values[-1]
    if not last < before:
        return None
    span = "the last epoch" if parts == 1 else f"the last {min(parts, len(values) - 1)} checks"
    return (
        f"{limit} while the perplexity of {name} still fell {1 - last / before:.1%} in "
        f"{span} ({before:.1f} -> {last:.1f}): more time would help"
    )


def _minutes(seconds):
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.0f} min"
