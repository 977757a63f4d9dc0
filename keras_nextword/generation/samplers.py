"""Samplers for `generate`: keras-hub's, by name or instance, with checked arguments."""

from keras_nextword.runtime.environment import keras_hub

__all__ = ["GreedySampler", "SAMPLERS", "get_sampler"]


class GreedySampler(keras_hub.samplers.GreedySampler):
    """keras-hub's greedy sampler without the softmax: the argmax of the logits
    is the argmax of the probabilities, and a vocabulary-wide exp per row and
    step is a sizeable share of a batched generation step."""

    def compute_probabilities(self, logits):
        return logits


SAMPLERS = {
    "greedy": GreedySampler,
    "random": keras_hub.samplers.RandomSampler,
    "top_k": keras_hub.samplers.TopKSampler,
    "top_p": keras_hub.samplers.TopPSampler,
    "beam": keras_hub.samplers.BeamSampler,
}


# Each named sampler's arguments, and for each a check and what it must be.
_POSITIVE_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an int >= 1")
_ARGUMENTS = {
    "temperature": (lambda v: isinstance(v, (int, float)) and v > 0, "a number > 0"),
    "seed": (lambda v: v is None or isinstance(v, int), "an int or None"),
    "k": _POSITIVE_INT,
    "p": (lambda v: isinstance(v, (int, float)) and 0 < v <= 1, "a number in (0, 1]"),
    "num_beams": _POSITIVE_INT,
    "return_all_beams": (lambda v: isinstance(v, bool), "a bool"),
}
_SAMPLER_ARGUMENTS = {
    "greedy": ("temperature",),
    "random": ("temperature", "seed"),
    "top_k": ("temperature", "seed", "k"),
    "top_p": ("temperature", "seed", "p", "k"),
    "beam": ("temperature", "num_beams", "return_all_beams"),
}


def get_sampler(sampler="greedy", **kwargs):
    """Returns a `keras_hub.samplers.Sampler` from a name (and its arguments) or
    an instance.

    An instance is returned as it is, and `generate` uses that instance (its
    seed state included). A name's arguments are checked: `temperature` > 0,
    `k` and `num_beams` ints >= 1, `p` in (0, 1]; top-p's `k` may also be None.

    Args:
        sampler: one of `"greedy"`, `"random"`, `"top_k"`, `"top_p"`, `"beam"`,
            or a `keras_hub.samplers.Sampler`.
        **kwargs: the sampler's arguments, e.g. `k=5`, `p=0.9`, `temperature=0.7`.

    Returns:
        A `keras_hub.samplers.Sampler`.

    Raises:
        ValueError: an unknown sampler name, an argument the sampler does not
            take or out of its range (the message names it), or arguments
            with an instance.

    Example:
    >>> get_sampler("top_k", k=5).k
    5
    """
    if isinstance(sampler, keras_hub.samplers.Sampler):
        if kwargs:
            raise ValueError(
                f"Sampler arguments {sorted(kwargs)} need a sampler name, not an instance."
            )
        return sampler
    if sampler not in SAMPLERS:
        raise ValueError(
            f"Unknown sampler: {sampler!r}. Use one of {sorted(SAMPLERS)} or a "
            "keras_hub.samplers.Sampler instance."
        )
    for name, value in kwargs.items():
        if name not in _SAMPLER_ARGUMENTS[sampler]:
            raise ValueError(
                f"`{name}` is not an argument of the {sampler!r} sampler; it takes "
                f"{list(_SAMPLER_ARGUMENTS[sampler])}."
            )
        valid, must = _ARGUMENTS[name]
        if not (valid(value) or (sampler, name, value) == ("top_p", "k", None)):
            raise ValueError(f"`{name}` must be {must}. Received: {name}={value!r}")
    return SAMPLERS[sampler](**kwargs)
