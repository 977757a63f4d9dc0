"""`NextWordLSTM`: a keras-hub `CausalLM`, Embedding -> LSTM -> next-word logits."""

import os

import keras

from keras_nextword.generation import generate as generation
from keras_nextword.generation import suggest as suggestions
from keras_nextword.layers.bigram import BigramMixture
from keras_nextword.layers.losses import NextWordCrossentropy, Perplexity
from keras_nextword.layers.metrics import PositionAccuracy, SuggestionAccuracy
from keras_nextword.models.next_word_lstm import decoding, presets, raw_text
from keras_nextword.models.next_word_lstm.backbone import Dropout, NextWordLSTMBackbone
from keras_nextword.models.next_word_lstm.causal_lm_preprocessor import (
    NextWordLSTMCausalLMPreprocessor,
)
from keras_nextword.models.next_word_lstm.output import make_head, output_logits
from keras_nextword.runtime.environment import keras_hub
from keras_nextword.runtime.files import save_atomic

_SIZES = ("vocabulary_size", "embedding_dim", "lstm_units", "dropout", "tie_weights")


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordLSTM(keras_hub.models.CausalLM):
    """Word-level next-word LSTM language model, a keras-hub `CausalLM`.

    `token_ids` of shape `(batch, length)` go through
    `Embedding(vocabulary_size, embedding_dim)` and `LSTM(lstm_units)`; a
    dense output layer gives float32 next-word logits at every position,
    `(batch, length, vocabulary_size)`, as a keras-hub causal LM does (the
    softmax is in the loss, the metrics and `predict` on strings). Id 0 is
    padding; each position sees only the words before it, and padding never
    changes a prediction: unpadded, post-padded and pre-padded rows (as
    `NGramVectorizer` and `keras.utils.pad_sequences` give) of the same words
    give the same logits at their last word, and a model fitted on pre-padded
    n-grams learns what it learns from the post-padded ones. The LSTM runs
    without a mask (Keras uses cuDNN only without one); the backbone moves
    leading padding to the row's end instead (`LeadingPadding`).
    `model.backbone`, a `NextWordLSTMBackbone` (embedding + LSTM, hidden
    states of every position), is a keras-hub `Backbone` to reuse under other
    heads, `model.output_logits` its output layer. Defaults are the
    tutorial's: embedding 100, LSTM 150, Adam; the loss is exact sparse
    cross-entropy of the logits over positions of sample weight > 0.

    With a `preprocessor` (a `NextWordLSTMCausalLMPreprocessor`, as
    `from_text` gives, or an adapted `NGramVectorizer`), `fit`, `evaluate` and `predict` also
    accept raw strings (`raw_text`), and `generate` continues text. As every
    keras-hub `CausalLM`, it has `call_with_cache` over the LSTM's `(h, c)`
    state, `generate_step` (`decoding`), `compile(sampler=...)`,
    `save_to_preset` and `from_preset` (`keras_hub.models.CausalLM.from_preset(dir)`
    loads it too). `from_sizes` builds the backbone from sizes.

    Args:
        backbone: a `NextWordLSTMBackbone`; its sizes, `dropout`,
            `tie_weights` and dtype policy are the model's. With
            `tie_weights`, the output layer reuses the embedding matrix
            (after a `Dense(embedding_dim)` projection when `lstm_units`
            differs); else it is a `Dense(vocabulary_size)`, the tutorial's.
        preprocessor: a `NextWordLSTMCausalLMPreprocessor`, an `NGramVectorizer`
            or None.
        bigram_weight: None, or a float in (0, 1): the output is then the
            log of that share of the LSTM's distribution mixed with a bigram
            model's (`layers.bigram.BigramMixture`, as `model.bigram`; its
            table filled by `training.mixing`, as `from_text` does).
        bigram_rows: int or None, the words with a bigram row of their own
            (`BigramMixture`'s `rows`; None for its default).
        **kwargs: `keras_hub.models.Task` arguments (`name`, `compile`).

    Examples:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=2, verbose=0)
    >>> model.generate("What happens we do this", max_length=3)  # doctest: +SKIP
    'What happens we do this and i have'
    >>> model.predict(["it is with a heavy"], verbose=0).shape
    (1, 1544)
    >>> twin = NextWordLSTM(model.backbone, preprocessor=model.preprocessor)
    """

    backbone_cls = NextWordLSTMBackbone
    preprocessor_cls = NextWordLSTMCausalLMPreprocessor

    def __init__(self, backbone, preprocessor=None, bigram_weight=None, bigram_rows=None, **kwargs):
        if not isinstance(backbone, NextWordLSTMBackbone):
            raise TypeError(
                "`NextWordLSTM` takes a `NextWordLSTMBackbone`; build one from sizes with "
                f"`NextWordLSTM.from_sizes(vocabulary_size, ...)`. Received: {backbone!r}"
            )
        # === Layers === (set before the functional init, as keras-hub's tasks)
        self.backbone = backbone
        self.preprocessor = preprocessor
        dtype = backbone.dtype_policy
        head = make_head(backbone)
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        hidden = Dropout(backbone.dropout, dtype=dtype, name="lstm_dropout")(backbone(token_ids))
        embedding = backbone.token_embedding
        logits = keras.layers.Activation("linear", dtype="float32", name="float32_logits")(
            output_logits(embedding, head, backbone.tie_weights, hidden)
        )
        self.bigram = None
        if bigram_weight is not None:
            self.bigram = BigramMixture(
                backbone.vocabulary_size, bigram_weight, bigram_rows, name="bigram"
            )
            logits = self.bigram(logits, token_ids)
        # keras-hub's Task takes the backbone's policy (compile reads it:
        # mixed_float16 scales the loss) and compiles with the defaults.
        super().__init__(inputs=token_ids, outputs=logits, **kwargs)
        self.head = head

    @classmethod
    def from_sizes(
        cls,
        vocabulary_size,
        embedding_dim=100,
        lstm_units=150,
        dropout=0.0,
        tie_weights=False,
        dtype=None,
        preprocessor=None,
        line_starts=False,
        **kwargs,
    ):
        """A model on a new `NextWordLSTMBackbone` of these sizes (its arguments).

        Args:
            vocabulary_size, embedding_dim, lstm_units, dropout, tie_weights:
                the backbone's (defaults: the tutorial's 100 and 150, no
                dropout, untied). `from_text` ties: lower held-out perplexity
                on The Final Problem (86-90 against 94-99 untied over seeds
                0-2, `benchmarks/heldout.py`).
            dtype: a dtype policy or its name (e.g. `"mixed_bfloat16"`) for
                every layer, or None for `keras.config.dtype_policy()`; the
                logits are float32, `"mixed_float16"` scales the loss.
            preprocessor: as the constructor's.
            line_starts: bool, the backbone's: rows may hold several lines
                (`keras_nextword.text.packing`).
            **kwargs: the constructor's other arguments (`name`, `compile`).

        Returns:
            A `NextWordLSTM`.

        Example:
        >>> model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6)
        >>> model.backbone.vocabulary_size, model.backbone.lstm_units
        (10, 6)
        """
        backbone = NextWordLSTMBackbone(
            vocabulary_size,
            embedding_dim,
            lstm_units,
            dropout=dropout,
            tie_weights=tie_weights,
            line_starts=line_starts,
            dtype=dtype,
            name="backbone",
        )
        return cls(backbone, preprocessor=preprocessor, **kwargs)

    def compile(
        self, optimizer="auto", loss="auto", weighted_metrics="auto", sampler="greedy", **kwargs
    ):
        """keras-hub's `CausalLM.compile`, with this model's defaults for `"auto"`.

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
            sampler: a sampler name or a `keras_hub.samplers.Sampler`, the
                one `generate` and `generate_step` use when not told
                otherwise. `"greedy"` (keras-hub's default is `"top_k"`).
            **kwargs: other `keras.Model.compile` arguments.

        Example:
        >>> model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6)
        >>> model.compile(sampler="top_k")
        >>> type(model.sampler).__name__
        'TopKSampler'
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
        super().compile(
            optimizer=optimizer,
            loss=loss,
            weighted_metrics=weighted_metrics,
            sampler=sampler,
            **kwargs,
        )

    @classmethod
    def from_text(cls, path, *args, **kwargs):
        """Trains a model on a text file (`training.from_text.from_text`, whose
        arguments it takes; the class docstring's example runs it).

        Returns:
            The trained `NextWordLSTM`.
        """
        # Imported here: the training recipe is the layer above the model
        # (it builds models), so the model module never imports it at load.
        from keras_nextword.training import from_text as training

        return training.from_text(cls, path, *args, **kwargs)

    def fit_text(self, path, **kwargs):
        """Trains this model further on more text, as `from_text` trains
        (`training.from_text.fit_text`, whose arguments and example these are).

        Returns:
            The model, trained.
        """
        from keras_nextword.training import from_text as training  # the layer above

        return training.fit_text(self, path, **kwargs)

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
        >>> model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6, tie_weights=True)
        >>> logits = model.output_logits(model.backbone(np.array([[2, 3]])))
        >>> tuple(logits.shape)
        (1, 2, 10)
        """
        backbone = self.backbone
        return output_logits(
            backbone.token_embedding, self.head, backbone.tie_weights, hidden_states
        )

    def suggest(self, texts, k=5):
        """The `k` most likely words to type next: `generation.suggest.suggest`,
        whose arguments (`texts`, `k`), return value and example these are."""
        return suggestions.suggest(self, texts, k)

    def generate(
        self, prompts, max_length=10, sampler=None, seed=None, stop=None, **sampler_kwargs
    ):
        """Continues each prompt with `max_length` new words.

        `max_length` counts the new words only: keras-hub's
        `CausalLM.generate(inputs, max_length)` counts the prompt's tokens
        too. The rest is `keras_nextword.generate` (greedy runs a lean loop of
        its own; other samplers keras-hub's loop over `(h, c)`).

        Args:
            prompts: a string or a list of strings.
            max_length: int, new words per prompt.
            sampler: a sampler name or a `keras_hub.samplers.Sampler`; None
                for the one `compile(sampler=...)` set (greedy by default).
            seed: int or None, seeds the sampler.
            stop: a word or list of words that end a continuation (kept).
            **sampler_kwargs: a named sampler's arguments (`k`, `p`, ...).

        Returns:
            The prompt and its new words: a string, or a list for a list.

        Example:
        >>> vectorizer = NGramVectorizer()
        >>> vectorizer.adapt(["a heavy heart", "a light heart"])
        >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), preprocessor=vectorizer)
        >>> len(model.generate("a heavy", max_length=3).split())  # 2 + 3 words
        5
        """
        sampler = self.sampler if sampler is None and not sampler_kwargs else sampler
        return generation.generate(
            self, prompts, max_length, sampler or "greedy", seed, stop, **sampler_kwargs
        )

    # keras-hub's generation contract (`decoding` holds the bodies and their examples).
    def call_with_cache(self, token_ids, cache, cache_update_index=None):
        """`decoding.call_with_cache`: logits, hidden states and the `(h, c)`
        cache after `token_ids`; the LSTM's state has no positions, so
        keras-hub's `cache_update_index` is unused."""
        return decoding.call_with_cache(self, token_ids, cache)

    def _build_cache(self, token_ids):
        """`decoding.build_cache`: hidden states and `(h, c)` from a zero state."""
        return decoding.build_cache(self, token_ids)

    def generate_step(self, inputs, stop_token_ids=None):
        """`decoding.generate_step`: one batch of keras-hub's generation."""
        return decoding.generate_step(self, inputs, stop_token_ids)

    # Keras' `fit`, `evaluate` and `predict`, also on raw strings: here only
    # (`raw_text` holds the bodies, their arguments and examples).
    def preprocess_samples(self, x, y=None, sample_weight=None):
        # keras-hub's Task maps its preprocessor over samples in its own
        # `fit`; `raw_text` reads raw strings itself and calls `keras.Model`'s
        # methods, so batches that reach here are token ids.
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def scoring_dataset(self, x, batch_size=None):
        """`raw_text.scoring_dataset`: raw lines laid out to be scored line by line."""
        return raw_text.scoring_dataset(self, x, batch_size)

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        """`raw_text.fit`: `keras.Model.fit` that also takes raw lines of text."""
        return raw_text.fit(self, x, y, batch_size, validation_data, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """`raw_text.evaluate`: `keras.Model.evaluate`, raw lines scored line by line."""
        return raw_text.evaluate(self, x, y, batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`raw_text.predict`: `keras.Model.predict`, or next-word probabilities of strings."""
        return raw_text.predict(self, x, batch_size, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config:
            # Saved as resolved on the saving backend (True on JAX); each backend
            # should pick its own, or a JAX-saved model runs torch.compile on torch.
            config.pop("jit_compile", None)
        return config

    def get_config(self):
        # keras-hub's Task config (the backbone and the preprocessor, which
        # rebuild the rest), and what `from_text` chose (batch size, sampled
        # softmax...), saved with the model.
        config = super().get_config()
        config["trainable"] = self.trainable
        config["training_settings"] = getattr(self, "training_settings", None)
        config["bigram_weight"] = None if self.bigram is None else self.bigram.weight
        config["bigram_rows"] = None if self.bigram is None else self.bigram.rows
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        training_settings = config.pop("training_settings", None)
        if "backbone" not in config:
            # The one compatibility path: keras_nextword 0.1's configs hold the
            # sizes (`vocabulary_size`...) and dtype where keras-hub's hold a backbone.
            sizes = {key: config.pop(key) for key in _SIZES if key in config}
            dtype = config.pop("dtype", None)
            config["backbone"] = NextWordLSTMBackbone(**sizes, dtype=dtype, name="backbone")
        model = super().from_config(config)
        model.training_settings = training_settings
        return model

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """keras-hub's `Task.from_preset` (see `presets`), naming a local
        directory that holds no preset (`FileNotFoundError`).

        Args:
            preset: a local preset directory, or a keras-hub preset handle.
            load_weights: bool, load the saved weights.
            **kwargs: keras-hub's (`dtype`: a float policy saved loads as
                `keras.config.dtype_policy()` unless it says).

        Returns:
            The `NextWordLSTM`, with its preprocessor.

        Example:
        >>> NextWordLSTM.from_preset("final_problem_lstm")  # doctest: +SKIP
        """
        presets.check_preset(preset)
        return super().from_preset(os.fspath(preset), load_weights=load_weights, **kwargs)

    def save(self, filepath, overwrite=True, **kwargs):
        """`keras.Model.save`, atomically: a kill mid-save leaves the previous file
        whole. See `keras_nextword.runtime.files.save_atomic`."""
        save_atomic(self, filepath, overwrite=overwrite, **kwargs)
