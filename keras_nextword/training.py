"""`NextWordLSTM.from_text`: the training recipe, from a text file to a trained model.

The file is checked and streamed, the last lines held out, the vocabulary built,
the epoch count chosen by a rehearsal on the training lines, and the model
trained; see `from_text`'s docstring. `model.py` attaches it to the class, so
this module never imports the model.
"""

import contextlib
import json
import math
import os

import keras

from keras_nextword import data
from keras_nextword.distribution import check_batch_size
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
    "early_stopping_patience": None,
}


def check_positive_int(name, value):
    """Raises a `ValueError` naming `name` unless `value` is an int > 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def from_text(
    cls,
    path,
    epochs=100,
    validation_split=0.1,
    batch_size=8,
    learning_rate=0.003,
    mode="line",
    window_length=20,
    max_tokens=None,
    sequence_length=None,
    word_dropout=True,
    ema_momentum=0.995,
    num_sampled=None,
    early_stopping_patience=5,
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

    The files are checked (`data.check_text_file`), then stream from disk
    on every pass, so memory does not grow with the corpus. The last
    `validation_split` of the non-blank lines are held out: the vocabulary
    comes from the other lines only, and held-out loss, accuracy and
    perplexity are reported each epoch, never used to choose anything.

    With `early_stopping_patience`, the number of epochs is chosen first,
    by a rehearsal inside the training lines: a model with a vocabulary of
    their first 90% trains on them until perplexity on the last 10% has not
    improved for that many epochs. A fresh model then trains on all the
    training lines for the best epoch count.

    The defaults were chosen on The Final Problem's held-out lines by
    `benchmarks/heldout.py`; `**TUTORIAL_RECIPE` is the tutorial's.

    Args:
        path: a path, or a list of paths, of UTF-8 text files.
        epochs: int >= 0, the most epochs; 0 returns the untrained model.
        validation_split: float in [0, 1), the share of lines held out.
        batch_size: rows per training step.
        learning_rate: Adam's learning rate (gradients clipped to norm 1), a
            float or a `keras.optimizers.schedules.LearningRateSchedule` (of
            the step). The default is constant: decaying it by 5% or 10% an
            epoch measured worse on The Final Problem's held-out lines.
        mode: the training layout, `"line"` (one row per line),
            `"window"` (the word stream in rows of `window_length`) or
            `"prefix"` (the tutorial's prefix n-grams); see
            `pipeline.text_dataset`.
        window_length: positions per row in `"window"` mode.
        max_tokens: vocabulary cap (padding and `[UNK]` included) or None.
        sequence_length: row length in `"line"` and `"prefix"` modes, and
            the context of `predict` on strings; None for the longest line
            minus one (at most 64).
        word_dropout: bool, replace rare training words by `[UNK]` at random
            (see `NGramVectorizer`), so the model learns `[UNK]`'s share.
        ema_momentum: float in [0, 1) or None. Keep an exponential moving
            average of the weights (Adam's `use_ema`) with this momentum:
            validation scores it (`keras.callbacks.SwapEMAWeights`) and the
            trained model ends with it. The average starts from the initial
            weights, so a fit of fewer than `3 / (1 - ema_momentum)` steps
            (600 at 0.995; steps counted as lines / `batch_size` an epoch)
            trains without it, as does None.
        num_sampled: int or None. Train with a sampled softmax over this
            many negative words per step (see `fit`), for large
            vocabularies; held-out figures stay exact.
        early_stopping_patience: int or None, see above. None trains for
            all `epochs`, as the tutorial.
        checkpoint_dir: str or None. Training state is saved there after
            every epoch (`keras.callbacks.BackupAndRestore`): the same call
            after an interruption resumes from the last finished epoch.
        encoding_errors: `"strict"` refuses bytes that are not UTF-8,
            `"replace"` reads them as U+FFFD with a warning.
        seed: int or None; seeds weights, dropout and shuffling, so two runs
            on one backend and machine train the same weights.
        callbacks: list of Keras callbacks for the final `fit`.
        verbose: `fit` verbosity.
        distribution: a `keras.distribution.Distribution` (e.g.
            `keras_nextword.data_parallel()`) or None. The models are
            created and trained under its scope; `batch_size` is the global
            batch, split across the devices, so it must divide evenly.
        dtype_policy: a dtype policy name such as `"mixed_bfloat16"` or
            `"mixed_float16"`, or None; the model's `dtype` (see
            `NextWordLSTM`), saved with it.
        **config: `NextWordLSTM` arguments (`embedding_dim`, `lstm_units`,
            `dropout`, default 0.5 here, `tie_weights`, default True here:
            both measured better on held-out lines, see the README).

    Returns:
        The trained `NextWordLSTM`; `model.history` holds the final
        `History`, or None when `epochs` is 0.

    Raises:
        FloatingPointError: the loss became NaN or infinite.

    Example:
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0)
    >>> sorted(model.history.history)[:2]
    ['accuracy', 'loss']
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"`epochs` must be an integer >= 0. Received: epochs={epochs!r}")
    check_positive_int("batch_size", batch_size)
    scope = contextlib.nullcontext
    if distribution is not None:
        check_batch_size(distribution, batch_size)
        scope = distribution.scope
    if dtype_policy is not None:
        config["dtype"] = keras.dtype_policies.get(dtype_policy)
    if early_stopping_patience is not None:
        check_positive_int("early_stopping_patience", early_stopping_patience)
    if ema_momentum is not None and not 0 <= ema_momentum < 1:
        raise ValueError(
            f"`ema_momentum` must be in [0, 1) or None. Received: ema_momentum={ema_momentum!r}"
        )
    schedule = isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    if not schedule and not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate!r}")
    lines, count = data.stream_lines(path, encoding_errors)
    train_lines, validation_lines, (train_count, held_out) = data.split_dataset(
        lines, count, validation_split
    )
    config.setdefault("dropout", 0.5)
    config.setdefault("tie_weights", True)
    fit_kwargs = dict(
        batch_size=batch_size,
        mode=mode,
        window_length=window_length,
        num_sampled=num_sampled,
        verbose=verbose,
        seed=seed,
    )

    def optimizer(count, epochs):
        """Adam, averaging the weights if `epochs` over `count` lines take enough
        steps for the average to forget its start, the initial weights."""
        steps = epochs * math.ceil(count / batch_size)
        averaged = ema_momentum is not None and steps * (1 - ema_momentum) >= 3
        return keras.optimizers.Adam(
            learning_rate, clipnorm=1.0, use_ema=averaged, ema_momentum=ema_momentum or 0.99
        )

    def build(lines, count, epochs):
        """A model whose vocabulary is every word of `lines`, to train `epochs`."""
        preprocessor = NGramVectorizer(
            max_tokens=max_tokens, sequence_length=sequence_length, word_dropout=word_dropout
        )
        try:
            preprocessor.adapt(lines)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        if seed is not None:
            keras.utils.set_random_seed(seed)
        with scope():  # variables get their layouts when created
            model = cls(preprocessor.vocabulary_size(), preprocessor=preprocessor, **config)
            model.compile(optimizer=optimizer(count, epochs))
        return model

    def train(model, lines, validation, epochs, callbacks, backup):
        # Worse than guessing uniformly: the loss has exploded (or is NaN).
        limit = 2 * math.log(model.vocabulary_size)

        def stop_if_diverged(epoch, logs):
            model.stop_training = model.stop_training or not logs["loss"] <= limit

        guards = [
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.LambdaCallback(on_epoch_end=stop_if_diverged),
        ]
        if model.optimizer.use_ema:
            guards.append(keras.callbacks.SwapEMAWeights())  # validate the average
        if checkpoint_dir is not None:
            backup_dir = os.path.join(checkpoint_dir, backup)
            guards.append(keras.callbacks.BackupAndRestore(backup_dir))
        with scope():
            history = model.fit(
                lines,
                validation_data=validation,
                epochs=epochs,
                callbacks=guards + list(callbacks),
                **fit_kwargs,
            )
        loss = history.history["loss"][-1]
        if not loss <= limit:
            raise FloatingPointError(
                f"Training diverged: the loss became {loss:.4g} in epoch "
                f"{history.epoch[-1] + 1}, worse than guessing ({limit / 2:.2f}). "
                f"Lower `learning_rate` (now {learning_rate})."
            )
        return history

    model = build(train_lines, train_count, epochs)
    model.history = None
    if epochs and early_stopping_patience is not None:
        fit_lines, dev_lines, (fit_count, dev_count) = data.split_dataset(
            train_lines, train_count, 0.1
        )
        chosen = checkpoint_dir and os.path.join(checkpoint_dir, "epochs.json")
        if chosen and os.path.exists(chosen):
            with open(chosen) as f:
                epochs = json.load(f)["epochs"]
        elif dev_count:
            if verbose:
                print(f"Choosing the number of epochs on the last {dev_count} training lines")
            stop = keras.callbacks.EarlyStopping(
                "val_perplexity", patience=early_stopping_patience, mode="min"
            )
            rehearsal = build(fit_lines, fit_count, epochs)
            history = train(rehearsal, fit_lines, dev_lines, epochs, [stop], "rehearsal")
            perplexities = history.history["val_perplexity"]
            # `history.epoch` counts from the first epoch when a backup resumed it.
            epochs = history.epoch[perplexities.index(min(perplexities))] + 1
            if chosen:
                with open(chosen, "w") as f:
                    json.dump({"epochs": epochs}, f)
            if verbose:
                print(f"Training on all training lines for {epochs} epochs")
        if seed is not None:
            keras.utils.set_random_seed(seed)  # the same shuffles as without a rehearsal
        with scope():
            model.compile(optimizer=optimizer(train_count, epochs))
    if epochs:
        validation = validation_lines if held_out else None
        train(model, train_lines, validation, epochs, callbacks or [], "final")
    return model
