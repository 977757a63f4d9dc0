"""`NextWordLSTM.from_text`: the training recipe, from a text file to a trained model.

The file is checked and streamed, the last lines held out, the vocabulary built,
the settings chosen from what was counted (`recipe.choose`), the epoch count
chosen on the training lines, and the model trained within a time limit; see
`from_text`'s docstring. `model.py` attaches it to the class, so this module
never imports the model.
"""

import contextlib
import functools
import math
import os
import time

import keras

from keras_nextword import data, pipeline, recipe
from keras_nextword.backbone import check_positive_int
from keras_nextword.callbacks import (
    BestWeights,
    Evaluation,
    KeptBackupAndRestore,
    Progress,
    TimeLimit,
)
from keras_nextword.distribution import check_batch_size, check_identical, even_batch_size, in_group
from keras_nextword.optimizers import WarmAveragedAdam
from keras_nextword.preprocessing import NGramVectorizer

# `from_text` arguments that train as the tutorial did: prefix n-grams, batch 32,
# Adam at 0.001, an untied output layer, no dropout, word dropout or weight
# averaging, every epoch.
TUTORIAL_RECIPE = {
    "mode": "prefix",
    "batch_size": 32,
    "learning_rate": 0.001,
    "dropout": 0.0,
    "tie_weights": False,
    "word_dropout": False,
    "ema_momentum": None,
    "num_sampled": 0,
    "early_stopping_patience": 0,
    "max_minutes": None,
}


def from_text(
    cls,
    path,
    epochs=100,
    validation_split=0.1,
    batch_size=None,
    learning_rate=None,
    mode="line",
    window_length=20,
    max_tokens=None,
    sequence_length=None,
    word_dropout=True,
    ema_momentum="auto",
    ema_warmup=None,
    num_sampled=None,
    early_stopping_patience=None,
    max_minutes=15,
    checkpoint_dir=None,
    encoding_errors="strict",
    seed=None,
    callbacks=None,
    verbose="auto",
    distribution=None,
    dtype_policy=None,
    **config,
):
    """Builds the vocabulary and the model from text files, and trains.

    The files are checked (`data.check_text_file`), then stream from disk on
    every pass, so memory does not grow with the corpus. The last
    `validation_split` of the non-blank lines (at most 10,000) are held out:
    the vocabulary comes from the other lines only, and held-out loss,
    accuracy and perplexity (`val_*`) are reported each epoch, never used to
    choose anything.

    Settings left as None (`"auto"` for `ema_momentum`) are chosen from what
    was counted in the training lines (`keras_nextword.recipe.choose`: batch
    size, learning rate, sampled softmax, dropout, patience, weight
    averaging), each printed with its reason and kept in
    `model.training_settings`. The number of epochs is chosen in the run
    itself: the last 10% of the training lines (at most 5,000) are set apart
    (kept in memory, as are the held-out lines, and laid out once), never
    trained on, and training stops once their perplexity has not improved
    for `early_stopping_patience` epochs, ending with the weights of its best
    epoch. The whole call stops at `max_minutes`, ending with the
    best weights seen.

    Args:
        path: a path, or a list of paths, of UTF-8 text files.
        epochs: int >= 0, the most epochs; 0 returns the untrained model.
        validation_split: float in [0, 1), the share of lines held out.
        batch_size: rows per training step, or None to choose.
        learning_rate: Adam's learning rate (gradients clipped to norm 1), a
            float or a `keras.optimizers.schedules.LearningRateSchedule`, or
            None to choose.
        mode: the training layout, `"line"` (one row per line), `"window"`
            (the word stream in rows of `window_length`) or `"prefix"` (the
            tutorial's prefix n-grams); see `pipeline.text_dataset`.
        window_length: positions per row in `"window"` mode.
        max_tokens: vocabulary cap (padding and `[UNK]` included) or None.
        sequence_length: row length in `"line"` and `"prefix"` modes (longer
            lines go on in the next row); None for the longest line minus one
            (at most 64).
        word_dropout: bool, replace rare training words by `[UNK]` at random,
            so the model learns `[UNK]`'s share.
        ema_momentum: float in [0, 1), `"auto"` to choose, or None. Keep an
            exponential moving average of the weights (`WarmAveragedAdam`):
            validation scores it and the model ends with it; None trains
            without. With `ema_warmup` 1 or less (a plain mean of the
            steps so far), a fit of fewer than `3 / (1 - ema_momentum)`
            steps trains without it.
        ema_warmup: float > 0 or None to choose: the average's momentum at
            step `t` is `min(ema_momentum, t / (ema_warmup + t))`; 1 averages
            all the steps so far until the cap, 9 the last tenth.
        num_sampled: int, None to choose, or 0 for the full softmax. Train with
            a sampled softmax over this many negative words per step; held-out
            figures stay exact.
        early_stopping_patience: int, None to choose, or 0 to train all
            `epochs` (the tutorial).
        max_minutes: float or None: the time limit of the whole call.
        checkpoint_dir: str or None. Training state is saved there after
            every epoch (`keras.callbacks.BackupAndRestore`): the same call
            after an interruption resumes from the last finished epoch.
        encoding_errors: `"strict"` refuses bytes that are not UTF-8,
            `"replace"` reads them as U+FFFD with a warning.
        seed: int or None; seeds weights, dropout, word dropout and
            shuffling, so two runs on one backend train the same weights.
        callbacks: list of Keras callbacks for the final `fit`.
        verbose: `fit` verbosity; 0 also silences the phase lines.
        distribution: a `keras.distribution.Distribution` (e.g.
            `keras_nextword.data_parallel()`) or None. `batch_size` is then
            the global batch, split across the devices (a chosen one is
            rounded up to split evenly). In a group of processes
            (`keras_nextword.distribution.initialize`), every process calls
            `from_text` on the same files: a seed left None is process 0's,
            the vocabularies are checked identical, and each process keeps
            its state in `checkpoint_dir/process-I`.
        dtype_policy: a dtype policy name such as `"mixed_bfloat16"`, or None.
        **config: `NextWordLSTM` arguments (`embedding_dim`, `lstm_units`,
            `dropout` (None to choose), `tie_weights`, default True here:
            measured better on held-out lines, see docs/benchmarks.md).

    Returns:
        The trained `NextWordLSTM`; `model.history` holds the final
        `History` (None when `epochs` is 0), `model.training_settings` the
        settings used.

    Raises:
        FloatingPointError: the loss became NaN or infinite.

    Example:
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0)
    >>> model.training_settings["batch_size"], model.training_settings["learning_rate"]
    (32, 0.02)
    """
    start = time.monotonic()
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"`epochs` must be an integer >= 0. Received: epochs={epochs!r}")
    for name, value in (("batch_size", batch_size), ("max_minutes", max_minutes)):
        if value is not None and not value > 0:
            raise ValueError(f"`{name}` must be > 0 or None. Received: {name}={value!r}")
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    if early_stopping_patience is not None and early_stopping_patience != 0:
        check_positive_int("early_stopping_patience", early_stopping_patience)
    if ema_momentum not in (None, "auto") and not (
        isinstance(ema_momentum, (int, float)) and 0 <= ema_momentum < 1
    ):
        raise ValueError(
            "`ema_momentum` must be in [0, 1), 'auto' or None. "
            f"Received: ema_momentum={ema_momentum!r}"
        )
    if ema_warmup is not None and not (
        isinstance(ema_warmup, (int, float)) and not isinstance(ema_warmup, bool) and ema_warmup > 0
    ):
        raise ValueError(f"`ema_warmup` must be > 0 or None. Received: ema_warmup={ema_warmup!r}")
    schedule = isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    if learning_rate is not None and not schedule and not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate!r}")
    scope = contextlib.nullcontext if distribution is None else distribution.scope
    seed, checkpoint_dir = in_group(distribution, seed, checkpoint_dir)  # across processes
    if dtype_policy is not None:
        config["dtype"] = keras.dtype_policies.get(dtype_policy)
    config.setdefault("tie_weights", True)
    deadline = None if max_minutes is None else start + 60 * max_minutes
    say = functools.partial(print, flush=True) if verbose else (lambda *args: None)

    # Lines set apart to stop on, unless every epoch trains (or there are too few).
    stopping = epochs and early_stopping_patience != 0
    parts = recipe.split(path, validation_split, stopping, encoding_errors)
    # At most 5,000 and 10,000 lines (`recipe`): kept in memory, laid out once to be scored.
    dev, validation_lines = data.listed(parts.dev), data.listed(parts.held_out)
    train_lines = parts.train
    count, held_out = parts.lines, parts.held_out_lines
    train_count, dev_count = parts.train_lines, parts.dev_lines
    say(
        f"{_names(path)}: {count:,} lines, {held_out:,} held out"
        + (f", {dev_count:,} more to stop on" if dev_count else "")
    )

    preprocessor = NGramVectorizer(
        max_tokens=max_tokens, sequence_length=sequence_length, word_dropout=word_dropout
    )
    try:
        preprocessor.adapt(train_lines)
    except ValueError as error:
        raise ValueError(f"{_names(path)}: {error}") from None
    check_identical(preprocessor.get_vocabulary())  # across processes
    counts = recipe.CorpusCounts(
        train_count, sum(preprocessor.word_counts), preprocessor.vocabulary_size()
    )
    settings, reasons = recipe.choose(
        counts,
        batch_size,
        num_sampled,
        config.get("dropout"),
        early_stopping_patience if dev_count else 0,
        None if ema_momentum == "auto" else ema_momentum or 0,
        learning_rate,
        ema_warmup,
    )
    if stopping and not dev_count:
        reasons.append(
            f"{train_count:,} training lines: too few to set any apart, every epoch trains"
        )
    for reason in reasons:
        say(reason)
    if distribution is not None and batch_size is None:  # chosen: split it evenly
        settings["batch_size"] = even_batch_size(distribution, settings["batch_size"])
    batch_size, config["dropout"] = settings["batch_size"], settings["dropout"]
    ema_momentum, learning_rate = settings["ema_momentum"], settings["learning_rate"]
    if distribution is not None:
        check_batch_size(distribution, batch_size)
    # Adam, averaging the weights unless the average would still weigh the first
    # steps: the first tenth of a run weighs about 0.1 ** ema_warmup of it until
    # the cap, so with warm-up 1 (their plain mean) a run needs 3 / (1 - ema_momentum)
    # steps; with more (9: the last tenth of the steps so far), any run is averaged.
    steps = epochs * math.ceil(train_count / batch_size)
    plain_mean = settings["ema_warmup"] <= 1
    averaged = ema_momentum is not None and (not plain_mean or steps * (1 - ema_momentum) >= 3)
    if ema_momentum is not None and not averaged:
        say(
            f"{steps:,} training steps at most, fewer than 3 / (1 - ema_momentum) = "
            f"{3 / (1 - ema_momentum):,.0f} for a plain mean (ema_warmup "
            f"{settings['ema_warmup']:g}): no weight average"
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    with scope():  # variables get their layouts when created
        model = cls(preprocessor.vocabulary_size(), preprocessor=preprocessor, **config)
        model.compile(
            optimizer=WarmAveragedAdam(
                learning_rate,
                clipnorm=1.0,
                use_ema=averaged,
                ema_momentum=ema_momentum or 0.99,
                ema_warmup=settings["ema_warmup"],
            )
        )
    model.training_settings = dict(settings, epochs=epochs, max_minutes=max_minutes)
    if schedule:  # saved with the model's config: as JSON
        model.training_settings["learning_rate"] = keras.saving.serialize_keras_object(
            learning_rate
        )
    if not epochs:
        model.history = None
        return model

    # Worse than guessing uniformly: the loss has exploded (or is NaN).
    limit = 2 * math.log(model.vocabulary_size)

    def stop_if_diverged(epoch, logs):
        model.stop_training = model.stop_training or not logs["loss"] <= limit

    guards = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.LambdaCallback(on_epoch_end=stop_if_diverged),
    ]
    if averaged:
        guards.append(keras.callbacks.SwapEMAWeights())  # validate the average
    if checkpoint_dir is not None:
        # The previous epoch's backup is kept: a process killed while writing
        # one (its weights file cut short) resumes from the one before.
        guards.append(KeptBackupAndRestore(os.path.join(checkpoint_dir, "training")))
    watch = list(callbacks or [])
    if dev_count:
        say(f"Training up to {epochs} epochs, stopping on the {dev_count:,} lines set apart")
        # Early stopping on the lines set apart (never the held-out ones), best weights kept.
        watch = [
            Evaluation(model, dev, "dev_"),
            *watch,
            BestWeights("dev_perplexity", settings["patience"]),
        ]
    watch += [TimeLimit(deadline, say), Progress(start, deadline, say)]
    # Counted from the lines' lengths, not by a pass over them (window rows: by the pass).
    steps_per_epoch, bucket = None, "auto" if distribution is None else False  # few padded rows
    if mode != "window":
        steps_per_epoch = pipeline.batches_per_pass(
            preprocessor.tokenizer.line_lengths,
            batch_size,
            mode,
            preprocessor.sequence_length,
            bucket,
        )
    with scope():
        history = model.fit(
            train_lines,
            validation_data=validation_lines if held_out else None,
            epochs=epochs,
            callbacks=guards + watch,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            mode=mode,
            window_length=window_length,
            bucket=bucket,
            num_sampled=settings["num_sampled"],
            verbose=verbose,
            seed=seed,
        )
    loss = history.history["loss"][-1]
    if not loss <= limit:
        raise FloatingPointError(
            f"Training diverged: the loss became {loss:.4g} in epoch "
            f"{history.epoch[-1] + 1}, worse than guessing ({limit / 2:.2f}). "
            f"Lower `learning_rate` (now {learning_rate})."
        )
    return model


def _names(path):
    return ", ".join(map(os.fspath, path)) if isinstance(path, (list, tuple)) else os.fspath(path)
