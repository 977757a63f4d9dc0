"""Names the package's docstring examples use, for `pytest --doctest-modules`."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _doctest_names(doctest_namespace):
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_nextword
    from keras_nextword import NextWordLSTM, NGramVectorizer
    from keras_nextword.text import datasets

    doctest_namespace.update(
        keras=keras,
        keras_nextword=keras_nextword,
        NextWordLSTM=NextWordLSTM,
        NGramVectorizer=NGramVectorizer,
        datasets=datasets,
        np=np,
        tf=tf,
    )
