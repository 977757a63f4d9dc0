import itertools

import pytest

from keras_nextword import generate, get_sampler
from keras_nextword.generation.streaming import stream

PROMPT = "it is with a heavy heart that i"
LONG = " ".join([PROMPT] * 12)  # 96 words: past one prefill bucket


@pytest.mark.parametrize(
    "prompt, sampler, kwargs",
    [
        (PROMPT, "greedy", {}),
        (LONG, "greedy", {}),
        (PROMPT, "random", {"seed": 3}),
        (PROMPT, "top_k", {"k": 5, "seed": 3}),
        (LONG, "top_p", {"p": 0.9, "temperature": 0.7, "seed": 1}),
        (PROMPT, "beam", {}),
    ],
)
def test_streamed_words_are_generates_words(small_model, prompt, sampler, kwargs):
    words = list(stream(small_model, prompt, max_length=7, sampler=sampler, **kwargs))
    expected = generate(small_model, prompt, max_length=7, sampler=sampler, **kwargs)
    assert " ".join([prompt, *words]) == expected
    assert len(words) == 7


def test_words_are_computed_as_they_are_asked_for(small_model):
    sampler = get_sampler("random")
    words = stream(small_model, PROMPT, max_length=50, sampler=sampler, seed=0)
    first = list(itertools.islice(words, 2))
    state = sampler.variables[0].numpy().tolist()
    assert len(first) == 2
    next(words)
    assert sampler.variables[0].numpy().tolist() != state  # the third draw came later


def test_a_stop_word_ends_the_stream_and_is_kept(small_model):
    greedy = list(stream(small_model, PROMPT, max_length=10))
    words = list(stream(small_model, PROMPT, max_length=10, stop=greedy[2]))
    assert words == greedy[: greedy.index(greedy[2]) + 1]


def test_bad_arguments_raise_at_the_call(small_model):
    with pytest.raises(ValueError, match="no words"):
        stream(small_model, " ,. ", max_length=3)
    with pytest.raises(ValueError, match="max_length"):
        stream(small_model, PROMPT, max_length=-1)
    with pytest.raises(ValueError, match="zzzqqq"):
        stream(small_model, PROMPT, stop="zzzqqq")
    assert list(stream(small_model, PROMPT, max_length=0)) == []
