"""keras_nextword.training.loop: the training batches `from_text` fits on."""

import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.runtime.environment import tf
from keras_nextword.training import loop

pytestmark = pytest.mark.backend("jax")  # tf.data only: the same on every backend


def test_training_batches_keep_the_pipelines_options():
    # The resumable dataset is a new tf.data root: without the pipeline's options its
    # iterator autotuned again, and dropping it at the end of `fit` waited for the
    # tuning thread's next wake-up.
    vectorizer = NGramVectorizer()
    vectorizer.adapt(["a heavy heart", "a light heart"])
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    lines = tf.data.Dataset.from_tensor_slices(["a heavy heart", "a light heart"])
    dataset, steps, _ = loop.training_data(model, lines, 1, "line", 20, False, 0, None)
    assert steps == 2
    assert dataset.options().autotune.enabled is False
