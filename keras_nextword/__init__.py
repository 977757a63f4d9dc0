"""keras_nextword: word-level next-word prediction with LSTMs, on any Keras 3 backend.

The public names load on first use (PEP 562), so `import keras_nextword` and
the `keras-nextword` command's `--help` start without Keras, TensorFlow or JAX.
`keras.saving.load_model` finds the package's classes once they are loaded:
after `import keras_nextword` when Keras was imported first, else after the
first use of a public name (`keras_nextword.load_model` loads them itself).
"""

import importlib
import sys

# First, before anything imports Keras: the backend default (JAX). Light: it
# imports neither Keras nor TensorFlow.
from keras_nextword.runtime import environment  # noqa: F401

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "NGramVectorizer": "keras_nextword.text.ngram_vectorizer",
    "NextWordLSTM": "keras_nextword.models.next_word_lstm.causal_lm",
    "NextWordLSTMBackbone": "keras_nextword.models.next_word_lstm.backbone",
    "NextWordLSTMCausalLMPreprocessor": "keras_nextword.models.next_word_lstm.causal_lm_preprocessor",
    "WordTokenizer": "keras_nextword.text.tokenizer",
    "TUTORIAL_RECIPE": "keras_nextword.training.from_text",
    "WarmAveragedAdam": "keras_nextword.layers.optimizers",
    "data_parallel": "keras_nextword.runtime.distribution",
    "datasets": "keras_nextword.text.datasets",
    "generate": "keras_nextword.generation.generate",
    "get_sampler": "keras_nextword.generation.samplers",
    "load_model": "keras_nextword.io.saving",
    "stream": "keras_nextword.generation.streaming",
}
_MODULES = {"datasets"}  # public names that are modules
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])


if "keras" in sys.modules:
    # Keras' start-up is paid already: register the package's Keras classes now.
    importlib.import_module("keras_nextword.models.next_word_lstm.causal_lm")
