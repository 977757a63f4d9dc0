"""Stateful generation: prefill the LSTM once, then one compiled step per word.

The `(h, c)` state of the LSTM is the cache: the prompt runs through the cell
once, then each new word costs one cell step and one output projection, inside
one loop compiled by `backend.jit_with_variables`: keras-hub's `Sampler` loop
for sampled decoding, a leaner loop of our own for greedy. All math is
`keras.ops`, so the same code runs on JAX, TensorFlow and PyTorch.

This module reads a model only through `model.preprocessor` and its weights
(`keras_nextword.generation.cell`); the model imports it, not the other way round.
Samplers are `keras_nextword.generation.samplers`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_nextword.generation.cell import (
    generation_weights,
    input_projection,
    lstm_step,
    output_layer,
    prefill,
)
from keras_nextword.generation.samplers import GreedySampler, get_sampler
from keras_nextword.runtime import backend
from keras_nextword.runtime.environment import keras_hub
from keras_nextword.text import prompts as prompt_words
from keras_nextword.text.ngram_vectorizer import PAD_ID
from keras_nextword.text.prompts import encode

__all__ = [
    "encode",
    "generate",
    "generation_weights",
    "get_sampler",
    "GreedySampler",
    "sample_ids",
]


def sample_ids(sampler, weights, prompt, start, mask, stop_token_ids=None):
    """keras-hub's sampler loop over the LSTM cell: the ids of `prompt` with
    every position from `start` on that `mask` leaves free filled in.

    The prefill runs the cell over the first `start - 1` ids of every row
    without the output layer (padding, id 0, leaves the state as it is); the
    sampler loop then costs one cell step and one output projection per
    position, the same for every row, and keeps the ids where `mask` is True
    (a longer prompt's words). Padding and `[UNK]` are never sampled. Not
    compiled: `_generate_fn` and `NextWordLSTM.generate_step` compile it.

    Args:
        sampler: a `keras_hub.samplers.Sampler`.
        weights: the dict of `generation_weights(model)`.
        prompt: int tensor `(batch, length)`.
        start: int (or int tensor), the first position to sample (>= 1).
        mask: bool tensor `(batch, length)`, True where `prompt` is kept.
        stop_token_ids: tuple of ids or None.

    Returns:
        The int tensor `(batch, length)`.
    """
    recurrent_kernel = weights["recurrent_kernel"]
    batch, length = ops.shape(prompt)
    project = input_projection(weights, batch * length)
    output = output_layer(weights)
    state = prefill(project, recurrent_kernel, prompt, start)

    def next(prompt, cache, index):
        token_ids = ops.take(prompt, index - 1, axis=1)
        h, c = lstm_step(project, recurrent_kernel, token_ids, cache)
        return output(h, token_ids), h, (h, c)

    return sampler(next, prompt, cache=state, index=start, mask=mask, stop_token_ids=stop_token_ids)


def _generate_fn(sampler, stop_token_ids):
    """Builds the compiled `(weights, prompt, start) -> ids` for `sampler`.

    `prompt` holds each row's words pre-padded to end at `start`, then room for
    the new words (see `sample_ids`).
    """

    def generate_ids(weights, prompt, start):
        batch, length = ops.shape(prompt)
        # The prompts are `mask`ed: a stop word in a prompt does not stop anything.
        mask = ops.broadcast_to(ops.arange(length) < start, (batch, length))
        return sample_ids(sampler, weights, prompt, start, mask, stop_token_ids)

    return backend.jit_with_variables(generate_ids, sampler.variables)


def _greedy_fn(stop_token_ids):
    """Builds the compiled greedy `(weights, prompt, start) -> ids`, same
    contract and same words as `_generate_fn(GreedySampler(), stop_token_ids)`.

    keras-hub's sampler loop rewrites the whole `(batch, length)` prompt and
    its mask every step and reads the last token back out of it; here the loop
    carries the last token and writes one row of a `(length, batch)` buffer.
    The argmax is a max then the smallest index that reaches it (the first
    maximum, as `ops.argmax`): on XLA's CPU backend the fused `(value, index)`
    argmax reduction costs more than the output matmul itself, two plain
    reductions less. From 64 rows the logits come out transposed,
    `(vocabulary, batch)`, so both reduce over the major axis (faster there,
    measured; slower for a few rows, whose matvec dislikes the transpose).
    With `stop_token_ids` the loop ends once every row has produced one.
    """

    def generate_ids(weights, prompt, start):
        recurrent_kernel = weights["recurrent_kernel"]
        batch, length = ops.shape(prompt)
        project = input_projection(weights, batch * length)
        h, c = prefill(project, recurrent_kernel, prompt, start)
        vocabulary = ops.shape(weights["embeddings"])[0]
        index = ops.arange(vocabulary, dtype="int32")
        # Vocabulary on axis 0 for large batches (see the docstring), else on
        # axis 1; always on axis 0 when tied: the embeddings are the kernel
        # transposed already.
        axis = 0 if batch >= 64 or weights["output_kernel"] is None else 1
        output = output_layer(weights, transposed=axis == 0)
        if axis == 0:
            index = ops.expand_dims(index, -1)
        stop = None if stop_token_ids is None else ops.array(stop_token_ids, "int32")

        def cond(i, token_ids, h, c, ids, done):
            more = ops.less(i, length)
            return more if stop is None else ops.logical_and(more, ops.logical_not(ops.all(done)))

        def body(i, token_ids, h, c, ids, done):
            h, c = lstm_step(project, recurrent_kernel, token_ids, (h, c))
            logits = output(h, token_ids)
            best = ops.max(logits, axis=axis, keepdims=True)
            # A NaN row matches nothing and gives the last id, still a word.
            token_ids = ops.min(ops.where(logits == best, index, vocabulary - 1), axis=axis)
            ids = ops.slice_update(ids, (i, 0), ops.expand_dims(token_ids, 0))
            if stop is not None:
                hit = ops.equal(ops.expand_dims(token_ids, -1), stop)
                done = ops.logical_or(done, ops.any(hit, axis=-1))
            return i + 1, token_ids, h, c, ids, done

        loop_vars = (
            start,
            ops.take(prompt, start - 1, axis=1),
            h,
            c,
            ops.zeros((length, batch), "int32"),
            ops.zeros((batch,), "bool"),
        )
        ids = ops.while_loop(cond, body, loop_vars)[4]
        return ops.transpose(ids)

    return backend.jit_with_variables(generate_ids, [])


_COMPILED = {}


def _compiled(sampler, stop_token_ids, named):
    """The compiled `(weights, prompt, start) -> ids` for `sampler`, and the
    sampler whose state it draws from: the lean greedy loop for plain greedy,
    else keras-hub's sampler loop. A `named` sampler (made by `get_sampler`
    for this call) is swapped for the one instance of its configuration that
    was compiled first; a user's instance is compiled for and used as given,
    its seed state included."""
    if type(sampler) in (GreedySampler, keras_hub.samplers.GreedySampler):
        key = (keras.config.backend(), "greedy", stop_token_ids)
        if key not in _COMPILED:
            _COMPILED[key] = (_greedy_fn(stop_token_ids), sampler)
        return _COMPILED[key]
    config = repr(sorted(sampler.get_config().items()))
    if named:
        key = (keras.config.backend(), type(sampler).__name__, config, stop_token_ids)
        if key not in _COMPILED:
            _COMPILED[key] = (_generate_fn(sampler, stop_token_ids), sampler)
        return _COMPILED[key]
    # An instance keeps its own compiled functions, so it runs with its own state.
    cache = sampler.__dict__.setdefault("_keras_nextword_compiled", {})
    key = (keras.config.backend(), config, stop_token_ids)
    if key not in cache:
        cache[key] = _generate_fn(sampler, stop_token_ids)
    return cache[key], sampler


def _bucket(n, multiple):
    """Rounds up so that nearby sizes share one compiled function."""
    return max(multiple, int(math.ceil(n / multiple)) * multiple)


def generate(
    model, prompts, max_length=10, sampler="greedy", seed=None, stop=None, **sampler_kwargs
):
    """Continues each prompt with `max_length` words.

    Prompts are split into words as in training, and the whole prompt is the
    context, never cut to the preprocessor's `sequence_length` (the LSTM
    state carries it; `NextWordLSTM.predict` on strings reads it the same
    way). A word out of the vocabulary
    reads as `[UNK]` (never dropped) and one warning per call names such words;
    a prompt with no word in the vocabulary warns as well and continues from
    its `[UNK]`s alone, which the model has seen in training (word dropout)
    but knows little from. A prompt with no words at all (empty, blank or only
    punctuation) raises `ValueError`. Padding and `[UNK]` are never generated.

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        prompts: a string or a list of strings.
        max_length: number of new words per prompt.
        sampler: a sampler name (`"greedy"`, `"random"`, `"top_k"`, `"top_p"`,
            `"beam"`) or a `keras_hub.samplers.Sampler` instance. Greedy
            decoding (by name or a plain `keras_hub.samplers.GreedySampler`)
            runs a leaner compiled loop of its own with the same words; the
            others run keras-hub's sampler loop. An instance is used as given:
            its seed state draws, and moves on, call after call.
        seed: int or None. Seeds the sampler (an instance too) so sampled
            text is reproducible.
        stop: a word or list of words (in the vocabulary) that end a
            continuation early; the stop word is kept. Generation ends once
            every prompt has produced one.
        **sampler_kwargs: arguments of a named sampler (`k`, `p`, `temperature`...).

    Returns:
        The prompt followed by the new words: a string for a string, a list of
        strings for a list.

    Raises:
        ValueError: a prompt has no words, `max_length` is negative, a stop
            word is out of the vocabulary, the sampler is unknown or one of
            its arguments is out of range (see `get_sampler`).

    Example:
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0)
    >>> text = generate(model, "What happens we do this", max_length=3)
    >>> len(text.split()) == 5 + 3
    True
    """
    if max_length < 0:
        raise ValueError(f"`max_length` must be >= 0. Received: max_length={max_length}")
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    sampler_arg, sampler = sampler, get_sampler(sampler, **sampler_kwargs)
    preprocessor = model.preprocessor
    stop_token_ids = prompt_words.stop_token_ids(preprocessor, stop)
    rows = encode(preprocessor, prompts)
    if max_length == 0:
        return prompts[0] if single else prompts

    batch = _bucket(len(rows), 8) if len(rows) > 1 else 1
    total = _bucket(max(len(r) for r in rows) + max_length, 8)
    start = total - max_length
    prompt = np.full((batch, total), PAD_ID, dtype="int32")
    for i, ids in enumerate(rows):
        prompt[i, start - len(ids) : start] = ids
    # Bucket-filler rows repeat the first prompt so every row stays a real one.
    prompt[len(rows) :] = prompt[0]

    # Weights are arguments, so one compiled function per sampler serves every
    # model; each (batch, length) bucket is traced once. A named sampler is
    # made once per configuration; an instance is compiled for and used as given.
    named = not isinstance(sampler_arg, keras_hub.samplers.Sampler)
    compiled, sampler = _compiled(sampler, stop_token_ids, named)
    if seed is not None:
        for variable in sampler.variables:
            variable.assign(keras.random.SeedGenerator(seed).state.value)
    ids = compiled(generation_weights(model), prompt, np.int32(start))
    new_ids = ops.convert_to_numpy(ids)[: len(rows), start:]
    lengths = np.full(len(rows), max_length)
    if stop_token_ids:
        # Each row ends at its first stop word, kept.
        stopped = np.isin(new_ids, stop_token_ids)
        lengths = np.where(stopped.any(axis=1), stopped.argmax(axis=1) + 1, lengths)
    words = preprocessor.tokenizer.words_of(new_ids)  # its word table, kept between calls
    outputs = [" ".join([text, *row[:n]]) for text, row, n in zip(prompts, words, lengths)]
    return outputs[0] if single else outputs
