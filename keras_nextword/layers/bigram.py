"""A count model inside the network: the LSTM's next-word distribution mixed
with a bigram model's.

On a small corpus an LSTM learns little of what a count model keeps exactly
(which word follows which); a linear mix of the two distributions, its weight
chosen on lines the model never trained on (`keras_nextword.training.mixing`),
scores better than either. The bigram model is a table of log-probabilities,
row `v` the distribution of the word after `v`, for the `rows` most frequent
words (ids below `rows`: a vocabulary's ids run from the most frequent); one
last row serves every rarer word. `context_rows` keeps the table within
`TABLE_FLOATS` floats (64 MiB): every word its own row up to 4,095 words.
"""

import keras
from keras import ops

from keras_nextword.generation.cell import bigram_rows, mix

TABLE_FLOATS = 4096 * 4097


def context_rows(vocabulary_size):
    """The words with a row of their own in a table of at most `TABLE_FLOATS`
    floats: `(rows + 1) * vocabulary_size`.

    Example:
    >>> context_rows(1544), context_rows(33278)
    (1544, 503)
    """
    return int(min(vocabulary_size, TABLE_FLOATS // vocabulary_size - 1))


@keras.saving.register_keras_serializable(package="keras_nextword")
class BigramMixture(keras.layers.Layer):
    """Mixes next-word logits with a bigram model's distribution.

    At each position the bigram row of that position's word (the word the
    logits predict the next of) is mixed in: `mix(logits, bigram_rows(table,
    token_ids), weight)`. Negative ids (line starts in packed rows,
    `keras_nextword.layers.line_starts`) read as their word. The table is a
    non-trainable weight, saved with the model; its rows are filled after
    training (`keras_nextword.training.mixing.bigram_table`).

    Args:
        vocabulary_size: int, the table's rows and columns.
        weight: float in (0, 1), the LSTM's share of the mix.
        rows: int, the words with a row of their own (the table has one more);
            None for `context_rows(vocabulary_size)`.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Returns (when called on `(logits, token_ids)`):
        The mixed log-probabilities, float32 `(batch, length, vocabulary_size)`.

    Example:
    >>> import numpy as np
    >>> layer = BigramMixture(3, weight=0.5)
    >>> layer.build()
    >>> _ = layer.table.assign(np.log(np.full((4, 3), 1 / 3)))
    >>> out = layer(np.zeros((1, 1, 3)), np.array([[2]]))
    >>> np.exp(keras.ops.convert_to_numpy(out)).astype(float).round(3).tolist()
    [[[0.333, 0.333, 0.333]]]
    """

    def __init__(self, vocabulary_size, weight, rows=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0 < weight < 1:
            raise ValueError(f"`weight` must be in (0, 1). Received: weight={weight!r}")
        self.vocabulary_size, self.weight = int(vocabulary_size), float(weight)
        self.rows = context_rows(vocabulary_size) if rows is None else int(rows)

    def build(self, *args):
        self.table = self.add_weight(
            shape=(self.rows + 1, self.vocabulary_size),
            initializer="zeros",
            trainable=False,
            name="table",
        )

    def call(self, logits, token_ids):
        rows = bigram_rows(self.table, token_ids)
        return mix(ops.cast(logits, "float32"), rows, self.weight)

    def compute_output_spec(self, logits, token_ids):
        return keras.KerasTensor(logits.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {"vocabulary_size": self.vocabulary_size, "weight": self.weight, "rows": self.rows}
        )
        return config
