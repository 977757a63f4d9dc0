"""`NextWordLSTM`: a keras-hub `CausalLM`, Embedding -> LSTM -> next-word logits."""

import os

import keras

from keras_nextword.generation import generate as generation
from keras_nextword.generation import suggest as suggestions
from keras_nextword.layers.initializers import NumPyInitializer
from keras_nextword.layers.losses import NextWordCrossentropy, Perplexity
from keras_nextword.layers.metrics import PositionAccuracy, SuggestionAccuracy
from keras_nextword.models.next_word_lstm import presets
from keras_nextword.models.next_word_lstm.backbone import Dropout, NextWordLSTMBackbone
from keras_nextword.models.next_word_lstm.causal_lm_preprocessor import (
    NextWordLSTMCausalLMPreprocessor,
)
from keras_nextword.models.next_word_lstm.decoding import LSTMDecoding
from keras_nextword.models.next_word_lstm.raw_text import RawTextTask
from keras_nextword.runtime.environment import keras_hub
from keras_nextword.runtime.files import save_atomic


def _output_logits(embedding, head, tie_weights, hidden_states):
    logits = hidden_states if head is None else head(hidden_states)
    return embedding(logits, reverse=True) if tie_weights else logits


@keras.saving.register_keras_serializable(package="keras_nextword")
class NextWordLSTM(RawTextTask, LSTMDecoding, keras_hub.models.CausalLM):
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

    With a `preprocessor` (an adapted `NGramVectorizer`, or a
    `NextWordLSTMCausalLMPreprocessor`), `fit`, `evaluate` and `predict` also
    accept raw strings, and `generate` continues text. As every keras-hub
    `CausalLM`, it has `call_with_cache` over the LSTM's `(h, c)` state,
    `generate_step`, `compile(sampler=...)`, `save_to_preset` and
    `from_preset` (`keras_hub.models.CausalLM.from_preset(dir)` loads it too).

    Args:
        vocabulary_size: int, the number of token ids (padding and `[UNK]`
            included); or a `NextWordLSTMBackbone`, as `backbone`.
        embedding_dim: int, the embedding width.
        lstm_units: int, the LSTM width.
        dropout: float in [0, 1), dropout rate after the embedding and after
            the LSTM while training (0, the tutorial's, turns it off).
        preprocessor: an `NGramVectorizer`, a `NextWordLSTMCausalLMPreprocessor`
            or None.
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
        backbone: a `NextWordLSTMBackbone` to build on (keras-hub's way), or
            None to build one from the arguments above. With a backbone, the
            sizes, `dropout`, `tie_weights` and the dtype policy are the
            backbone's, and `vocabulary_size` and `dtype` must be None.
        **kwargs: `keras_hub.models.Task` arguments (`name`, `compile`).

    Examples:
    >>> from keras_nextword import NextWordLSTM, datasets
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=2, verbose=0)
    >>> model.generate("What happens we do this", max_length=3)  # doctest: +SKIP
    'What happens we do this and i have'
    >>> model.predict(["it is with a heavy"], verbose=0).shape
    (1, 1544)
    >>> twin = NextWordLSTM(backbone=model.backbone, preprocessor=model.preprocessor)
    """

    backbone_cls = NextWordLSTMBackbone
    preprocessor_cls = NextWordLSTMCausalLMPreprocessor

    def __init__(
        self,
        vocabulary_size=None,
        embedding_dim=100,
        lstm_units=150,
        dropout=0.0,
        preprocessor=None,
        dtype=None,
        tie_weights=False,
        backbone=None,
        **kwargs,
    ):
        if isinstance(vocabulary_size, NextWordLSTMBackbone):  # NextWordLSTM(backbone)
            vocabulary_size, backbone = None, vocabulary_size
        if backbone is None:
            if vocabulary_size is None:
                raise ValueError("`NextWordLSTM` needs a `vocabulary_size` or a `backbone`.")
            # Embedding and LSTM (no mask: rows are post-padded, and Keras runs
            # the LSTM on cuDNN only without one), checking the sizes.
            backbone = NextWordLSTMBackbone(
                vocabulary_size,
                embedding_dim,
                lstm_units,
                dropout=dropout,
                tie_weights=tie_weights,
                dtype=dtype,
                name="backbone",
            )
        elif vocabulary_size is not None or dtype is not None:
            raise ValueError(
                "With a `backbone`, `vocabulary_size` and `dtype` are the backbone's: "
                f"pass None. Received: vocabulary_size={vocabulary_size!r}, dtype={dtype!r}"
            )
        # === Layers === (set before the functional init, as keras-hub's tasks)
        self.backbone = backbone
        self.preprocessor = preprocessor
        dtype = backbone.dtype_policy
        initializers = dict(
            kernel_initializer=NumPyInitializer("glorot_uniform"),
            bias_initializer=NumPyInitializer("zeros"),
        )
        if backbone.tie_weights:
            head = None
            if backbone.lstm_units != backbone.embedding_dim:
                head = keras.layers.Dense(
                    backbone.embedding_dim, **initializers, dtype=dtype, name="projection"
                )
        else:
            head = keras.layers.Dense(
                backbone.vocabulary_size, **initializers, dtype=dtype, name="logits"
            )
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        hidden = Dropout(backbone.dropout, dtype=dtype, name="lstm_dropout")(backbone(token_ids))
        embedding = backbone.token_embedding
        logits = keras.layers.Activation("linear", dtype="float32", name="float32_logits")(
            _output_logits(embedding, head, backbone.tie_weights, hidden)
        )
        # keras-hub's Task takes the backbone's policy (compile reads it:
        # mixed_float16 scales the loss) and compiles with the defaults.
        super().__init__(inputs=token_ids, outputs=logits, **kwargs)
        self.head = head

    # The backbone's layers and sizes, read where the model's were.
    embedding = property(lambda self: self.backbone.token_embedding)
    lstm = property(lambda self: self.backbone.lstm)
    vocabulary_size = property(lambda self: self.backbone.vocabulary_size)
    embedding_dim = property(lambda self: self.backbone.embedding_dim)
    lstm_units = property(lambda self: self.backbone.lstm_units)
    dropout = property(lambda self: self.backbone.dropout)
    tie_weights = property(lambda self: self.backbone.tie_weights)

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
        >>> model = NextWordLSTM(10, embedding_dim=4, lstm_units=6)
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
        """Trains a model on a text file, with settings chosen from the
        corpus: `keras_nextword.training.from_text.from_text`, whose arguments it takes.

        Args:
            path: str or `os.PathLike`, the text file.
            *args, **kwargs: `keras_nextword.training.from_text.from_text` arguments.

        Returns:
            The trained `NextWordLSTM`.

        Example (the class docstring's runs):
        >>> model = NextWordLSTM.from_text("final_problem.txt")  # doctest: +SKIP
        """
        # Imported here: the training recipe is the layer above the model
        # (it builds models), so the model module never imports it at load.
        from keras_nextword.training import from_text as training

        return training.from_text(cls, path, *args, **kwargs)

    def fit_text(self, path, **kwargs):
        """Trains this model further on more text, as `from_text` trains:
        `keras_nextword.training.from_text.fit_text`, whose arguments it takes.

        Args:
            path: a path, or a list of paths, of UTF-8 text files.
            **kwargs: `keras_nextword.training.from_text.fit_text` arguments
                (`epochs`, `max_minutes`, `learning_rate`, ...).

        Returns:
            The model, trained.

        Example (`fit_text`'s docstring runs one):
        >>> model.fit_text("more_text.txt", max_minutes=5)  # doctest: +SKIP
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
        >>> model = NextWordLSTM(10, embedding_dim=4, lstm_units=6, tie_weights=True)
        >>> logits = model.output_logits(model.backbone(np.array([[2, 3]])))
        >>> tuple(logits.shape)
        (1, 2, 10)
        """
        return _output_logits(self.embedding, self.head, self.tie_weights, hidden_states)

    suggest = (
        suggestions.suggest
    )  # model.suggest(texts, k=5): see keras_nextword.generation.suggest

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
        >>> model = NextWordLSTM(vectorizer.vocabulary_size(), preprocessor=vectorizer)
        >>> len(model.generate("a heavy", max_length=3).split())  # 2 + 3 words
        5
        """
        sampler = self.sampler if sampler is None and not sampler_kwargs else sampler
        return generation.generate(
            self, prompts, max_length, sampler or "greedy", seed, stop, **sampler_kwargs
        )

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
        return config

    @classmethod
    def from_config(cls, config):
        # Also reads the configs of keras_nextword 0.1, whose keys were the
        # constructor's sizes (`vocabulary_size`...) rather than a backbone.
        config = dict(config)
        training_settings = config.pop("training_settings", None)
        model = super().from_config(config)
        model.training_settings = training_settings
        return model

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """keras-hub's `Task.from_preset`, naming a local directory that holds no preset.

        `model.save_to_preset(dir)` (keras-hub's) writes the backbone, the task
        and the preprocessor; this, `keras_hub.models.CausalLM.from_preset(dir)`
        and `keras_nextword.load_model(dir)` load the whole model, and
        `keras_hub.models.Backbone.from_preset(dir)` the backbone. As
        keras-hub's loader does, a float policy saved (`mixed_bfloat16`
        included) loads as `keras.config.dtype_policy()` unless `dtype` says.

        Args:
            preset: a local preset directory, or a keras-hub preset handle
                (`kaggle://...`, `hf://...`).
            load_weights: bool, load the saved weights.
            **kwargs: keras-hub's (`dtype`).

        Returns:
            The `NextWordLSTM`, with its preprocessor.

        Raises:
            FileNotFoundError: a local directory that holds no preset.

        Example:
        >>> model.save_to_preset("final_problem_lstm")  # doctest: +SKIP
        >>> NextWordLSTM.from_preset("final_problem_lstm")  # doctest: +SKIP
        """
        presets.check_preset(preset)
        return super().from_preset(os.fspath(preset), load_weights=load_weights, **kwargs)

    def save(self, filepath, overwrite=True, **kwargs):
        """`keras.Model.save`, atomically: a kill mid-save leaves the previous file
        whole. See `keras_nextword.runtime.files.save_atomic`."""
        save_atomic(self, filepath, overwrite=overwrite, **kwargs)
