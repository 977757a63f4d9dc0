"""`NextWordLSTM`: Embedding -> LSTM -> softmax over the vocabulary, with its preprocessor."""

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
        last_state = keras.layers.Dropout(dropout, name="lstm_dropout")(
            backbone(token_ids)[:, -1, :]
        )
        logits = head(last_state)
        probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(
            logits
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
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy", keras_hub.metrics.Perplexity(name="perplexity")],
        )

    @classmethod
    def from_text(
        cls,
        path,
        epochs=100,
        validation_split=0.1,
        batch_size=32,
        max_tokens=None,
        sequence_length=None,
        word_dropout=True,
        seed=None,
        callbacks=None,
        early_stopping_patience=5,
        verbose="auto",
        **config,
    ):
        """Builds the vocabulary, the n-gram data and the model from a text file, and trains.

        The file is read as UTF-8 with universal newlines. The last
        `validation_split` of its non-blank lines are held out: the vocabulary
        comes from the training lines only, and loss, accuracy and perplexity are
        reported on both sides each epoch.

        Args:
            path: path of a UTF-8 text file, one sentence fragment per line.
            epochs: int >= 0; 0 returns the built, untrained model.
            validation_split: float in [0, 1), the share of lines held out.
            batch_size: examples per training step.
            max_tokens: vocabulary cap (padding and `[UNK]` included) or None.
            sequence_length: input length or None for the longest line minus one.
            word_dropout: bool, replace rare training words by `[UNK]` at random
                (see `NGramVectorizer`), so the model learns `[UNK]`'s share.
                On by default, with `dropout=0.5` (see `**config`): measured by
                `benchmarks/heldout.py` (The Final Problem, held-out perplexity
                617 -> 98 over all predictions). `word_dropout=False, dropout=0.0`
                is the tutorial's recipe.
            seed: int or None; seeds Keras, weights and shuffling.
            callbacks: list of Keras callbacks for `fit`.
            early_stopping_patience: int or None. With held-out lines, training
                stops once validation perplexity has not improved for this many
                epochs and the best epoch's weights are restored (the tutorial's
                100 epochs overfit: held-out perplexity rises after a few).
                None trains for all `epochs`.
            verbose: `fit` verbosity.
            **config: `NextWordLSTM` arguments (`embedding_dim`, `lstm_units`,
                `dropout`, default 0.5 here).

        Returns:
            The trained `NextWordLSTM`; `model.history` holds the `History`.

        Example:
        >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0)
        >>> sorted(model.history.history)[:2]
        ['accuracy', 'loss']
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"`epochs` must be an integer >= 0. Received: epochs={epochs!r}")
        _positive_int("batch_size", batch_size)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        train_lines, validation_lines = data.split_lines(data.read_lines(path), validation_split)
        data.check_next_words(train_lines, path)
        preprocessor = NGramVectorizer(
            max_tokens=max_tokens, sequence_length=sequence_length, word_dropout=word_dropout
        )
        preprocessor.adapt(train_lines)
        config.setdefault("dropout", 0.5)
        model = cls(
            vocabulary_size=preprocessor.vocabulary_size(), preprocessor=preprocessor, **config
        )
        model.history = None
        callbacks = list(callbacks or [])
        if validation_lines and early_stopping_patience is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_perplexity",
                    mode="min",
                    patience=early_stopping_patience,
                    restore_best_weights=True,
                )
            )
        if epochs:
            model.fit(
                train_lines,
                validation_data=validation_lines or None,
                epochs=epochs,
                batch_size=batch_size,
                callbacks=callbacks,
                verbose=verbose,
                seed=seed,
            )
        return model

    def _text_dataset(self, x, batch_size, shuffle=False, seed=None):
        if self.preprocessor is None:
            raise ValueError(
                "Raw strings need a model with a `preprocessor` (an adapted NGramVectorizer)."
            )
        return data.text_dataset(x, self.preprocessor, batch_size or 32, shuffle, seed)

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, seed=None, **kwargs):
        """`keras.Model.fit` that also takes raw lines of text (then `y` is None).

        Raw strings become shuffled prefix n-gram batches through
        `model.preprocessor`; `seed` fixes that shuffle order.
        """
        if validation_data is not None and data.is_text(validation_data):
            validation_data = self._text_dataset(validation_data, batch_size)
        if data.is_text(x):
            x = self._text_dataset(x, batch_size, shuffle=kwargs.pop("shuffle", True), seed=seed)
            batch_size, kwargs["shuffle"] = None, False  # the dataset shuffles itself
        return super().fit(x, y, batch_size=batch_size, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.evaluate` that also takes raw lines of text (their n-grams)."""
        if data.is_text(x):
            x, batch_size = self._text_dataset(x, batch_size), None
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`; raw strings give the next-word distribution
        after each whole string (its last `sequence_length` words)."""
        if data.is_text(x):
            x = self.preprocessor.contexts([x] if isinstance(x, str) else x)
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

    def save(self, filepath, overwrite=True, **kwargs):
        """`keras.Model.save`, atomically: a kill mid-save leaves the previous file
        whole. See `keras_nextword.saving.save_atomic`."""
        from keras_nextword.saving import save_atomic

        save_atomic(self, filepath, overwrite=overwrite, **kwargs)
