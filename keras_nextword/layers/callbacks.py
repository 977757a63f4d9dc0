"""Keras callbacks of the training recipe: a time limit, the best averaged
weights, extra exact evaluations and a progress line with the time left."""

import os
import shutil
import time

import keras
import numpy as np

from keras_nextword.layers.losses import exact_loss
from keras_nextword.runtime.distribution import agreed
from keras_nextword.text.data import is_text


def model_weights(model):
    """The model's weights as NumPy arrays, the moving average in place of each
    trainable weight when its optimizer keeps one (`use_ema`): the weights
    validation scores and training ends with."""
    values = {id(v): keras.ops.convert_to_numpy(v) for v in model.weights}
    optimizer = getattr(model, "optimizer", None)
    if getattr(optimizer, "use_ema", False) and optimizer.built:
        averages = optimizer._model_variables_moving_average  # as SwapEMAWeights reads them
        for variable, average in zip(optimizer._trainable_variables, averages):
            values[id(variable)] = keras.ops.convert_to_numpy(average)
    return [values[id(v)] for v in model.weights]


class BestWeights(keras.callbacks.Callback):
    """Early stopping on a logged metric that ends training with the best
    (averaged) weights seen, whenever training ends: patience run out, the
    time limit, or the last epoch.

    Args:
        monitor: the log to minimize, e.g. `"val_perplexity"`.
        patience: int or None: stop after this many epochs without a better
            value; None never stops early.
        backup: a `.npz` path or None. The best value, its epoch and weights
            are written there on each improvement and read back when training
            begins, so that a run resumed from a backup stops and ends as the
            run it continues would have.

    Example:
    >>> best = BestWeights("val_perplexity", patience=2)
    >>> best.best_epoch is None
    True
    """

    def __init__(self, monitor, patience=None, backup=None):
        super().__init__()
        self.monitor, self.patience, self.backup = monitor, patience, backup
        self.best, self.best_epoch, self.weights = float("inf"), None, None

    def on_train_begin(self, logs=None):
        if self.backup is not None and os.path.exists(self.backup):
            with np.load(self.backup) as saved:
                self.best, self.best_epoch = float(saved["best"]), int(saved["epoch"])
                self.weights = [saved[f"arr_{i}"] for i in range(len(saved.files) - 2)]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value < self.best:
            self.best, self.best_epoch = value, epoch
            self.weights = model_weights(self.model)
            if self.backup is not None:
                self._save()
        elif self.patience is not None and self.best_epoch is not None:
            if epoch - self.best_epoch >= self.patience:
                self.model.stop_training = True

    def _save(self):
        os.makedirs(os.path.dirname(self.backup), exist_ok=True)
        partial = self.backup + ".partial.npz"  # replaced whole: never read cut short
        np.savez(partial, *self.weights, best=self.best, epoch=self.best_epoch)
        os.replace(partial, self.backup)

    def on_train_end(self, logs=None):
        # After fit has written the average into the weights (Keras does it
        # before `on_train_end`), so this is the last word.
        if self.weights is not None:
            self.model.set_weights(self.weights)


class TimeLimit(keras.callbacks.Callback):
    """Stops training, mid-epoch if need be, once `deadline` has passed.

    Training stops early enough for the epoch's scoring (validation, the
    callbacks' evaluations and backups) to finish by the deadline: `reserve`
    seconds until an epoch's end has been timed, then the last epoch end's.
    JAX dispatches steps asynchronously: a whole epoch can be queued before the
    first step has run, and the clock read at dispatch would say nothing of
    the computation. Every `every` steps this waits for the step's loss, so
    the clock is read at most `every` steps ahead of the computation.

    Args:
        deadline: a `time.monotonic()` value, or None for no limit.
        say: a function that prints one line.
        every: int, steps between two checks.
        reserve: seconds, the scoring's estimate before it is timed.
    """

    def __init__(self, deadline, say=print, every=16, reserve=0.0):
        super().__init__()
        self.deadline, self.say, self.every, self.reached = deadline, say, every, False
        self.scoring = reserve  # seconds kept for the scoring after the last step
        self.steps = 0  # of this fit: an epoch may be shorter than `every`

    def on_train_batch_end(self, batch, logs=None):
        self.last_step, self.steps = time.monotonic(), self.steps + 1
        if self.deadline is None or self.reached or self.steps % self.every:
            return
        if logs and "loss" in logs:
            float(logs["loss"])  # waits for the step to be computed
        if agreed(time.monotonic() + self.scoring >= self.deadline):  # process 0's clock
            self.reached = self.model.stop_training = True
            self.say(f"Time limit reached at step {batch + 1} of the epoch: training stops here")

    def on_epoch_end(self, epoch, logs=None):
        # Callbacks after this one (the progress line) take no time to speak of.
        self.scoring = time.monotonic() - self.last_step


class KeptBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore(double_checkpoint=True)` that also
    resumes from the previous backup when the latest opens but lacks
    variables: a process killed while writing it can leave either a file cut
    short (Keras' own fallback covers the `OSError`) or one whose groups were
    never written (`ValueError`). The random seeds' states (dropout masks,
    sampled negatives), which Keras' weights files leave out, are backed up
    beside each epoch's backup and restored with it, so a resumed run draws
    what the uninterrupted one would have.

    Args:
        backup_dir: str, as `keras.callbacks.BackupAndRestore`'s.
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, double_checkpoint=True)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except ValueError:
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copy(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                shutil.copy(self._prev_training_metadata_path, self._training_metadata_path)
            super().on_train_begin(logs)
        seeds = self._seeds_path(self.model._initial_epoch or 0)
        if os.path.exists(seeds):
            with np.load(seeds) as saved:
                for i, state in enumerate(self._seed_states()):
                    state.assign(saved[f"arr_{i}"])

    def on_epoch_end(self, epoch, logs=None):
        # Written before the backup it belongs to, named by its epoch: a kill
        # between the two leaves the previous backup with its own seeds.
        os.makedirs(self.backup_dir, exist_ok=True)
        states = [keras.ops.convert_to_numpy(state) for state in self._seed_states()]
        np.savez(self._seeds_path(epoch + 1), *states)
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self._seeds_path(epoch - 1)):
            os.remove(self._seeds_path(epoch - 1))

    def _seed_states(self):
        return [v for v in self.model.variables if "seed_generator_state" in v.path]

    def _seeds_path(self, epoch):
        return os.path.join(self.backup_dir, f"seeds-{epoch}.npz")


class Evaluation(keras.callbacks.Callback):
    """Adds exact metrics of `model` on `data` to each epoch's logs, as
    `<prefix><name>`, for the callbacks after it (early stopping, history);
    with weight averaging, of the averaged weights (as
    `keras.callbacks.SwapEMAWeights` does for `fit`). A sampled-softmax fit
    validates through it (`prefix="val_"`).

    Args:
        model: the `NextWordLSTM` being trained (the model `fit` runs may be a
            trainer around it).
        data: what `model.evaluate` takes: `x` alone (raw lines, a dataset),
            or `(x, y)` or `(x, y, sample_weight)` as `fit`'s `validation_data`.
        prefix: str, e.g. `"dev_"`.

    Raw lines are laid out once, on the first epoch's end, as the model's
    `evaluate` lays them out, and the loss is the exact mean (`exact_loss`).
    """

    def __init__(self, model, data, prefix):
        super().__init__()
        self.lm, self.data, self.prefix = model, data, prefix

    def on_epoch_end(self, epoch, logs=None):
        if is_text(self.data):
            self.data = self.lm.scoring_dataset(self.data, None)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(self.data)
        swap = None
        if getattr(self.model.optimizer, "use_ema", False):
            swap = keras.callbacks.SwapEMAWeights()
            swap.set_model(self.model)
            swap.on_test_begin()
        try:
            results = self.lm.evaluate(
                x, y, sample_weight=sample_weight, verbose=0, return_dict=True
            )
        finally:
            if swap is not None:
                swap.on_test_end()
        exact_loss(results)
        logs.update({f"{self.prefix}{name}": value for name, value in results.items()})


class Progress(keras.callbacks.Callback):
    """One line per epoch: its time, the time so far, how long the rest of
    the call takes at most (the time limit caps it), then the loss,
    perplexity and top-3 accuracy of training (`train`) and of the held-out
    lines (`val_`), and the perplexity of the lines set apart (`dev_`) when
    logged. Every other figure is in the history.

    Args:
        start: `time.monotonic()` when the whole call began.
        deadline: `time.monotonic()` of its time limit, or None.
        say: a function that prints one line.
        parts: Keras epochs in one pass over the training lines (a long pass
            is checked several times): the line then says `epoch 2/10, part 3/4`.

    Example:
    >>> progress = Progress(time.monotonic(), None)
    >>> progress.set_params({"epochs": 3})
    >>> progress.on_epoch_begin(0)
    >>> progress.on_epoch_end(0, {"loss": 5.2, "perplexity": 181.3, "top3_accuracy": 0.241})
    epoch 1/3 took 0 s, 0 s so far; at most 0 s more | train loss 5.2000, perplexity 181.3, top-3 24.1%
    """

    def __init__(self, start, deadline, say=print, parts=1):
        super().__init__()
        self.start, self.deadline, self.say, self.parts = start, deadline, say, parts

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        seconds, epochs = now - self.epoch_start, self.params["epochs"]
        left = (epochs - epoch - 1) * seconds
        capped = self.deadline is not None and self.deadline - now < left
        if capped:
            left = max(self.deadline - now, 0)
        name = f"epoch {epoch + 1}/{epochs}"
        if self.parts > 1:
            name = (
                f"epoch {epoch // self.parts + 1}/{epochs // self.parts}, "
                f"part {epoch % self.parts + 1}/{self.parts}"
            )
        self.say(
            f"{name} took {_duration(seconds)}, "
            f"{_duration(now - self.start)} so far; at most {_duration(left)} more"
            + (" (time limit)" if capped else "")
            + _figures(logs or {})
        )


# The figures of the epoch line, by split: (log prefix, its name in the line).
SPLITS = (("", "train"), ("val_", "held out"), ("dev_", "set apart"))


def _figures(logs):
    parts = []
    for prefix, name in SPLITS:
        figures = []
        if f"{prefix}loss" in logs and prefix != "dev_":
            figures.append(f"loss {logs[prefix + 'loss']:.4f}")
        if f"{prefix}perplexity" in logs:
            figures.append(f"perplexity {logs[prefix + 'perplexity']:.1f}")
        if f"{prefix}top3_accuracy" in logs and prefix != "dev_":
            figures.append(f"top-3 {100 * logs[prefix + 'top3_accuracy']:.1f}%")
        if figures:
            parts.append(f"{name} " + ", ".join(figures))
    return "".join(f" | {part}" for part in parts)


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
