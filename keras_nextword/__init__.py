"""keras_nextword: word-level next-word prediction with LSTMs, on any Keras 3 backend."""

# First: the Keras backend default and a quiet TensorFlow, before Keras is imported.
from keras_nextword import environment  # noqa: F401

# isort: split
from keras_nextword import datasets
from keras_nextword.distribution import data_parallel
from keras_nextword.generation import generate, get_sampler
from keras_nextword.model import NextWordLSTM
from keras_nextword.preprocessing import NGramVectorizer
from keras_nextword.saving import load_model
from keras_nextword.training import TUTORIAL_RECIPE

__version__ = "0.1.0"
__all__ = [
    "NGramVectorizer",
    "NextWordLSTM",
    "TUTORIAL_RECIPE",
    "data_parallel",
    "datasets",
    "generate",
    "get_sampler",
    "load_model",
]
