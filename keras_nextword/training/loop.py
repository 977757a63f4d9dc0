"""The pieces of `phases.train`'s `fit`: the training batches, resumed where a
backup left them, and the callbacks around each check.

A check (validation on the lines set apart, best weights, early stopping, a
backup) comes at each Keras epoch's end; a long pass over the training lines
is split into several Keras epochs (`steps_per_epoch` over the repeated
batches), so everything Keras does at an epoch's end, resuming from a backup
included, works inside a pass. A resumed run skips the batches its backup
had trained on: it sees the batches the uninterrupted run would have.
"""

import math
import os

import keras
import tensorflow as tf

from keras_nextword.layers.callbacks import (
    BestWeights,
    Evaluation,
    KeptBackupAndRestore,
    Progress,
    TimeLimit,
)
from keras_nextword.text import pipeline
from keras_nextword.training.budget import ScoringBudget


def guessing_limit(model):
    """A loss above this is worse than guessing uniformly: training has diverged.

    Example:
    >>> import types
    >>> backbone = types.SimpleNamespace(vocabulary_size=1_000)
    >>> round(guessing_limit(types.SimpleNamespace(backbone=backbone)), 2)
    13.82
    """
    return 2 * math.log(model.backbone.vocabulary_size)


class SkipTrained(keras.callbacks.Callback):
    """Sets how many batches `training_data`'s dataset skips once training
    begins (after a backup has been restored, before the first batch is
    read): the steps the restored optimizer has taken since `begin`.

    Args:
        skip: the dataset's `tf.Variable`.
        begin: int, the optimizer's steps before this `fit`.
    """

    def __init__(self, skip, begin):
        super().__init__()
        self.skip, self.begin = skip, begin

    def on_train_begin(self, logs=None):
        self.skip.assign(int(self.model.optimizer.iterations) - self.begin)


def training_data(
    model, lines, batch_size, mode, window_length, bucket, seed, steps, line_lengths=None
):
    """The training batches of `lines`, shuffled, with word dropout, repeated
    without end, as `fit` lays raw lines out, and able to resume.

    Args:
        model: the model, with its adapted preprocessor.
        lines: a `tf.data.Dataset` of str.
        batch_size, mode, window_length, bucket, seed: as `fit`'s.
        steps: int, the batches of a pass, or None to count them (one pass).
        line_lengths: `{words: lines}` of `lines`, that grouped or packed rows
            are planned on (`pipeline.text_dataset`): the counts `steps` was
            counted from (`pipeline.batches_per_pass`), or None for the
            preprocessor's.

    Returns:
        `(dataset, steps, skip)`: the repeated batches, the batches of a pass,
        and the `tf.Variable` of the batches to skip (`SkipTrained` sets it).

    Example:
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> lines = tf.data.Dataset.from_tensor_slices(["a heavy heart", "a light heart"])
    >>> dataset, steps, skip = training_data(model, lines, 1, "line", 20, False, 0, None)
    >>> steps, int(skip.numpy())  # 0 until a resumed run sets it
    (2, 0)
    >>> x, y, sample_weight = next(iter(dataset))
    >>> tuple(x.shape)
    (1, 2)
    """
    dataset = pipeline.text_dataset(
        lines,
        model.preprocessor,
        batch_size,
        mode,
        window_length=window_length,
        bucket=bucket,
        shuffle=True,
        training=True,
        seed=seed,
        line_lengths=line_lengths,
    )
    if steps is None:
        dataset, steps = pipeline.repeated(dataset)
        if not steps:
            raise ValueError("`x` has no line of two or more words: nothing to predict.")
    else:
        dataset = dataset.repeat()
    skip = tf.Variable(0, dtype="int64", trainable=False)
    # Read when the iterator starts, after `SkipTrained` has set it.
    resumed = tf.data.Dataset.from_tensors(0).flat_map(
        tf.autograph.experimental.do_not_convert(lambda _: dataset.skip(skip))
    )
    # A new root: without the pipeline's options (`pipeline.text_dataset` turns tf.data's
    # autotuning off), its tuning thread ran again, and dropping the iterator at the end
    # of `fit` could wait on it.
    return resumed.with_options(dataset.options()), steps, skip


def callbacks(model, lines, settings, checkpoint_dir, user, clock, say, parts=1, resume=None):
    """`fit`'s callbacks: guards (divergence, the average), the scoring of the
    held-out lines, stopping on the lines set apart, the backup, the user's,
    and the time limit (its room for the scoring kept by `budget.ScoringBudget`).

    Args:
        model: the compiled model.
        lines: `(dev, held_out)`: lists of the lines set apart to stop on and
            of the held-out lines, or None for either.
        settings: its `training_settings` (`patience`, in epochs).
        checkpoint_dir: str or None.
        user: the user's callbacks, or None.
        clock: `(start, deadline, bounded)`: `time.monotonic()` of the call
            and of its limit (or None), and whether the scoring may be a sample.
        say: a function that prints one line.
        parts: Keras epochs in a pass over the training lines.
        resume: a `SkipTrained`, run once a backup is restored, or None.

    Returns:
        A list of callbacks; the `TimeLimit` is the one before last.
    """
    limit = guessing_limit(model)

    def stop_if_diverged(epoch, logs):
        model.stop_training = model.stop_training or not logs["loss"] <= limit

    guards = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.LambdaCallback(on_epoch_end=stop_if_diverged),
    ]
    if model.optimizer.use_ema:
        guards.append(keras.callbacks.SwapEMAWeights())  # validate the average
    (dev, held_out), (start, deadline, bounded) = lines, clock
    scored = {}
    if held_out is not None:  # reported, never used to choose
        scored["held out"] = Evaluation(model, held_out, "val_")
    watch = []
    backup = None if checkpoint_dir is None else os.path.join(checkpoint_dir, "training")
    if dev is not None:
        # Early stopping on the lines set apart (never the held-out ones), best weights
        # kept, and backed up beside the training state: a resumed run stops as this one.
        patience = settings["patience"] * parts
        best = BestWeights("dev_perplexity", patience, backup and os.path.join(backup, "best.npz"))
        scored["set apart"] = Evaluation(model, dev, "dev_")
        watch = [scored["set apart"], best]
    if backup is not None:
        # Before the user's callbacks: a check they see is backed up. The previous
        # backup is kept: a process killed while writing one resumes from the one before.
        watch.append(KeptBackupAndRestore(backup))
    if resume is not None:
        watch.append(resume)
    watch += list(user or [])
    time_limit = TimeLimit(deadline, say)
    budget = ScoringBudget(model, scored, time_limit, say, bounded, checks=parts)
    val = [scored["held out"]] if held_out is not None else []
    return [budget, *guards, *val, *watch, time_limit, Progress(start, deadline, say, parts)]
