"""The output layer of a `NextWordLSTM`: hidden states to next-word logits."""

import keras

from keras_nextword.layers.initializers import NumPyInitializer


def make_head(backbone):
    """The output layer's own `Dense` for `backbone`, or None when it needs none.

    Tied, the logits reuse the embedding matrix, after a `Dense(embedding_dim)`
    projection when `lstm_units` differs; untied, a `Dense(vocabulary_size)`.

    Args:
        backbone: a `NextWordLSTMBackbone`.

    Returns:
        A `keras.layers.Dense` or None.

    Example:
    >>> from keras_nextword.models.next_word_lstm.backbone import NextWordLSTMBackbone
    >>> make_head(NextWordLSTMBackbone(10, 4, 6, tie_weights=True)).name
    'projection'
    """
    initializers = dict(
        kernel_initializer=NumPyInitializer("glorot_uniform"),
        bias_initializer=NumPyInitializer("zeros"),
    )
    dtype = backbone.dtype_policy
    if not backbone.tie_weights:
        return keras.layers.Dense(
            backbone.vocabulary_size, **initializers, dtype=dtype, name="logits"
        )
    if backbone.lstm_units == backbone.embedding_dim:
        return None
    return keras.layers.Dense(
        backbone.embedding_dim, **initializers, dtype=dtype, name="projection"
    )


def output_logits(embedding, head, tie_weights, hidden_states):
    """Logits of `hidden_states` through `head` and, when tied, the reversed
    `embedding` (`NextWordLSTM.output_logits`, whose example this is)."""
    logits = hidden_states if head is None else head(hidden_states)
    return embedding(logits, reverse=True) if tie_weights else logits
