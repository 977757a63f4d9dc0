"""`NextWordLSTM.from_text`: the training recipe, from text files to a trained
model, as the five phases of `keras_nextword.training.phases` in turn, and
`NextWordLSTM.fit_text`, the same training continued on more text. The model
attaches both, so this module never imports the model.
"""

import math
import os
import time

import keras

from keras_nextword.models.next_word_lstm.backbone import check_positive_int
from keras_nextword.runtime.distribution import in_group
from keras_nextword.text import packing
from keras_nextword.training import mixing, phases, recipe
from keras_nextword.training.refit import train_again as refit_again

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
    refit=False,
    **config,
):
    """Builds the vocabulary and the model from text files, and trains.

    The files are checked (`data.check_text_file`), then stream from disk on
    every pass, so memory does not grow with the corpus. The last
    `validation_split` of the non-blank lines (at most 10,000; `recipe.split`)
    are held out: the vocabulary comes from the other lines only, and held-out
    loss, accuracy and perplexity (`val_*`) are reported each epoch, never
    used to choose anything.

    Settings left as None (`"auto"` for `ema_momentum`) are chosen from what
    was counted in the training lines (`keras_nextword.training.recipe.choose`: batch
    size, learning rate, sampled softmax, dropout, patience, weight
    averaging), each printed with its reason and kept in
    `model.training_settings`. Rows are grouped by length; where that leaves
    over 8% padded (few steps an epoch), lines are packed several a row, each
    with its own LSTM state (`keras_nextword.text.packing`, `line_starts`).
    The number of epochs is chosen in the run itself: the last 10% of the
    training lines (at most 5,000) are set apart (kept in memory, as are the
    held-out lines, and laid out once), never trained on, and training stops
    once their perplexity has not improved for `early_stopping_patience` epochs,
    ending with the weights of its best epoch. The whole call, from set-up to
    the final scoring, stops at `max_minutes`, ending with the best weights seen
    (`keras_nextword.training.budget`); a long epoch is checked several times
    (validation, best weights, backups). With `refit="auto"`, when the stopping
    rule ended the run and time is left for as many epochs again, the model is
    trained again on every training line, those set apart included and their
    words in the vocabulary, for the epoch count found
    (`keras_nextword.training.refit`). Last, a bigram count model is mixed into
    the output where the lines set apart score the mix better (`mixing.mix`).

    It runs the phases of `keras_nextword.training.phases` in turn: `recipe.split`,
    `adapt`, `choose`, `build`, `train` and `mixing.mix`; call them yourself to change one.

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
        max_tokens: vocabulary cap (padding and `[UNK]` included) or None: at
            most `recipe.MAX_VOCABULARY` (50,000), the most frequent words.
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
            steps trains without it (`optimizer`).
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
            every epoch, or each part of a long one
            (`keras.callbacks.BackupAndRestore`): the same call after an
            interruption resumes from the last one saved.
        encoding_errors: `"strict"` refuses bytes that are not UTF-8,
            `"replace"` reads them as U+FFFD with a warning.
        seed: int or None; seeds weights, dropout, word dropout and
            shuffling, so two runs on one backend train the same weights.
        callbacks: list of Keras callbacks for the final `fit`.
        verbose: 0 prints nothing; `"auto"` (or 2) a line per phase and per
            epoch (`callbacks.Progress`); 1 also Keras' progress bar.
        distribution: a `keras.distribution.Distribution` (e.g.
            `keras_nextword.data_parallel()`) or None. `batch_size` is then
            the global batch, split across the devices (a chosen one is
            rounded up to split evenly). In a group of processes
            (`keras_nextword.runtime.distribution.initialize`), every process calls
            `from_text` on the same files: a seed left None is process 0's,
            the vocabularies are checked identical, and each process keeps
            its state in `checkpoint_dir/process-I`.
        dtype_policy: a dtype policy name such as `"mixed_bfloat16"`, or None.
        refit: False keeps the first run's model; `"auto"` trains again on
            every training line when the stopping rule ended the run and the
            second run fits in the time left (`refit.plan`, its reason
            printed; not with `checkpoint_dir`; docs/benchmarks.md, "Lines
            set apart"). A refit model, or one trained across devices, is not mixed
            with a bigram model.
        **config: `NextWordLSTM` arguments (`embedding_dim`, `lstm_units`,
            `dropout` (None to choose), `tie_weights`, default True here:
            better on held-out lines: docs/benchmarks.md; `line_starts`;
            `bigram_weight`, default `"auto"`: `training.mixing.mix`).

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
    # Every argument, for a second run (`refit.train_again`); `config` copied before it changes.
    arguments = dict(locals(), config=dict(config))
    start = time.monotonic()
    _check_arguments(epochs, batch_size, max_minutes, early_stopping_patience, learning_rate)
    _check_average(ema_momentum, ema_warmup, refit)
    seed, checkpoint_dir = in_group(distribution, seed, checkpoint_dir)  # across processes
    if dtype_policy is not None:
        config["dtype"] = keras.dtype_policies.get(dtype_policy)
    config.setdefault("tie_weights", True)
    bigram_weight, say = config.pop("bigram_weight", "auto"), phases.printer(verbose)

    # Lines set apart to stop on, unless every epoch trains.
    parts = recipe.split(
        path, validation_split, epochs and early_stopping_patience != 0, encoding_errors, say
    )
    _say_split(say, path, parts)
    preprocessor = phases.adapt(
        parts, max_tokens, sequence_length, word_dropout, _names(path), verbose
    )
    parts = parts.without_word_counts()
    model = _build(cls, parts, preprocessor, arguments, seed, config, say)
    if epochs:
        phases.train(
            model,
            parts,
            epochs,
            mode,
            window_length,
            max_minutes,
            checkpoint_dir,
            callbacks,
            verbose,
            seed,
            distribution,
            start,
        )
        if refit and checkpoint_dir is None:
            return refit_again(model, parts, arguments, time.monotonic() - start, say)
        deadline = None if max_minutes is None else start + 60 * max_minutes
        return mixing.mix(model, parts, None if distribution else bigram_weight, say, deadline)
    return model


def fit_text(
    model,
    path,
    epochs=100,
    validation_split=0.1,
    learning_rate=None,
    early_stopping_patience=None,
    max_minutes=15,
    checkpoint_dir=None,
    encoding_errors="strict",
    seed=None,
    callbacks=None,
    verbose="auto",
    mode="line",
    window_length=20,
):
    """Trains a model further on more text, as `from_text` trains: the same
    split (the last lines held out, the last training lines set apart to stop
    on), stopping, best weights, time limit and progress lines, on the
    model's own vocabulary (new words are `[UNK]` to it; their share is
    printed). The settings are the model's `training_settings` (chosen from
    the new text's counts for a model that has none), with a fresh optimizer
    at its learning rate unless `learning_rate` is given. A bigram mix keeps
    its table and share: the LSTM trains under it.

    Args:
        model: a `NextWordLSTM` with a preprocessor (from `from_text`, or loaded).
        path: a path, or a list of paths, of UTF-8 text files.
        epochs, validation_split, learning_rate, early_stopping_patience,
            max_minutes, checkpoint_dir, encoding_errors, seed, callbacks,
            verbose, mode, window_length: as `from_text`'s.

    Returns:
        `model`, trained; `model.history` holds the `History`.

    Raises:
        ValueError: the model has no preprocessor, or an argument is out of range.
        FloatingPointError: the loss became NaN or infinite.

    Example:
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0)
    >>> model.fit_text(datasets.load_final_problem(), epochs=1, verbose=0).history.epoch
    [0]
    """
    start = time.monotonic()
    _check_arguments(epochs, None, max_minutes, early_stopping_patience, learning_rate)
    if model.preprocessor is None:
        raise ValueError("`fit_text` needs a model with a `preprocessor` (its vocabulary).")
    say = phases.printer(verbose)
    parts = recipe.split(
        path, validation_split, epochs and early_stopping_patience != 0, encoding_errors, say
    )
    _say_split(say, path, parts)
    known = set(model.preprocessor.get_vocabulary())
    words = sum(parts.word_counts.values())
    unknown = sum(n for word, n in parts.word_counts.items() if word not in known)
    say(
        f"{words:,} training words, {unknown / max(words, 1):.1%} of them [UNK] to the "
        f"model's {model.backbone.vocabulary_size:,}-word vocabulary"
    )
    parts = parts.without_word_counts()
    settings = _continued_settings(model, parts, words, learning_rate, early_stopping_patience)
    steps = epochs * math.ceil(parts.train_lines / settings["batch_size"])
    if seed is not None:
        keras.utils.set_random_seed(seed)
    adam, reason = phases.optimizer(settings, steps)
    if reason:
        say(reason)
    model.compile(optimizer=adam)
    model.training_settings = dict(settings, epochs=epochs, max_minutes=max_minutes)
    if epochs:
        phases.train(
            model,
            parts,
            epochs,
            mode,
            window_length,
            max_minutes,
            checkpoint_dir,
            callbacks,
            verbose,
            seed,
            start=start,
            line_lengths=parts.line_lengths,
        )
    return model


def _build(cls, parts, preprocessor, arguments, seed, config, say):
    """Phases 3 and 4 of `from_text`: the settings chosen (reasons printed) and
    the compiled model, its `training_settings` recorded."""
    epochs, learning_rate = arguments["epochs"], arguments["learning_rate"]
    patience = arguments["early_stopping_patience"]
    settings, reasons = phases.choose(
        parts,
        preprocessor,
        arguments["batch_size"],
        learning_rate,
        arguments["num_sampled"],
        config.pop("dropout", None),
        patience if epochs else 0,
        arguments["ema_momentum"],
        arguments["ema_warmup"],
        arguments["distribution"],
    )
    for reason in reasons:
        say(reason)
    if arguments["mode"] == "line" and arguments["distribution"] is None:
        lengths, length = preprocessor.tokenizer.line_lengths, preprocessor.sequence_length
        pack, reason = packing.worth_packing(
            lengths, settings["batch_size"], length, parts.train_lines
        )
        if config.setdefault("line_starts", pack) and reason:
            say(reason)
    steps = epochs * math.ceil(parts.train_lines / settings["batch_size"])
    if seed is not None:
        keras.utils.set_random_seed(seed)
    distribution, verbose = arguments["distribution"], arguments["verbose"]
    model = phases.build(cls, preprocessor, settings, steps, distribution, verbose, **config)
    max_minutes = arguments["max_minutes"]
    model.training_settings = dict(model.training_settings, epochs=epochs, max_minutes=max_minutes)
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        model.training_settings["learning_rate"] = keras.saving.serialize_keras_object(
            learning_rate
        )  # saved with the model's config: as JSON
    model.history = None
    return model


def _continued_settings(model, parts, words, learning_rate, early_stopping_patience):
    """The model's own settings, or those `recipe.choose` picks for the new text."""
    counts = recipe.CorpusCounts(parts.train_lines, words, model.backbone.vocabulary_size)
    chosen, _ = recipe.choose(counts, dropout=model.backbone.dropout)
    settings = {**chosen, **(getattr(model, "training_settings", None) or {})}
    if isinstance(settings["learning_rate"], dict):  # a schedule, saved as JSON
        settings["learning_rate"] = keras.saving.deserialize_keras_object(settings["learning_rate"])
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    if early_stopping_patience is not None:
        settings["patience"] = early_stopping_patience
    return settings


def _say_split(say, path, parts):
    say(
        f"{_names(path)}: {parts.lines:,} lines, {parts.held_out_lines:,} held out "
        "(val_: reported, never used to choose)"
        + (f", {parts.dev_lines:,} more set apart to stop on (dev_)" if parts.dev_lines else "")
    )


def _check_arguments(epochs, batch_size, max_minutes, early_stopping_patience, learning_rate):
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"`epochs` must be an integer >= 0. Received: epochs={epochs!r}")
    for name, value in (("batch_size", batch_size), ("max_minutes", max_minutes)):
        if value is not None and not value > 0:
            raise ValueError(f"`{name}` must be > 0 or None. Received: {name}={value!r}")
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    if early_stopping_patience is not None and early_stopping_patience != 0:
        check_positive_int("early_stopping_patience", early_stopping_patience)
    schedule = isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    if learning_rate is not None and not schedule and not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate!r}")


def _check_average(ema_momentum, ema_warmup, refit):
    if refit not in ("auto", False):
        raise ValueError(f"`refit` must be 'auto' or False. Received: refit={refit!r}")
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


def _names(path):
    return ", ".join(map(os.fspath, path)) if isinstance(path, (list, tuple)) else os.fspath(path)
