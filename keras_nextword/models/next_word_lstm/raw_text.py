"""`fit`, `evaluate` and `predict` on raw lines of text, for `NextWordLSTM`.

keras-hub's `Task` maps its preprocessor over `fit`'s inputs sample by
sample; here raw strings go through `keras_nextword.text.pipeline` instead (its
layouts, word dropout, bucketing, a sampled softmax, validation scored line
by line), and everything else straight to `keras.Model`'s methods.
These functions are the bodies of `NextWordLSTM.fit`, `evaluate`, `predict`
and `scoring_dataset`.
"""

import contextlib
import functools
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_nextword.generation import generate as generation
from keras_nextword.layers.callbacks import Evaluation
from keras_nextword.layers.losses import exact_loss
from keras_nextword.layers.sampled_softmax import LossTrainer, SampledSoftmaxTrainer
from keras_nextword.runtime.distribution import check_batch_size
from keras_nextword.text import data, pipeline

SCORING_ROWS = 64  # at least, per batch of lines scored
BUCKETED_WIDTH = 32  # scored rows wider than this are batched by length


class _ExactValidationLoss(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        exact_loss(logs, "val_")


@contextlib.contextmanager
def _unknown_length_ok():
    """Streamed text has no known length, and Keras warns at the end of each pass."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your input ran out of data")
        yield


def text_dataset(model, x, batch_size, mode="line", **kwargs):
    """`keras_nextword.text.pipeline.text_dataset` over `model.preprocessor`,
    checking that batches split across the devices of a `keras.distribution`.

    Args:
        model: a `NextWordLSTM` with a preprocessor.
        x: raw lines (str, list of str, or `tf.data.Dataset` of str).
        batch_size: rows per batch (32 when None).
        mode: `"line"`, `"window"` or `"prefix"`.
        **kwargs: other `pipeline.text_dataset` arguments.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets, sample_weight)` batches.

    Example:
    >>> vectorizer = NGramVectorizer(sequence_length=4)
    >>> vectorizer.adapt(["it is a heavy heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> x, y, w = next(iter(text_dataset(model, ["it is a heavy heart"], 2)))
    >>> int(w.numpy().sum())
    4
    """
    if model.preprocessor is None:
        raise ValueError("Raw strings need a model with a `preprocessor` (its vocabulary).")
    batch_size = batch_size or 32
    if keras.distribution.distribution() is not None:
        # Every batch (padded to `batch_size`) must split evenly across the devices.
        check_batch_size(keras.distribution.distribution(), batch_size)
    return pipeline.text_dataset(x, model.preprocessor, batch_size, mode, **kwargs)


def scoring_dataset(model, x, batch_size=None):
    """Raw lines laid out to be scored line by line, as validation and
    `evaluate` score them: each word after the first of its line, from the
    words before it in that line.

    Rows of up to `BUCKETED_WIDTH` positions are scored in one layout, so
    that every scoring pass shares its one compiled step: batches of at
    least `SCORING_ROWS` rows (a multiple of `batch_size`, so that they
    split across devices as training batches do), not bucketed. On The
    Final Problem (rows of 17) validation and the lines set apart compiled
    8 steps at about 0.45 s each in the first epoch (validation at batch 8,
    the lines set apart at 32, each length bucket a shape); now one.
    Wider rows are bucketed by length, at `batch_size` (32 when None): on
    the canon (rows of 64, 18,262 words) the padding would cost more, and
    scoring its lines set apart at 64 rows instead of 32 measured slower
    (about 27 s an epoch of scoring instead of 21, across two runs).
    The batches of lines in memory (not a `tf.data.Dataset`) are kept
    (`cache`), as the caller keeps the lines.

    Args:
        model: a `NextWordLSTM` with a preprocessor.
        x: str, list of str, or a `tf.data.Dataset` of str (one line each).
        batch_size: rows per batch the scoring batches are a multiple
            of, or None.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets, sample_weight)` batches
        (weight 1 on each scored position, 0 on padding).

    Example:
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> preprocessor = NGramVectorizer(sequence_length=4)
    >>> preprocessor.adapt(["it is a heavy heart"])
    >>> model = NextWordLSTM.from_sizes(preprocessor.vocabulary_size(), 8, 8, preprocessor=preprocessor)
    >>> x, y, w = next(iter(scoring_dataset(model, ["it is a heavy heart"])))
    >>> tuple(x.shape), int(w.numpy().sum())
    ((64, 4), 4)
    """
    cache = not isinstance(x, tf.data.Dataset)
    if (model.preprocessor.sequence_length or 0) > BUCKETED_WIDTH:
        return text_dataset(model, x, batch_size, bucket=True, cache=cache)
    batch_size = batch_size or SCORING_ROWS
    batch_size *= max(1, SCORING_ROWS // batch_size)
    return text_dataset(model, x, batch_size, cache=cache)


def fit(
    model,
    x=None,
    y=None,
    batch_size=None,
    validation_data=None,
    mode="line",
    window_length=20,
    bucket=False,
    num_sampled=None,
    training_metrics=True,
    seed=None,
    **kwargs,
):
    """`keras.Model.fit` that also takes raw lines of text (then `y` is None).

    Raw strings are laid out by `keras_nextword.text.pipeline.text_dataset` in
    `mode`, shuffled (`seed` fixes the order) and with word dropout if the
    preprocessor has it. The pipeline is repeated, so one iterator serves
    every epoch, of `steps_per_epoch` steps (if None, counted in one pass,
    `pipeline.repeated`). Raw-string `validation_data` is always scored
    line by line (each word after the first of its line, from the words
    before it in the line), so validation perplexity means the same
    whatever `mode`. Under a
    `keras.distribution` scope, batches of raw strings are padded to
    `batch_size` with weight-0 rows, so that each splits evenly across the
    devices.

    Args:
        model: a `NextWordLSTM` (with a preprocessor for raw lines).
        x: raw lines (str, list of str, or `tf.data.Dataset` of str), or
            anything `keras.Model.fit` takes.
        y: targets for non-text `x`.
        batch_size: rows per step (32 for raw strings when None).
        validation_data: raw lines, or what `keras.Model.fit` takes.
        mode: `"line"`, `"window"` or the tutorial's `"prefix"`.
        window_length: positions per row in `"window"` mode.
        bucket: bool, batch lines of similar length (`"line"` mode).
        num_sampled: int or None. Train with a sampled softmax over that
            many negative words per step (`keras_nextword.layers.sampled_softmax`):
            the reported training loss is the sampled one, validation
            metrics stay exact.
        training_metrics: bool. False trains on the loss alone
            (`sampled_softmax.LossTrainer`, as a sampled softmax does):
            each step is faster, the compiled metrics are reported for
            validation only.
        seed: int or None, the shuffle (and negatives') seed.
        **kwargs: other `keras.Model.fit` arguments.

    Returns:
        The `History`, also kept as `model.history`.

    Example:
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), preprocessor=vectorizer)
    >>> history = fit(model, ["a heavy heart"], epochs=2, verbose=0)
    >>> len(history.history["perplexity"])
    2
    """
    if validation_data is not None and data.is_text(validation_data):
        validation_data = model.scoring_dataset(validation_data, batch_size)
        # Before History and the caller's callbacks read it.
        kwargs["callbacks"] = [_ExactValidationLoss(), *(kwargs.get("callbacks") or [])]
    if data.is_text(x):
        x = text_dataset(
            model,
            x,
            batch_size,
            mode,
            window_length=window_length,
            bucket=bucket,
            shuffle=kwargs.pop("shuffle", True),
            training=True,  # word dropout, shuffled or not
            seed=seed,
        )
        batch_size, kwargs["shuffle"] = None, False  # the dataset shuffles itself
        if kwargs.get("steps_per_epoch") is None:
            x, kwargs["steps_per_epoch"] = pipeline.repeated(x)
            if not kwargs["steps_per_epoch"]:
                raise ValueError("`x` has no line of two or more words: nothing to predict.")
        else:
            x = x.repeat()
    trainer = model
    if num_sampled:
        trainer = SampledSoftmaxTrainer(model, num_sampled, seed=seed)
    elif not training_metrics:
        trainer = LossTrainer(model)
    if trainer is not model:
        # The model's own optimizer: its state (steps, moments, average) is the model's.
        trainer.compile(optimizer=model.optimizer)
        if validation_data is not None:
            kwargs["callbacks"] = [
                Evaluation(model, validation_data, "val_"),
                *(kwargs.get("callbacks") or []),
            ]
            validation_data = None
    with _unknown_length_ok():
        fit = functools.partial(keras.Model.fit, model) if trainer is model else trainer.fit
        model.history = fit(x, y, batch_size=batch_size, validation_data=validation_data, **kwargs)
    return model.history


def evaluate(model, x=None, y=None, batch_size=None, **kwargs):
    """`keras.Model.evaluate` that also takes raw lines of text, scored line
    by line: every word after the first of its line, from the words before it
    (in the batches of `scoring_dataset`); the loss is then the exact mean
    over those words (`exact_loss`).

    Args:
        model: a `NextWordLSTM` (with a preprocessor for raw lines).
        x: raw lines, or anything `keras.Model.evaluate` takes.
        y: targets for non-text `x`.
        batch_size: rows per batch.
        **kwargs: other `keras.Model.evaluate` arguments (`return_dict`...).

    Returns:
        The loss and metrics, as `keras.Model.evaluate` returns them.

    Example:
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), preprocessor=vectorizer)
    >>> sorted(evaluate(model, ["a heavy heart"], verbose=0, return_dict=True))[:2]
    ['accuracy', 'loss']
    """
    if not data.is_text(x):
        with _unknown_length_ok():
            return keras.Model.evaluate(model, x, y, batch_size=batch_size, **kwargs)
    return_dict = kwargs.pop("return_dict", False)
    with _unknown_length_ok():
        logs = keras.Model.evaluate(
            model, model.scoring_dataset(x, batch_size), y, return_dict=True, **kwargs
        )
    exact_loss(logs)
    if return_dict:
        return logs
    # Private: Keras has no public way to list a logs dict in the order of
    # `evaluate(return_dict=False)` (`metrics_names` keeps `compile_metrics` whole).
    return model._flatten_metrics_in_order(logs)


def predict(model, x, batch_size=None, **kwargs):
    """`keras.Model.predict`, that also takes raw strings.

    For token ids (post-padded), the float32 next-word logits at every
    position, `(batch, length, vocabulary_size)`; `keras.ops.softmax`
    turns them into probabilities. For raw strings, the next-word probabilities of
    the word after each whole string, `(batch, vocabulary_size)`. The
    whole string is the context, as in `generate`: never cut to the
    preprocessor's `sequence_length`. Strings are laid out post-padded
    and each row's last real position is read.

    Args:
        model: a `NextWordLSTM` (with a preprocessor for strings).
        x: a string or a list of strings, or token ids (anything
            `keras.Model.predict` takes).
        batch_size: rows per batch.
        **kwargs: other `keras.Model.predict` arguments.

    Returns:
        A NumPy array, as above.

    Raises:
        ValueError: a string has no words.

    Example:
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), preprocessor=vectorizer)
    >>> predict(model, ["a heavy"], verbose=0).shape
    (1, 6)
    """
    if data.is_text(x):
        rows = generation.encode(model.preprocessor, [x] if isinstance(x, str) else x)
        lengths = np.array([len(row) for row in rows])
        ids = np.zeros((len(rows), lengths.max()), "int32")  # post-padded with PAD_ID
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        logits = keras.Model.predict(model, ids, batch_size=batch_size, **kwargs)
        logits = logits[np.arange(len(rows)), lengths - 1].astype("float32")
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return exp / exp.sum(axis=-1, keepdims=True)
    return keras.Model.predict(model, x, batch_size=batch_size, **kwargs)
