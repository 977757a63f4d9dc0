"""keras-hub's generation contract for `NextWordLSTM`: the LSTM's `(h, c)` state as the cache.

keras-hub's `CausalLM` generates through three methods a model family
supplies: `call_with_cache(token_ids, cache, index)` (logits, hidden states
and the cache after some more ids), `_build_cache(token_ids)` and
`generate_step(inputs, stop_token_ids)`, which `CausalLM.make_generate_function`
compiles. For a transformer the cache is keys and values at every position;
for an LSTM it is the state `(h, c)`, each `(batch, lstm_units)`, and a step
costs one cell step whatever the position. These functions are those methods'
bodies (`NextWordLSTM`'s methods call them), on the compiled loop of
`keras_nextword.generation.generate`.
"""

from keras import ops

from keras_nextword.generation import cell
from keras_nextword.generation import generate as generation
from keras_nextword.text.ngram_vectorizer import PAD_ID


def run_cell(weights, token_ids, state=None):
    """The LSTM over `token_ids` `(batch, n)` from `state`: the hidden state
    at every position, and the `(h, c)` state after the last.

    Padding (id 0) leaves the state as it is (its position repeats the hidden
    state before it), so a post-padded row ends in the state of its last word.
    This is `NextWordLSTM.call_with_cache` and `_build_cache`.

    Args:
        weights: the dict of `generation_weights(model)`.
        token_ids: int tensor `(batch, n)`.
        state: `(h, c)`, each `(batch, units)`, or None for zeros.

    Returns:
        `(hidden_states, (h, c))`, `hidden_states` of shape `(batch, n, units)`.

    Example:
    >>> model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6)
    >>> weights = cell.generation_weights(model)
    >>> hidden, (h, c) = run_cell(weights, np.array([[2, 3, 0]]))
    >>> hidden, h = keras.ops.convert_to_numpy(hidden), keras.ops.convert_to_numpy(h)
    >>> np.allclose(hidden[:, 2], h)  # padding: the state stays
    True
    """
    recurrent_kernel = weights["recurrent_kernel"]
    batch, n = ops.shape(token_ids)
    units = ops.shape(recurrent_kernel)[0]
    if state is None:
        zeros = ops.zeros((batch, units), dtype=recurrent_kernel.dtype)
        state = (zeros, zeros)
    project = cell.input_projection(weights, batch * n)

    def step(i, carry):
        h, c, hidden = carry
        ids = ops.take(token_ids, i, axis=1)
        new_h, new_c = cell.lstm_step(project, recurrent_kernel, ids, (h, c))
        real = ops.expand_dims(ops.not_equal(ids, PAD_ID), -1)
        h, c = ops.where(real, new_h, h), ops.where(real, new_c, c)
        return h, c, ops.slice_update(hidden, (i, 0, 0), ops.expand_dims(h, 0))

    hidden = ops.zeros((n, batch, units), dtype=recurrent_kernel.dtype)
    h, c, hidden = ops.fori_loop(0, n, step, (*state, hidden))
    return ops.transpose(hidden, (1, 0, 2)), (h, c)


def call_with_cache(model, token_ids, cache):
    """Runs the LSTM on from a cached state: `model.call_with_cache`'s body.

    The cache is the LSTM's `(h, c)` state: unlike a transformer's keys
    and values it has no positions, so keras-hub's `cache_update_index` is
    not needed. Padding (id 0) leaves the state as it is. Computes in float32
    from the float32 weights, as generation does, whatever the dtype policy.

    Args:
        model: a `NextWordLSTM`.
        token_ids: int tensor `(batch, n)`, the next ids of each row.
        cache: `(h, c)`, each `(batch, lstm_units)`.

    Returns:
        `(logits, hidden_states, cache)`: the logits `(batch, n,
        vocabulary_size)`, the hidden states `(batch, n, lstm_units)` and
        the `(h, c)` state after the last id.

    Example:
    >>> model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6)
    >>> _, cache = build_cache(model, np.array([[2, 3]]))
    >>> logits, hidden, cache = call_with_cache(model, np.array([[4]]), cache)
    >>> tuple(logits.shape), tuple(cache[0].shape)
    ((1, 1, 10), (1, 6))
    """
    weights = cell.generation_weights(model)
    hidden_states, cache = run_cell(weights, token_ids, tuple(cache))
    output = cell.output_layer(weights, never_special=False)
    batch, n = ops.shape(token_ids)
    logits = output(ops.reshape(hidden_states, (batch * n, -1)), ops.reshape(token_ids, (-1,)))
    return ops.reshape(logits, (batch, n, -1)), hidden_states, cache


def build_cache(model, token_ids):
    """The hidden states of `token_ids` and the `(h, c)` state after each
    row's last id (padding skipped), from a zero state: `model._build_cache`.

    Args:
        model: a `NextWordLSTM`.
        token_ids: int tensor `(batch, n)`.

    Returns:
        `(hidden_states, (h, c))`, as `run_cell`.

    Example:
    >>> model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6)
    >>> hidden, (h, c) = build_cache(model, np.array([[2, 3]]))
    >>> tuple(hidden.shape), tuple(h.shape)
    ((1, 2, 6), (1, 6))
    """
    return run_cell(cell.generation_weights(model), token_ids)


def generate_step(model, inputs, stop_token_ids=None):
    """keras-hub's generation of one batch: the ids where `padding_mask`
    is False filled in by `model.sampler`, one LSTM step each
    (`model.generate_step`'s body).

    keras-hub's `make_generate_function` compiles it. Rows are
    post-padded prompts, as keras-hub's preprocessors give them; the state
    is prefilled over the shortest prompt, and longer prompts' words are
    fed, not sampled. Padding and `[UNK]` are never generated.

    Args:
        model: a `NextWordLSTM`.
        inputs: a dict of `token_ids` (int) and `padding_mask` (bool),
            each `(batch, length)` (`preprocessor.generate_preprocess`).
        stop_token_ids: tuple of ids or None; a row ends at its first.

    Returns:
        A dict of `token_ids` and `padding_mask` (False after a stop id).

    Example:
    >>> model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=6)
    >>> ids = np.array([[2, 3, 0, 0], [4, 0, 0, 0]])
    >>> out = generate_step(model, {"token_ids": ids, "padding_mask": ids != 0})
    >>> keras.ops.convert_to_numpy(out["padding_mask"]).all()
    np.True_
    """
    token_ids = ops.convert_to_tensor(inputs["token_ids"], "int32")
    padding_mask = ops.cast(inputs["padding_mask"], "bool")
    start = ops.min(ops.sum(ops.cast(padding_mask, "int32"), axis=-1))
    token_ids = generation.sample_ids(
        model.sampler,
        cell.generation_weights(model),
        token_ids,
        start,
        padding_mask,
        stop_token_ids,
    )
    if stop_token_ids is None:
        return {"token_ids": token_ids, "padding_mask": ops.ones_like(padding_mask)}
    # As keras-hub's: positions after a generated stop id are masked out.
    stops = ops.any(ops.expand_dims(token_ids, -1) == ops.array(stop_token_ids), axis=-1)
    stops = ops.cast(ops.logical_and(stops, ops.logical_not(padding_mask)), "int32")
    after = ops.cumsum(stops, axis=-1) - stops
    return {"token_ids": token_ids, "padding_mask": ops.equal(after, 0)}
