"""The phases of `from_text`, each callable alone (benchmarks call them instead
of repeating them):

1. `recipe.split`: the files checked and streamed, the last lines held out,
   the last training lines set apart to stop on;
2. `adapt`: the vocabulary of the training lines, a `NextWordLSTMCausalLMPreprocessor`;
3. `choose`: the settings left to choose, from what was counted;
4. `build`: the model, compiled with its optimizer (`optimizer`);
5. `train`: `fit` with early stopping on the lines set apart, the best
   weights, the time limit and the progress line.

They take the model's class as an argument and never import the model (the
preprocessor `adapt` builds is the family's, the one `build` gives the model).
"""

import contextlib
import functools
import math
import time

from keras_nextword.layers.optimizers import WarmAveragedAdam
from keras_nextword.models.next_word_lstm.causal_lm_preprocessor import (
    NextWordLSTMCausalLMPreprocessor,
)
from keras_nextword.runtime.distribution import check_batch_size, check_identical, even_batch_size
from keras_nextword.text import data, packing, pipeline
from keras_nextword.training import budget, loop, recipe


def printer(verbose):
    """The phases' `print`: flushed, or silent when `verbose` is 0.

    Example:
    >>> printer(0)("not shown")
    >>> printer(1)("shown")
    shown
    """
    return functools.partial(print, flush=True) if verbose else (lambda *args: None)


def adapt(
    parts, max_tokens=None, sequence_length=None, word_dropout=True, name="corpus", verbose=1
):
    """Phase 2 of `from_text`: the vocabulary of the training lines, from the
    words the first pass counted (`recipe.split`), capped by
    `recipe.cap_vocabulary` (its reason printed) when `max_tokens` is None.

    Args:
        parts: a `recipe.Split` (phase 1, `recipe.split`).
        max_tokens: vocabulary cap (padding and `[UNK]` included) or None
            for `recipe.cap_vocabulary`'s.
        sequence_length: row length, or None for the longest line minus one
            (at most 64).
        word_dropout: bool, as `NextWordLSTMCausalLMPreprocessor`'s.
        name: str, the corpus's name in errors.
        verbose: 0 silences the cap's line.

    Returns:
        A `NextWordLSTMCausalLMPreprocessor` (keras-hub's kind, over a
        `WordTokenizer`), checked identical across a group of processes.

    Raises:
        ValueError: naming `name`, when the training lines hold no word.

    Example:
    >>> from keras_nextword import datasets
    >>> from keras_nextword.training import budget, loop, recipe
    >>> adapt(recipe.split(datasets.load_final_problem())).vocabulary_size()
    1544
    """
    max_tokens, cap = recipe.cap_vocabulary(parts.word_counts, max_tokens)
    if cap:
        printer(verbose)(cap)
    try:
        preprocessor = NextWordLSTMCausalLMPreprocessor.from_counts(
            parts.word_counts,
            parts.line_lengths,
            max_tokens,
            sequence_length,
            word_dropout=word_dropout,
        )
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    check_identical(preprocessor.get_vocabulary())  # across processes
    return preprocessor


def choose(
    parts,
    preprocessor,
    batch_size=None,
    learning_rate=None,
    num_sampled=None,
    dropout=None,
    early_stopping_patience=None,
    ema_momentum="auto",
    ema_warmup=None,
    distribution=None,
):
    """Phase 3 of `from_text`: every setting left as None (`"auto"` for
    `ema_momentum`) chosen from the training lines' counts (`recipe.choose`).

    Args:
        parts: a `recipe.Split`.
        preprocessor: its preprocessor (phase 2, `adapt`).
        batch_size, learning_rate, num_sampled, dropout,
            early_stopping_patience, ema_momentum, ema_warmup: as
            `from_text`'s.
        distribution: a `keras.distribution.Distribution` or None; a chosen
            batch size is rounded up to split evenly across its devices.

    Returns:
        `(settings, reasons)`: a dict of the settings (`recipe.choose`'s
        seven), and one printable line for each choice made here.

    Example:
    >>> from keras_nextword import datasets
    >>> from keras_nextword.training import budget, loop, recipe
    >>> parts = recipe.split(datasets.load_final_problem())
    >>> settings, reasons = choose(parts, adapt(parts))
    >>> settings["batch_size"], settings["learning_rate"], reasons[0]
    (32, 0.02, '5,860 training words: batch size 32')
    """
    counts = recipe.CorpusCounts(
        parts.train_lines, sum(preprocessor.word_counts), preprocessor.vocabulary_size()
    )
    settings, reasons = recipe.choose(
        counts,
        batch_size,
        num_sampled,
        dropout,
        early_stopping_patience if parts.dev_lines else 0,
        None if ema_momentum == "auto" else ema_momentum or 0,
        learning_rate,
        ema_warmup,
    )
    if early_stopping_patience != 0 and not parts.dev_lines:
        reasons.append(
            f"{parts.train_lines:,} training lines: too few to set any apart, every epoch trains"
        )
    if distribution is not None and batch_size is None:  # chosen: split it evenly
        settings["batch_size"] = even_batch_size(distribution, settings["batch_size"])
    return settings, reasons


def optimizer(settings, steps):
    """`from_text`'s optimizer for its settings: `WarmAveragedAdam`, gradients
    clipped to norm 1, averaging the weights unless the average would still
    weigh the first steps. The first tenth of a run weighs about
    `0.1 ** ema_warmup` of it until the cap, so with warm-up 1 (a plain mean)
    a run needs `3 / (1 - ema_momentum)` steps; with more (9: the last tenth
    of the steps so far), any run is averaged.

    Args:
        settings: `choose`'s settings (`learning_rate`, `ema_momentum`, `ema_warmup`).
        steps: int, the training steps at most.

    Returns:
        `(optimizer, reason)`: a `WarmAveragedAdam`, and a printable line when
        the average was turned off, else None.

    Example:
    >>> settings = {"learning_rate": 0.003, "ema_momentum": 0.9995, "ema_warmup": 1}
    >>> adam, reason = optimizer(settings, steps=100)
    >>> adam.use_ema, reason
    (False, '100 training steps at most, fewer than 3 / (1 - ema_momentum) = 6,000 for a plain mean (ema_warmup 1): no weight average')
    """
    momentum, warmup = settings["ema_momentum"], settings["ema_warmup"]
    plain_mean = warmup <= 1
    averaged = momentum is not None and (not plain_mean or steps * (1 - momentum) >= 3)
    reason = None
    if momentum is not None and not averaged:
        reason = (
            f"{steps:,} training steps at most, fewer than 3 / (1 - ema_momentum) = "
            f"{3 / (1 - momentum):,.0f} for a plain mean (ema_warmup {warmup:g}): no weight average"
        )
    adam = WarmAveragedAdam(
        settings["learning_rate"],
        clipnorm=1.0,
        use_ema=averaged,
        ema_momentum=momentum or 0.99,
        ema_warmup=warmup,
    )
    return adam, reason


def build(cls, preprocessor, settings, steps, distribution=None, verbose=1, **config):
    """Phase 4 of `from_text`: the model for `preprocessor`, compiled with
    `optimizer(settings, steps)`, its settings kept in `model.training_settings`.

    Args:
        cls: `NextWordLSTM` (or a subclass).
        preprocessor: the model's preprocessor (phase 2, `adapt`).
        settings: `choose`'s settings (its `dropout` is the model's).
        steps: int, the training steps at most (for the weight average's rule).
        distribution: a `keras.distribution.Distribution` or None; the
            variables are created in its scope.
        verbose: 0 silences the line printed when the average is turned off.
        **config: other `cls` arguments (`embedding_dim`, `lstm_units`,
            `tie_weights`, `dtype`).

    Returns:
        The compiled model.

    Example:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> from keras_nextword.training import budget, loop, recipe
    >>> parts = recipe.split(datasets.load_final_problem())
    >>> preprocessor = adapt(parts)
    >>> settings, _ = choose(parts, preprocessor)
    >>> model = build(NextWordLSTM, preprocessor, settings, steps=170)
    >>> model.optimizer.use_ema, model.backbone.dropout
    (True, 0.5)
    """
    if distribution is not None:
        check_batch_size(distribution, settings["batch_size"])
    scope = contextlib.nullcontext if distribution is None else distribution.scope
    with scope():  # variables get their layouts when created: the optimizer's too
        adam, reason = optimizer(settings, steps)
        model = cls.from_sizes(
            preprocessor.vocabulary_size(),
            preprocessor=preprocessor,
            dropout=settings["dropout"],
            **config,
        )
        model.compile(optimizer=adam)
    if reason:
        printer(verbose)(reason)
    model.training_settings = dict(settings)
    return model


def train(
    model,
    parts,
    epochs=100,
    mode="line",
    window_length=20,
    max_minutes=15,
    checkpoint_dir=None,
    callbacks=None,
    verbose="auto",
    seed=None,
    distribution=None,
    start=None,
    line_lengths=None,
    epoch_parts=None,
):
    """Phase 5 of `from_text`: `fit` on the training lines, stopping once the
    lines set apart stop improving (`model.training_settings["patience"]`
    epochs), ending with the best weights, the whole call within the time
    limit (`keras_nextword.training.budget`: the final scoring's room kept,
    a bounded sample of lines scored where the time is short, and a line at the
    end when the limit cut training that was still improving).

    A long epoch is checked several times (`epoch_parts`): the history then
    holds one entry per check (a Keras epoch of `steps_per_epoch` steps),
    patience counts checks (`patience` times the parts), and backups resume
    from the last check, on the batches the run would have trained on next.

    Args:
        model: a compiled model with an adapted preprocessor (phase 4, `build`).
        parts: its `recipe.Split`.
        epochs: int > 0, the most epochs.
        mode, window_length, max_minutes, checkpoint_dir, callbacks, verbose,
            seed, distribution: as `from_text`'s.
        start: `time.monotonic()` when the time limit began, or None for now.
        line_lengths: `{words: lines}` of the training lines, or None for
            those the preprocessor adapted on (`recipe.split` counts others):
            the rows are planned on them (grouped by length, or packed for a
            backbone with `line_starts` on one device, up to `packing.GROUP`
            lines), and the steps of a pass counted from them.
        epoch_parts: int, the checks in an epoch, or None for
            `budget.epoch_parts`'s.

    Returns:
        The `History` of `fit`, also kept in `model.history`.

    Raises:
        FloatingPointError: the loss became NaN or worse than guessing.

    Example:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> from keras_nextword.training import budget, loop, recipe
    >>> parts = recipe.split(datasets.load_final_problem())
    >>> preprocessor = adapt(parts)
    >>> settings, _ = choose(parts, preprocessor)
    >>> model = build(NextWordLSTM, preprocessor, settings, steps=17)
    >>> train(model, parts, epochs=1, verbose=0).epoch
    [0]
    """
    start = time.monotonic() if start is None else start
    deadline = None if max_minutes is None else start + 60 * max_minutes
    say, settings = printer(verbose), model.training_settings
    dev = data.listed(parts.dev) if parts.dev_lines else None  # at most 5,000 lines
    held_out = data.listed(parts.held_out) if parts.held_out_lines else None
    if dev is not None:
        say(f"Training up to {epochs} epochs, stopping on the {parts.dev_lines:,} lines set apart")
    # Rows grouped by length (few padded positions), except across devices: rows per
    # width are not rounded to split evenly.
    bucket = "auto" if distribution is None else False
    lengths = line_lengths or model.preprocessor.tokenizer.line_lengths
    # Packed: short lines several a row. A pass packs at most `packing.GROUP` lines at
    # once; beyond, its rows (and so the steps of a pass) are not counted ahead.
    if bucket and mode == "line" and model.backbone.line_starts:
        bucket = "pack" if sum(lengths.values()) <= packing.GROUP else bucket
    batch_size, length = settings["batch_size"], model.preprocessor.sequence_length
    steps = None  # counted from the lines' lengths (window rows: by the pass)
    if mode != "window":
        steps = pipeline.batches_per_pass(lengths, batch_size, mode, length, bucket)
    batches, steps, skip = loop.training_data(  # rows planned on the same lengths
        model, parts.train, batch_size, mode, window_length, bucket, seed, steps, lengths
    )
    if epoch_parts is None:
        epoch_parts = _epoch_parts(lengths, max_minutes, steps, say)
    watch = loop.callbacks(
        model,
        (dev, held_out),
        settings,
        checkpoint_dir,
        callbacks,
        # A group of processes scores every line: the same shapes on each.
        (start, deadline, distribution is None),
        say,
        epoch_parts,
        loop.SkipTrained(skip, int(model.optimizer.iterations)),
    )
    scope = contextlib.nullcontext if distribution is None else distribution.scope
    with scope():
        history = model.fit(
            batches,
            shuffle=False,  # the batches come shuffled
            epochs=epochs * epoch_parts,
            callbacks=watch,
            steps_per_epoch=math.ceil(steps / epoch_parts),
            num_sampled=settings["num_sampled"],
            verbose=1 if verbose == 1 else 0,  # else `Progress`'s line alone
            seed=seed,
        )
    _check_loss(model, history, settings)
    if watch[-2].reached:  # the time limit
        _say_verdict(history, dev is not None, epoch_parts, max_minutes, say)
    return history


def _epoch_parts(lengths, max_minutes, steps, say):
    """`budget.epoch_parts` for training lines of these lengths (its reason printed)."""
    words = sum(length * count for length, count in lengths.items())
    epoch_parts, reason = budget.epoch_parts(words, max_minutes, steps)
    if reason:
        say(reason)
    return epoch_parts


def _say_verdict(history, set_apart, epoch_parts, max_minutes, say):
    """After a run the time limit ended: whether more time would have helped."""
    monitor = "dev_perplexity" if set_apart else "val_perplexity"
    line = budget.verdict(history.history, monitor, epoch_parts, max_minutes)
    if line:
        say(line)


def _check_loss(model, history, settings):
    loss, limit = history.history["loss"][-1], loop.guessing_limit(model)
    if not loss <= limit:
        raise FloatingPointError(
            f"Training diverged: the loss became {loss:.4g} in epoch "
            f"{history.epoch[-1] + 1}, worse than guessing ({limit / 2:.2f}). "
            f"Lower the learning rate (now {settings['learning_rate']}): "
            "`learning_rate=` in Python, `--learning-rate` on the command line."
        )
