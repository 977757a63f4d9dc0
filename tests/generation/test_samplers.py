import keras_hub
import pytest

from keras_nextword.generation.samplers import GreedySampler, get_sampler


def test_names_and_instances():
    assert isinstance(get_sampler("greedy"), GreedySampler)
    assert get_sampler("top_p", p=0.5, k=None).p == 0.5
    sampler = keras_hub.samplers.TopKSampler(k=3)
    assert get_sampler(sampler) is sampler
    with pytest.raises(ValueError, match="instance"):
        get_sampler(sampler, k=4)
    with pytest.raises(ValueError, match="nucleus"):
        get_sampler("nucleus")


@pytest.mark.parametrize(
    "sampler,kwargs,name",
    [
        ("top_p", {"p": 1.5}, "p"),
        ("top_p", {"p": 0}, "p"),
        ("top_p", {"p": 0.9, "k": 0}, "k"),
        ("top_k", {"k": 0}, "k"),
        ("top_k", {"k": 2.5}, "k"),
        ("beam", {"num_beams": 0}, "num_beams"),
        ("random", {"temperature": -1.0}, "temperature"),
        ("top_k", {"k": 3, "temperature": 0}, "temperature"),
        ("top_k", {"kk": 3}, "kk"),
    ],
)
def test_bad_sampler_arguments_are_named(sampler, kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        get_sampler(sampler, **kwargs)
