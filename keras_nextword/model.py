"""`NextWordLSTM`: Embedding -> LSTM -> softmax over the vocabulary, with its preprocessor."""

import warnings

import keras
import keras_hub
from keras import ops

from keras_nextword import data, generation
from keras_nextword.preprocessing import NGramVectorizer


def _positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordLSTM(keras.Model):
    """Word-level next-word LSTM language model.

    `token_ids` of shape `(batch, length)`, pre-padded with 0, go through
    `Embedding(vocabulary_size, embedding_dim, mask_zero=True)` and
    `LSTM(lstm_units)`; a dense softmax over the vocabulary gives the next-word
    probabilities after the last position. `model.backbone` (embedding + LSTM,
    hidden states of every position) is a functional model to reuse under other
    heads. Defaults are the tutorial's: embedding 100, LSTM 150, Adam, sparse
    cross-entropy, accuracy and perplexity.

    With a `preprocessor` (an adapted `NGramVectorizer`), `fit`, `evaluate` and
    `predict` also accept raw strings, and `generate` continues text.

    Args:
        vocabulary_size: int, the number of token ids (padding and `[UNK]` included).
        embedding_dim: int, the embedding width.
        lstm_units: int, the LSTM width.
        dropout: float in [0, 1), dropout rate after the embedding and after
            the LSTM while training (0, the tutorial's, turns it off).
        preprocessor: an `NGramVectorizer` or None.

    Examples:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=2)
    >>> model.generate("What happens we do this", max_length=3)  # doctest: +SKIP
    'What happens we do this and i have'
    >>> model.predict(["it is with a heavy"], verbose=0).shape
    (1, 1638)
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=100,
        lstm_units=150,
        dropout=0.0,
        preprocessor=None,
        **kwargs,
    ):
        _positive_int("vocabulary_size", vocabulary_size)
        _positive_int("embedding_dim", embedding_dim)
        _positive_int("lstm_units", lstm_units)
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        # === Layers === (assigned after the functional init: torch needs it first)
        embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
        )
        lstm = keras.layers.LSTM(lstm_units, return_sequences=True, name="lstm")
        head = keras.layers.Dense(vocabulary_size, name="logits")
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedded = keras.layers.Dropout(dropout, name="embedding_dropout")(embedding(token_ids))
        backbone = keras.Model(token_ids, lstm(embedded), name="backbone")
        hidden = keras.layers.Dropout(dropout, name="lstm_dropout")(backbone(token_ids))
        probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(
            head(hidden)
        )
        super().__init__(inputs=token_ids, outputs=probabilities, **kwargs)
        self.embedding, self.lstm, self.head, self.backbone = embedding, lstm, head, backbone
        self.preprocessor = preprocessor
        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.dropout = dropout
        # The tutorial's Adam, with sparse targets (never one-hot) and perplexity.
        self.compile(
            optimizer="adam",
            # A mean over real positions only: padding carries sample weight 0.
            loss=keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"),
            # Weighted: padding (sample weight 0) counts in neither metric.
            weighted_metrics=["accuracy", keras_hub.metrics.Perplexity(name="perplexity")],
        )

    @classmethod
    def from_text(
        cls,
        path,
        epochs=100,
        validation_split=0.1,
        batch_size=32,
        mode="window",
        window_length=20,
        max_tokens=None,
        sequence_length=None,
        word_dropout=True,
        early_stopping_patience=5,
        seed=None,
        callbacks=None,
        verbose="auto",
        **config,
    ):
        """Builds the vocabulary and the model from text files, and trains.

        The files stream from disk (`keras_nextword.data.stream_lines`), so
        memory does not grow with the corpus. The last `validation_split` of
        the non-blank lines are held out: the vocabulary comes from the other
        lines only, and held-out loss, accuracy and perplexity are reported
        each epoch, never used to choose anything.

        With `early_stopping_patience`, the number of epochs is chosen first:
        a model trains on the first 90% of the training lines until perplexity
        on the rest has not improved for that many epochs; then a fresh model
        trains on all training lines for the best epoch count.

        Args:
            path: a path, or a list of paths, of UTF-8 text files.
            epochs: int >= 0, the most epochs; 0 returns the untrained model.
            validation_split: float in [0, 1), the share of lines held out.
            batch_size: rows per training step.
            mode: the training layout, `"window"` (the word stream in rows of
                `window_length`), `"line"` (one row per line) or `"prefix"`
                (the tutorial's prefix n-grams); see `data.text_dataset`.
            window_length: positions per row in `"window"` mode.
            max_tokens: vocabulary cap (padding and `[UNK]` included) or None.
            sequence_length: context length of `predict` on strings, and row
                length in `"line"` and `"prefix"` modes; None for the longest
                line minus one.
            word_dropout: bool, replace rare training words by `[UNK]` at random
                (see `NGramVectorizer`), so the model learns `[UNK]`'s share.
            early_stopping_patience: int or None, see above. None trains for
                all `epochs`, as the tutorial.
            seed: int or None; seeds Keras, weights and shuffling.
            callbacks: list of Keras callbacks for the final `fit`.
            verbose: `fit` verbosity.
            **config: `NextWordLSTM` arguments (`embedding_dim`, `lstm_units`,
                `dropout`, default 0.5 here).

        The defaults (window mode, `dropout=0.5`, word dropout, epochs chosen
        on training lines) are measured by `benchmarks/heldout.py`; `mode=
        "prefix", dropout=0.0, word_dropout=False, early_stopping_patience=None`
        is the tutorial's recipe.

        Returns:
            The trained `NextWordLSTM`; `model.history` holds the final
            `History`, or None when `epochs` is 0.

        Example:
        >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0)
        >>> sorted(model.history.history)[:2]
        ['accuracy', 'loss']
        """
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
            raise ValueError(f"`epochs` must be an integer >= 0. Received: epochs={epochs!r}")
        _positive_int("batch_size", batch_size)
        if early_stopping_patience is not None:
            _positive_int("early_stopping_patience", early_stopping_patience)
        train_lines, validation_lines, (train_count, held_out) = data.split_dataset(
            *data.stream_lines(path), validation_split
        )
        config.setdefault("dropout", 0.5)
        fit_kwargs = dict(
            batch_size=batch_size,
            mode=mode,
            window_length=window_length,
            verbose=verbose,
            seed=seed,
        )

        def build(lines):
            """A model whose vocabulary is every word of `lines`."""
            preprocessor = NGramVectorizer(
                max_tokens=max_tokens, sequence_length=sequence_length, word_dropout=word_dropout
            )
            preprocessor.adapt(lines)
            if seed is not None:
                keras.utils.set_random_seed(seed)
            return cls(preprocessor.vocabulary_size(), preprocessor=preprocessor, **config)

        if epochs and early_stopping_patience is not None:
            # A rehearsal of the whole recipe inside the training lines: its own
            # vocabulary (so words only in the last 10% read as [UNK], as unseen
            # words will), trained on the first 90%, scored on the last 10%.
            fit_lines, dev_lines, (_, dev_count) = data.split_dataset(train_lines, train_count, 0.1)
            if dev_count:
                if verbose:
                    print(f"Choosing the number of epochs on the last {dev_count} training lines")
                history = build(fit_lines).fit(
                    fit_lines,
                    validation_data=dev_lines,
                    epochs=epochs,
                    callbacks=[
                        keras.callbacks.EarlyStopping(
                            "val_perplexity", patience=early_stopping_patience, mode="min"
                        )
                    ],
                    **fit_kwargs,
                )
                perplexities = history.history["val_perplexity"]
                epochs = perplexities.index(min(perplexities)) + 1
                if verbose:
                    print(f"Training on all training lines for {epochs} epochs")
        model = build(train_lines)
        model.history = None
        if epochs:
            model.fit(
                train_lines,
                validation_data=validation_lines if held_out else None,
                epochs=epochs,
                callbacks=callbacks,
                **fit_kwargs,
            )
        return model

    def _text_dataset(self, x, batch_size, mode="line", **kwargs):
        if self.preprocessor is None:
            raise ValueError(
                "Raw strings need a model with a `preprocessor` (an adapted NGramVectorizer)."
            )
        return data.text_dataset(x, self.preprocessor, batch_size or 32, mode, **kwargs)

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        validation_data=None,
        mode="window",
        window_length=20,
        seed=None,
        **kwargs,
    ):
        """`keras.Model.fit` that also takes raw lines of text (then `y` is None).

        Raw strings are laid out by `keras_nextword.data.text_dataset` in
        `mode` (`"window"`, `"line"` or the tutorial's `"prefix"`), shuffled
        (`seed` fixes the order) and with word dropout if the preprocessor has
        it. Raw-string `validation_data` is always scored line by line (each
        word after the first of its line, from the words before it in the
        line), so validation perplexity means the same whatever `mode`.
        """
        if validation_data is not None and data.is_text(validation_data):
            validation_data = self._text_dataset(validation_data, batch_size)
        if data.is_text(x):
            x = self._text_dataset(
                x,
                batch_size,
                mode,
                window_length=window_length,
                shuffle=kwargs.pop("shuffle", True),
                seed=seed,
            )
            batch_size, kwargs["shuffle"] = None, False  # the dataset shuffles itself
        with warnings.catch_warnings():
            # Streamed text has no known length: Keras warns at the end of every epoch.
            warnings.filterwarnings("ignore", "Your input ran out of data")
            return super().fit(
                x, y, batch_size=batch_size, validation_data=validation_data, **kwargs
            )

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.evaluate` that also takes raw lines of text, scored line
        by line: every word after the first of its line, from the words before it."""
        if data.is_text(x):
            x, batch_size = self._text_dataset(x, batch_size), None
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`: for token ids, the next-word probabilities at
        every position, `(batch, length, vocabulary_size)`; for raw strings, the
        distribution of the word after each whole string (its last
        `sequence_length` words), `(batch, vocabulary_size)`."""
        if data.is_text(x):
            x = self.preprocessor.contexts([x] if isinstance(x, str) else x)
            return super().predict(x, batch_size=batch_size, **kwargs)[:, -1]
        return super().predict(x, batch_size=batch_size, **kwargs)

    def generation_weights(self):
        """The tensors stateful generation needs: embeddings, LSTM kernel,
        recurrent kernel and bias, output kernel and bias."""
        cell = self.lstm.cell
        variables = [
            self.embedding.embeddings,
            cell.kernel,
            cell.recurrent_kernel,
            cell.bias,
            self.head.kernel,
            self.head.bias,
        ]
        return [ops.convert_to_tensor(v) for v in variables]

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
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)
