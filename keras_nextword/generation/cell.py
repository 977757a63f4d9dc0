"""The LSTM cell and output layer as generation runs them, on the weights of a
`NextWordLSTM` passed in as tensors (`generation_weights`): prefill, one step,
the logits after it. All `keras.ops`, compiled by the loops that call them
(`keras_nextword.generation.generate`, `.streaming`, the server's steps), and
`mix`, the bigram mix a model's output may hold (`layers.bigram`).
"""

from keras import ops

from keras_nextword.text.ngram_vectorizer import OOV_ID, PAD_ID


def generation_weights(model):
    """The tensors stateful generation reads from a `NextWordLSTM`, as they
    are: no copy, no arithmetic, so a `generate` call costs no work per
    weight (the tied projection is applied in the loop, see `output_layer`).

    Args:
        model: a `NextWordLSTM`.

    Returns:
        A dict of `embeddings`, the LSTM's `kernel`, `recurrent_kernel` and
        `bias`, and the output layer: `output_kernel` and `output_bias` (None
        when tied: the embeddings serve), `projection_kernel` and
        `projection_bias` (None without a projection), and the bigram
        model's `bigram_table` and `bigram_weight` (None without one).
    """
    cell, head, tied = model.backbone.lstm.cell, model.head, model.backbone.tie_weights
    projection = head if tied else None
    weights = {
        "embeddings": model.backbone.token_embedding.embeddings,
        "kernel": cell.kernel,
        "recurrent_kernel": cell.recurrent_kernel,
        "bias": cell.bias,
        "output_kernel": None if tied else head.kernel,
        "output_bias": None if tied else head.bias,
        "projection_kernel": None if projection is None else projection.kernel,
        "projection_bias": None if projection is None else projection.bias,
        "bigram_table": None if model.bigram is None else model.bigram.table,
        "bigram_weight": None if model.bigram is None else model.bigram.weight,
    }
    return {k: None if v is None else ops.convert_to_tensor(v) for k, v in weights.items()}


def input_projection(weights, rows):
    """`token_ids -> embedding @ kernel + bias`, the input half of the LSTM gates.

    When the call will project more tokens (`rows`) than the vocabulary has, one
    `(vocabulary, 4 * units)` table computed up front turns each step's input
    matmul into a gather; for a single short prompt the table would cost more
    than the steps it saves.
    """
    embeddings, kernel, bias = weights["embeddings"], weights["kernel"], weights["bias"]
    if rows >= ops.shape(embeddings)[0]:
        table = ops.matmul(embeddings, kernel) + bias
        return lambda token_ids: ops.take(table, token_ids, axis=0)
    return lambda token_ids: ops.matmul(ops.take(embeddings, token_ids, axis=0), kernel) + bias


def lstm_step(project, recurrent_kernel, token_ids, state):
    """One LSTM cell step (Keras' gate order i, f, c, o) on a batch of token ids."""
    h, c = state
    z = project(token_ids) + ops.matmul(h, recurrent_kernel)
    i, f, g, o = ops.split(z, 4, axis=-1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    h = ops.sigmoid(o) * ops.tanh(c)
    return h, c


def prefill(project, recurrent_kernel, prompt, start):
    """The `(h, c)` state after each row's prompt words but the last (the first
    generation step feeds that one), padding leaving the state untouched.

    Args:
        project: `input_projection(weights, rows)`.
        recurrent_kernel: the LSTM's recurrent kernel.
        prompt: int tensor `(batch, length)`, each row's words ending at `start`.
        start: int, the first position to generate (>= 1).

    Returns:
        `(h, c)`, each `(batch, units)`.
    """
    batch = ops.shape(prompt)[0]
    zeros = ops.zeros((batch, ops.shape(recurrent_kernel)[0]), dtype=recurrent_kernel.dtype)

    def step(i, state):
        token_ids = ops.take(prompt, i, axis=1)
        new_state = lstm_step(project, recurrent_kernel, token_ids, state)
        real = ops.expand_dims(ops.not_equal(token_ids, PAD_ID), -1)
        return tuple(ops.where(real, new, old) for new, old in zip(new_state, state))

    return ops.fori_loop(0, start - 1, step, (zeros, zeros))


def output_layer(weights, transposed=False, never_special=True):
    """`(h, token_ids) -> logits` over the LSTM's hidden states `(batch, units)`
    after `token_ids` `(batch,)`, by default with padding and `[UNK]` pushed out
    of reach.

    The model's own output layer, run as it is: `h @ kernel + bias`, or when
    tied `(h @ projection + projection_bias) @ embeddings.T`, then the bigram
    mix of `token_ids`' rows (`layers.bigram.mix`) when the model has one.
    Folding the projection into one `(units, vocabulary)` kernel would make
    every step's output matmul wider (150 x 1,638 against 150 x 100 +
    100 x 1,638 at the tutorial's sizes), so nothing is folded.

    Args:
        weights: the dict of `generation_weights(model)`.
        transposed: bool, return logits as `(vocabulary, batch)`.
        never_special: bool, push padding and `[UNK]` out of reach (False:
            the model's own logits, as `call_with_cache` returns them).

    Returns:
        A function of `h` and `token_ids`.
    """
    embeddings, table = weights["embeddings"], weights["bigram_table"]
    vocabulary = ops.shape(embeddings)[0]
    tied = weights["output_kernel"] is None
    bias = ops.zeros((vocabulary,)) if tied else weights["output_bias"]
    special = ops.arange(vocabulary) <= OOV_ID
    if never_special and table is None:
        bias = ops.where(special, -1e9, bias)
    special = ops.expand_dims(special, -1) if transposed else special
    projection = weights["projection_kernel"]
    kernel_t = embeddings if tied else ops.transpose(weights["output_kernel"])

    def project(h):
        if projection is None:
            return h
        return ops.matmul(h, projection) + weights["projection_bias"]

    def logits_of(h):
        if transposed:
            return ops.matmul(kernel_t, ops.transpose(project(h))) + ops.expand_dims(bias, -1)
        if tied:
            # `embeddings @ z.T`, then transposed: the embeddings are the output
            # kernel transposed already, so the dot needs no transposed operand.
            return ops.transpose(ops.matmul(kernel_t, ops.transpose(project(h)))) + bias
        return ops.matmul(h, weights["output_kernel"]) + bias

    def output(h, token_ids):
        logits = logits_of(h)
        if table is None:
            return logits
        rows = bigram_rows(table, token_ids)
        logits = mix(
            logits,
            ops.transpose(rows) if transposed else rows,
            weights["bigram_weight"],
            axis=0 if transposed else -1,
        )
        return ops.where(special, -1e9, logits) if never_special else logits

    return output


def mix(logits, log_bigram, weight, axis=-1):
    """`log(weight * softmax(logits) + (1 - weight) * exp(log_bigram))`.

    Args:
        logits: float tensor, the LSTM's logits.
        log_bigram: float tensor of `logits`' shape, the bigram model's
            log-probabilities of the same words.
        weight: float (or float tensor) in (0, 1), the LSTM's share.
        axis: the vocabulary axis.

    Returns:
        The mixed log-probabilities (finite: the LSTM's share never vanishes).

    Example:
    >>> import numpy as np
    >>> out = mix(np.zeros((1, 2)), np.log(np.array([[1.0, 1e-30]])), 0.5)
    >>> np.exp(ops.convert_to_numpy(out)).astype(float).round(3).tolist()
    [[0.75, 0.25]]
    """
    logits, log_bigram = ops.convert_to_tensor(logits), ops.convert_to_tensor(log_bigram)
    weight = ops.convert_to_tensor(weight, logits.dtype)
    a = logits - ops.logsumexp(logits, axis=axis, keepdims=True) + ops.log(weight)
    b = log_bigram + ops.log(1.0 - weight)
    top = ops.maximum(a, b)  # logaddexp, written out: ONNX's opset 15 has no Log1p
    return top + ops.log(ops.exp(a - top) + ops.exp(b - top))


def bigram_rows(table, token_ids):
    """The bigram table's rows for `token_ids`: a word's own row, or the last
    one for the words past the table's own rows (`layers.bigram`); negative
    ids (line starts) read as their word.

    Example:
    >>> table = np.arange(6.0).reshape(3, 2)  # rows for ids 0 and 1, then the rest
    >>> ops.convert_to_numpy(bigram_rows(table, np.array([1, -1, 7]))).tolist()
    [[2.0, 3.0], [2.0, 3.0], [4.0, 5.0]]
    """
    last = ops.shape(table)[0] - 1
    return ops.take(table, ops.minimum(ops.abs(token_ids), last), axis=0)
