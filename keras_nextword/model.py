"""`NextWordLSTM`: Embedding -> LSTM -> softmax over the vocabulary, with its preprocessor."""

import contextlib
import warnings

import keras
import numpy as np

from keras_nextword import data, generation, pipeline, training
from keras_nextword import suggest as suggestions
from keras_nextword.backbone import NextWordLSTMBackbone
from keras_nextword.callbacks import Evaluation
from keras_nextword.distribution import check_batch_size
from keras_nextword.losses import NextWordCrossentropy, Perplexity
from keras_nextword.metrics import PositionAccuracy, SuggestionAccuracy
from keras_nextword.sampled_softmax import SampledSoftmaxTrainer


@contextlib.contextmanager
def _unknown_length_ok():
    """Streamed text has no known length, and Keras warns at the end of each pass."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your input ran out of data")
        yield


def _output_logits(embedding, head, tie_weights, hidden_states):
    logits = hidden_states if head is None else head(hidden_states)
    return embedding(logits, reverse=True) if tie_weights else logits


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordLSTM(keras.Model):
    """Word-level next-word LSTM language model.

    `token_ids` of shape `(batch, length)` go through
    `Embedding(vocabulary_size, embedding_dim)` and `LSTM(lstm_units)`; a
    dense output layer gives float32 next-word logits at every position,
    `(batch, length, vocabulary_size)`, as a keras-hub causal LM does (the
    softmax is in the loss, the metrics and `predict` on strings). Id 0 is
    padding, and rows are post-padded: the LSTM runs without a mask (Keras
    uses cuDNN only without one), each position sees only the words before
    it, and padding after a row's last word changes none of its outputs.
    Pre-padded rows do not work: padding would run through the LSTM first.
    `model.backbone`, a `NextWordLSTMBackbone` (embedding + LSTM, hidden
    states of every position), is a keras-hub `Backbone` to reuse under other
    heads, `model.output_logits` its output layer. Defaults are the tutorial's: embedding 100, LSTM 150, Adam;
    the loss is exact sparse cross-entropy of the logits over positions of
    sample weight > 0.

    With a `preprocessor` (an adapted `NGramVectorizer`), `fit`, `evaluate` and
    `predict` also accept raw strings, and `generate` continues text.

    Args:
        vocabulary_size: int, the number of token ids (padding and `[UNK]` included).
        embedding_dim: int, the embedding width.
        lstm_units: int, the LSTM width.
        dropout: float in [0, 1), dropout rate after the embedding and after
            the LSTM while training (0, the tutorial's, turns it off).
        preprocessor: an `NGramVectorizer` or None.
        dtype: a dtype policy or its name (e.g. `"mixed_bfloat16"`,
            `"mixed_float16"`) for every layer; the logits are cast to
            float32; None for `keras.config.dtype_policy()`. Mixed
            policies keep the weights in float32 and compute in 16 bits;
            `"mixed_float16"` scales the loss (`keras.optimizers.LossScaleOptimizer`).
        tie_weights: bool. The output layer reuses the embedding matrix
            (`keras.layers.ReversibleEmbedding`, no output bias), after a
            `Dense(embedding_dim)` projection when `lstm_units` differs: fewer
            weights, and lower held-out perplexity on The Final Problem
            (86-90 against 94-99 untied over seeds 0-2, `benchmarks/heldout.py`),
            so `from_text` ties by default. False here, the tutorial's layer.

    Examples:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=2, verbose=0)
    >>> model.generate("What happens we do this", max_length=3)  # doctest: +SKIP
    'What happens we do this and i have'
    >>> model.predict(["it is with a heavy"], verbose=0).shape
    (1, 1639)
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=100,
        lstm_units=150,
        dropout=0.0,
        preprocessor=None,
        dtype=None,
        tie_weights=False,
        **kwargs,
    ):
        # === Layers === (assigned after the functional init: torch needs it first)
        # Embedding and LSTM (no mask: rows are post-padded, and Keras runs the
        # LSTM on cuDNN only without one), checking the sizes.
        backbone = NextWordLSTMBackbone(
            vocabulary_size,
            embedding_dim,
            lstm_units,
            dropout=dropout,
            tie_weights=tie_weights,
            dtype=dtype,
            name="backbone",
        )
        embedding, lstm = backbone.token_embedding, backbone.lstm
        if tie_weights:
            head = None
            if lstm_units != embedding_dim:
                head = keras.layers.Dense(embedding_dim, dtype=dtype, name="projection")
        else:
            head = keras.layers.Dense(vocabulary_size, dtype=dtype, name="logits")
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        hidden = keras.layers.Dropout(dropout, dtype=dtype, name="lstm_dropout")(
            backbone(token_ids)
        )
        logits = keras.layers.Activation("linear", dtype="float32", name="float32_logits")(
            _output_logits(embedding, head, tie_weights, hidden)
        )
        super().__init__(inputs=token_ids, outputs=logits, **kwargs)
        if dtype is not None:
            # Functional models ignore `dtype`; compile reads it (mixed_float16 loss scaling).
            self.dtype_policy = backbone.dtype_policy = dtype
        self.embedding, self.lstm, self.head, self.backbone = embedding, lstm, head, backbone
        self.preprocessor = preprocessor
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.dropout = dropout
        self.tie_weights = tie_weights
        self.compile()

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs):
        """`keras.Model.compile` with this model's defaults for `"auto"`.

        Args:
            optimizer: `"auto"` is the tutorial's Adam (learning rate 0.001)
                with gradients clipped to norm 1.0, the tutorial's answer to
                exploding gradients.
            loss: `"auto"` is exact sparse cross-entropy of the logits
                (integer targets, never one-hot, no clip), averaged over the
                positions of sample weight > 0 (`losses.NextWordCrossentropy`).
            weighted_metrics: `"auto"` is accuracy (`metrics.PositionAccuracy`),
                the keyboard's top-1 and top-3 accuracy (`metrics.SuggestionAccuracy`: padding and
                `[UNK]` never suggested) and exact perplexity
                (`losses.Perplexity`), counted over the same positions, each
                alike whatever the length of its batch.
            **kwargs: other `keras.Model.compile` arguments.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(learning_rate=0.001, clipnorm=1.0)
        if loss == "auto":
            loss = NextWordCrossentropy()
        if weighted_metrics == "auto":
            weighted_metrics = [
                PositionAccuracy(),
                SuggestionAccuracy(1),
                SuggestionAccuracy(3),
                Perplexity(),
            ]
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs)

    from_text = classmethod(training.from_text)

    def _text_dataset(self, x, batch_size, mode="line", **kwargs):
        if self.preprocessor is None:
            raise ValueError(
                "Raw strings need a model with a `preprocessor` (an adapted NGramVectorizer)."
            )
        batch_size = batch_size or 32
        if keras.distribution.distribution() is not None:
            # Every batch (padded to `batch_size`) must split evenly across the devices.
            check_batch_size(keras.distribution.distribution(), batch_size)
        return pipeline.text_dataset(x, self.preprocessor, batch_size, mode, **kwargs)

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        validation_data=None,
        mode="line",
        window_length=20,
        bucket=False,
        num_sampled=None,
        seed=None,
        **kwargs,
    ):
        """`keras.Model.fit` that also takes raw lines of text (then `y` is None).

        Raw strings are laid out by `keras_nextword.pipeline.text_dataset` in
        `mode`, shuffled (`seed` fixes the order) and with word dropout if the
        preprocessor has it. The pipeline is repeated with `steps_per_epoch`
        counted in one pass (`pipeline.repeated`), so one iterator serves every
        epoch. Raw-string `validation_data` is always scored line by line (each
        word after the first of its line, from the words before it in the
        line), so validation perplexity means the same whatever `mode`. Under a
        `keras.distribution` scope, batches of raw strings are padded to
        `batch_size` with weight-0 rows, so that each splits evenly across the
        devices.

        Args:
            x: raw lines (str, list of str, or `tf.data.Dataset` of str), or
                anything `keras.Model.fit` takes.
            y: targets for non-text `x`.
            batch_size: rows per step (32 for raw strings when None).
            validation_data: raw lines, or what `keras.Model.fit` takes.
            mode: `"line"`, `"window"` or the tutorial's `"prefix"`.
            window_length: positions per row in `"window"` mode.
            bucket: bool, batch lines of similar length (`"line"` mode).
            num_sampled: int or None. Train with a sampled softmax over that
                many negative words per step (`keras_nextword.sampled_softmax`):
                the reported training loss is the sampled one, validation
                metrics stay exact.
            seed: int or None, the shuffle (and negatives') seed.
            **kwargs: other `keras.Model.fit` arguments.

        Returns:
            The `History`, also kept as `model.history`.

        Example:
        >>> vectorizer = NGramVectorizer()
        >>> vectorizer.adapt(["a heavy heart", "a light heart"])
        >>> model = NextWordLSTM(vectorizer.vocabulary_size(), preprocessor=vectorizer)
        >>> history = model.fit(["a heavy heart"], epochs=2, verbose=0)
        >>> len(history.history["perplexity"])
        2
        """
        if validation_data is not None and data.is_text(validation_data):
            validation_data = self._text_dataset(validation_data, batch_size, bucket=True)
        if data.is_text(x):
            x = self._text_dataset(
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
        trainer = self
        if num_sampled:
            trainer = SampledSoftmaxTrainer(self, num_sampled, seed=seed)
            trainer.compile(
                optimizer=self.optimizer.__class__.from_config(self.optimizer.get_config())
            )
            if validation_data is not None:
                kwargs["callbacks"] = [
                    Evaluation(self, validation_data, "val_"),
                    *(kwargs.get("callbacks") or []),
                ]
                validation_data = None
        with _unknown_length_ok():
            fit = super().fit if trainer is self else trainer.fit
            self.history = fit(
                x, y, batch_size=batch_size, validation_data=validation_data, **kwargs
            )
        return self.history

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.evaluate` that also takes raw lines of text, scored line
        by line: every word after the first of its line, from the words before it."""
        if data.is_text(x):
            x, batch_size = self._text_dataset(x, batch_size, bucket=True), None
        with _unknown_length_ok():
            return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`, that also takes raw strings.

        For token ids (post-padded), the float32 next-word logits at every
        position, `(batch, length, vocabulary_size)`; `keras.ops.softmax`
        turns them into probabilities. For raw strings, the next-word probabilities of
        the word after each whole string, `(batch, vocabulary_size)`. The
        whole string is the context, as in `generate`: never cut to the
        preprocessor's `sequence_length`. Strings are laid out post-padded
        and each row's last real position is read.

        Args:
            x: a string or a list of strings, or token ids (anything
                `keras.Model.predict` takes).
            batch_size: rows per batch.
            **kwargs: other `keras.Model.predict` arguments.

        Returns:
            A NumPy array, as above.

        Raises:
            ValueError: a string has no words.
        """
        if data.is_text(x):
            rows = generation.encode(self.preprocessor, [x] if isinstance(x, str) else x)
            lengths = np.array([len(row) for row in rows])
            ids = np.zeros((len(rows), lengths.max()), "int32")  # post-padded with PAD_ID
            for i, row in enumerate(rows):
                ids[i, : len(row)] = row
            logits = super().predict(ids, batch_size=batch_size, **kwargs)
            logits = logits[np.arange(len(rows)), lengths - 1].astype("float32")
            exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
            return exp / exp.sum(axis=-1, keepdims=True)
        return super().predict(x, batch_size=batch_size, **kwargs)

    def output_logits(self, hidden_states):
        """The output layer: next-word logits of the LSTM's hidden states.

        Applies the model's own layers (the projection and the reversed
        embedding when tied, else `head`), so it works on symbolic tensors:
        a model composed over `backbone` reuses it as a layer.

        Args:
            hidden_states: tensor `(batch, length, lstm_units)`, as `backbone`
                returns.

        Returns:
            The logits, `(batch, length, vocabulary_size)`.

        Example:
        >>> model = NextWordLSTM(10, embedding_dim=4, lstm_units=6, tie_weights=True)
        >>> logits = model.output_logits(model.backbone(np.array([[2, 3]])))
        >>> tuple(logits.shape)
        (1, 2, 10)
        """
        return _output_logits(self.embedding, self.head, self.tie_weights, hidden_states)

    suggest = suggestions.suggest  # model.suggest(texts, k=5): see keras_nextword.suggest

    def generate(
        self, prompts, max_length=10, sampler="greedy", seed=None, stop=None, **sampler_kwargs
    ):
        """Continues each prompt with `max_length` words; see `keras_nextword.generate`."""
        return generation.generate(self, prompts, max_length, sampler, seed, stop, **sampler_kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config:
            # Saved as resolved on the saving backend (True on JAX); each backend
            # should pick its own, or a JAX-saved model runs torch.compile on torch.
            config.pop("jit_compile", None)
        return config

    def get_config(self):
        # Not the functional graph: the constructor arguments rebuild it.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "lstm_units": self.lstm_units,
            "dropout": self.dropout,
            "tie_weights": self.tie_weights,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            # What `from_text` chose (batch size, sampled softmax...), saved with the model.
            "training_settings": getattr(self, "training_settings", None),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        training_settings = config.pop("training_settings", None)
        model = cls(**config)
        model.training_settings = training_settings
        return model

    def save_to_preset(self, preset_dir):
        """Writes the model to a preset directory, laid out as keras-hub's (see
        `keras_nextword.presets`): `NextWordLSTM.from_preset(preset_dir)` and
        `keras_nextword.load_model(preset_dir)` load it back,
        `keras_hub.models.Backbone.from_preset(preset_dir)` its backbone.

        Args:
            preset_dir: str or `os.PathLike`, created if missing.
        """
        from keras_nextword import presets

        presets.save_to_preset(self, preset_dir)

    @classmethod
    def from_preset(cls, preset_dir):
        """Loads a model that `save_to_preset` wrote to a local directory.

        Args:
            preset_dir: str or `os.PathLike`.

        Returns:
            The `NextWordLSTM`, with its preprocessor.
        """
        from keras_nextword import presets

        return presets.load_preset(preset_dir)

    def save(self, filepath, overwrite=True, **kwargs):
        """`keras.Model.save`, atomically: a kill mid-save leaves the previous file
        whole. See `keras_nextword.saving.save_atomic`."""
        from keras_nextword.saving import save_atomic

        save_atomic(self, filepath, overwrite=overwrite, **kwargs)
