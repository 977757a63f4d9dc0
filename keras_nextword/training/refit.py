"""The lines set apart, given back: whether `from_text` trains again on every
training line once the stopping rule has found how long to train.

`from_text` stops on the last 10% of the training lines, set apart and never
trained on: their words are missing from the vocabulary and from training.
When the stopping rule ended the run (not the time limit nor the epoch cap)
and a second run of as many epochs fits in the time left, the model is built
again on all the training lines, vocabulary included, and trained for the
epoch count the first run found best, as one does after choosing the epoch
count on a validation split (`benchmarks/set_apart.py` measures it).
"""

import math

MARGIN = 1.25  # on the estimated time of the second run


def best_epoch(history):
    """The epoch (counted from 1) with the lowest set-apart perplexity, or None
    when nothing was set apart.

    Example:
    >>> best_epoch({"dev_perplexity": [90.0, 80.0, 85.0]})
    2
    """
    dev = history.get("dev_perplexity")
    return dev.index(min(dev)) + 1 if dev else None


def plan(history, epochs, seconds, time_left, train_lines, all_lines):
    """Whether to train again on all the training lines, for how many epochs.

    Args:
        history: the first run's `History.history` (a dict of lists, with
            `dev_perplexity` per epoch when lines were set apart).
        epochs: int, the most epochs the first run could train.
        seconds: float, how long the first run's training took.
        time_left: float (seconds) or None without a time limit.
        train_lines: int, the lines the first run trained on.
        all_lines: int, the training lines with those set apart.

    Returns:
        `(epochs, reason)`: the epochs of the second run, or None for none,
        and a printable line saying why.

    Example:
    >>> history = {"dev_perplexity": [90.0, 80.0, 85.0, 86.0]}
    >>> plan(history, 100, 8.0, 60.0, 90, 100)
    (2, 'The stopping rule found 2 epochs: training again on all 100 training lines (the 10 set apart included, their words in the vocabulary), about 6 s')
    >>> plan(history, 100, 8.0, 5.0, 90, 100)[0] is None
    True
    """
    best = best_epoch(history)
    ran = len(history.get("dev_perplexity") or ())
    if best is None or ran >= epochs:
        return None, None
    estimate = MARGIN * seconds * best / ran * all_lines / train_lines
    if time_left is not None and estimate > time_left:
        return None, (
            f"Not training again with the {all_lines - train_lines:,} lines set apart: "
            f"about {math.ceil(estimate):,} s, {math.floor(time_left):,} s left"
        )
    return best, (
        f"The stopping rule found {best} epochs: training again on all {all_lines:,} "
        f"training lines (the {all_lines - train_lines:,} set apart included, their words in "
        f"the vocabulary), about {math.ceil(estimate):,} s"
    )


def train_again(model, parts, arguments, elapsed, say):
    """The second run of `from_text(refit="auto")`, if `plan` says so.

    Args:
        model: the first run's trained model (its `history` read).
        parts: the first run's `recipe.Split`.
        arguments: dict of every `from_text` argument (`cls`, `path`,
            `config` and the rest), as the first run was called.
        elapsed: float, seconds since the first run's call.
        say: the phases' `print`.

    Returns:
        The model of the second run (its `training_settings["refit"]` says
        what the first run did), or `model` when there is none.
    """
    max_minutes = arguments["max_minutes"]
    if model.history.params.get("epochs") != arguments["epochs"]:
        say("Not training again: each epoch was checked in parts (a long epoch)")
        return model
    time_left = None if max_minutes is None else 60 * max_minutes - elapsed
    total = parts.train_lines + parts.dev_lines
    epochs, reason = plan(
        model.history.history, arguments["epochs"], elapsed, time_left, parts.train_lines, total
    )
    if reason:
        say(reason)
    if epochs is None:
        return model
    again = dict(arguments, epochs=epochs, early_stopping_patience=0, refit=False)
    again["max_minutes"] = None if max_minutes is None else time_left / 60
    cls, config = again.pop("cls"), again.pop("config")
    final = cls.from_text(**again, **config)
    final.training_settings["max_minutes"] = max_minutes
    final.training_settings["refit"] = {
        "first_run_epochs": len(model.history.epoch),
        "lines_set_apart": parts.dev_lines,
    }
    return final
