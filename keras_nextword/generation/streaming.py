"""Words as they are generated: one compiled cell step per word, each word
handed out as soon as it is drawn (a page or a terminal shows it at once).

`generate` runs its whole loop in one compiled call and returns at the end;
`stream` prefills the LSTM once with the prompt, then calls one compiled step
(a cell step, the output layer and the sampler's draw) per word, carrying the
`(h, c)` state and the sampler's seed state between calls.
"""

import keras
import numpy as np
from keras import ops

from keras_nextword.generation import cell
from keras_nextword.generation import generate as generation
from keras_nextword.generation.samplers import get_sampler
from keras_nextword.runtime import backend
from keras_nextword.runtime.environment import keras_hub
from keras_nextword.text import prompts as prompt_words
from keras_nextword.text.ngram_vectorizer import PAD_ID

PREFILL_WORDS = 64  # prompts are pre-padded to a multiple of this: few compiled shapes

_COMPILED = {}


def _prefill_fn():
    def prefill(weights, prompt):
        length = ops.shape(prompt)[1]
        project = cell.input_projection(weights, length)
        return cell.prefill(project, weights["recurrent_kernel"], prompt, length)

    return backend.jit_with_variables(prefill, [])


def _step_fn(sampler):
    def step(weights, token_ids, h, c):
        project = cell.input_projection(weights, 1)
        h, c = cell.lstm_step(project, weights["recurrent_kernel"], token_ids, (h, c))
        probabilities = sampler.compute_probabilities(cell.output_layer(weights)(h, token_ids))
        return ops.cast(sampler.get_next_token(probabilities), "int32"), h, c

    return backend.jit_with_variables(step, sampler.variables)


def _compiled(sampler, named):
    """The compiled prefill and step for `sampler`, and the sampler they draw
    from: one instance per configuration of a `named` sampler (as `generate`
    keeps), a user's instance compiled for and used as given."""
    key = (
        keras.config.backend(),
        type(sampler).__name__,
        repr(sorted(sampler.get_config().items())),
    )
    cache = _COMPILED if named else sampler.__dict__.setdefault("_keras_nextword_stream", {})
    if key not in cache:
        cache[key] = (_prefill_fn(), _step_fn(sampler), sampler)
    return cache[key]


def stream(model, prompt, max_length=10, sampler="greedy", seed=None, stop=None, **sampler_kwargs):
    """Yields the words that continue `prompt`, each as soon as it is drawn.

    The same reading of the prompt as `generate` (the whole prompt is the
    context; unknown words read as `[UNK]`, with a warning), and greedy
    decoding gives `generate`'s words. A sampled word is drawn from the
    sampler's seed state as `generate` draws it, so a `seed` makes the words
    reproducible. Beam search cannot commit to a word before the search ends:
    with `"beam"` the words come all at once, after `generate`.

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        prompt: a string.
        max_length: the most new words.
        sampler: a sampler name (`"greedy"`, `"random"`, `"top_k"`, `"top_p"`,
            `"beam"`) or a `keras_hub.samplers.Sampler` instance.
        seed: int or None, seeds the sampler.
        stop: a word or list of words (in the vocabulary) that end the
            continuation; the stop word is yielded.
        **sampler_kwargs: arguments of a named sampler (`k`, `p`, `temperature`...).

    Returns:
        An iterator of words (strings), each computed when it is asked for.

    Raises:
        ValueError: as `generate` (the prompt has no words, `max_length` is
            negative, a stop word or the sampler is unknown), at the call.

    Example:
    >>> model = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0)
    >>> words = list(stream(model, "It is with a heavy heart", max_length=3))
    >>> " ".join(["It is with a heavy heart", *words]) == generation.generate(
    ...     model, "It is with a heavy heart", max_length=3
    ... )
    True
    """
    if max_length < 0:
        raise ValueError(f"`max_length` must be >= 0. Received: max_length={max_length}")
    named = not isinstance(sampler, keras_hub.samplers.Sampler)
    sampler_object = get_sampler(sampler, **sampler_kwargs)
    if isinstance(sampler_object, keras_hub.samplers.BeamSampler):
        text = generation.generate(model, prompt, max_length, sampler, seed, stop, **sampler_kwargs)
        return iter(text[len(prompt) :].split())
    preprocessor = model.preprocessor
    stop_ids = prompt_words.stop_token_ids(preprocessor, stop) or ()
    ids = prompt_words.encode(preprocessor, [prompt])[0]
    prefill, step, sampler_object = _compiled(sampler_object, named)
    if seed is not None:
        for variable in sampler_object.variables:
            variable.assign(keras.random.SeedGenerator(seed).state.value)
    return _words(model, ids, max_length, prefill, step, stop_ids)


def _words(model, ids, max_length, prefill, step, stop_ids):
    """The word iterator of `stream`: the prompt's state, then a step per word."""
    if max_length == 0:
        return
    weights = cell.generation_weights(model)
    length = -(-len(ids) // PREFILL_WORDS) * PREFILL_WORDS
    padded = np.full((1, length), PAD_ID, "int32")
    padded[0, length - len(ids) :] = ids
    h, c = prefill(weights, padded)
    words_of = model.preprocessor.tokenizer.words_of  # the word table, kept between calls
    token = np.array([ids[-1]], "int32")
    for _ in range(max_length):
        token, h, c = step(weights, token, h, c)
        word_id = int(ops.convert_to_numpy(token)[0])
        yield words_of(word_id)
        if word_id in stop_ids:
            return
