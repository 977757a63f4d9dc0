import warnings

import keras
import keras_hub
import numpy as np
import pytest

from keras_nextword import generate
from keras_nextword.generation import generate as generation
from keras_nextword.text.ngram_vectorizer import OOV_ID, python_split_words

PROMPTS = [
    "What happens we do this",
    "holmes",
    "it is with a heavy heart that i",
    "the professor",
]


def prompt_ids(model, prompt):
    return [model.preprocessor.token_to_id(w) for w in python_split_words(prompt)]


def last_position_scores(model, x):
    """The model's next-word scores after each row of `x` (its last position)."""
    scores = keras.ops.convert_to_numpy(model.predict_on_batch(x))[:, -1].copy()
    scores[:, : OOV_ID + 1] = -np.inf  # padding and [UNK] are never proposed
    return scores


def naive_next_word_scores(model, sequences):
    """The model on each whole sequence, one at a time (no padding)."""
    return np.concatenate(
        [last_position_scores(model, np.array([ids], "int32")) for ids in sequences]
    )


class SamplerLoopGreedy(generation.GreedySampler):
    """Greedy through keras-hub's sampler loop: `generate` keeps its lean
    greedy loop for plain greedy samplers only."""


def naive_greedy(model, prompt, max_length):
    ids = prompt_ids(model, prompt)
    for _ in range(max_length):
        ids.append(int(np.argmax(naive_next_word_scores(model, [ids])[0])))
    words = model.preprocessor.detokenize(ids[len(ids) - max_length :])
    return " ".join([prompt, *words])


def test_greedy_equals_naive_argmax_loop(small_model):
    expected = [naive_greedy(small_model, p, 10) for p in PROMPTS]
    assert [small_model.generate(p, max_length=10) for p in PROMPTS] == expected
    assert small_model.generate(PROMPTS, max_length=10) == expected
    assert generate(small_model, PROMPTS[0], max_length=10) == expected[0]


@pytest.mark.parametrize("lstm_units", [32, 16])  # a projection, and none
def test_greedy_with_tied_weights_equals_naive_argmax_loop(final_problem_path, lstm_units):
    from keras_nextword import NextWordLSTM

    model = NextWordLSTM.from_text(
        final_problem_path,
        epochs=2,
        batch_size=64,  # trained enough that greedy meets no near-ties
        embedding_dim=16,
        lstm_units=lstm_units,
        tie_weights=True,
        early_stopping_patience=0,
        seed=0,
        verbose=0,
    )
    assert model.generate(PROMPTS, max_length=6) == [naive_greedy(model, p, 6) for p in PROMPTS]


def test_lean_greedy_equals_the_sampler_loop(small_model):
    # 64 rows and more take the transposed-logits layout, fewer the other one.
    for prompts in (PROMPTS, PROMPTS * 17):
        lean = small_model.generate(prompts, max_length=9)
        assert small_model.generate(prompts, max_length=9, sampler=SamplerLoopGreedy()) == lean
        assert lean == small_model.generate(PROMPTS, max_length=9) * (len(prompts) // 4)
        stop = lean[1].split()[-4]
        stopped = small_model.generate(prompts, max_length=9, stop=stop)
        assert stopped == small_model.generate(
            prompts, max_length=9, stop=stop, sampler=SamplerLoopGreedy()
        )
    assert small_model.generate(
        PROMPTS, max_length=9, sampler=keras_hub.samplers.GreedySampler()
    ) == small_model.generate(PROMPTS, max_length=9)


def test_mixed_length_batch_equals_one_by_one(small_model):
    one_by_one = [small_model.generate(p, max_length=7, sampler="top_k", k=1) for p in PROMPTS]
    assert small_model.generate(PROMPTS, max_length=7, sampler="top_k", k=1) == one_by_one


def test_prompt_longer_than_training_context_is_not_truncated(small_model):
    prompt = " ".join(["holmes and i"] * 8)  # 24 words, context is 16
    ids = prompt_ids(small_model, prompt)
    assert len(ids) > small_model.preprocessor.sequence_length
    scores = last_position_scores(small_model, np.array([ids], "int32"))[0]
    first = small_model.generate(prompt, max_length=1).split()[-1]
    assert first == small_model.preprocessor.detokenize(int(np.argmax(scores)))


def test_sampling_is_reproducible_with_a_seed(small_model):
    a = small_model.generate(PROMPTS, max_length=12, sampler="random", seed=1)
    b = small_model.generate(PROMPTS, max_length=12, sampler="random", seed=1)
    c = small_model.generate(PROMPTS, max_length=12, sampler="random", seed=2)
    assert a == b
    assert a != c


def test_top_k_never_picks_outside_the_k_best(small_model):
    k = 3
    prompt = PROMPTS[0]
    for seed in range(3):
        text = small_model.generate(prompt, max_length=8, sampler="top_k", k=k, seed=seed)
        ids = prompt_ids(small_model, text)
        start = len(prompt_ids(small_model, prompt))
        for i in range(start, len(ids)):
            scores = naive_next_word_scores(small_model, [ids[:i]])[0]
            assert ids[i] in np.argsort(scores)[-k:]


@pytest.mark.parametrize(
    "sampler,kwargs",
    [
        ("top_p", {"p": 0.9, "seed": 0}),
        ("beam", {"num_beams": 3}),
        (keras_hub.samplers.TopKSampler(k=5, seed=0), {}),
        ("random", {"temperature": 0.5, "seed": 0}),
    ],
)
def test_samplers_give_max_length_words(small_model, sampler, kwargs):
    texts = small_model.generate(PROMPTS, max_length=6, sampler=sampler, **kwargs)
    assert [len(t.split()) for t in texts] == [len(p.split()) + 6 for p in PROMPTS]


def test_padding_and_oov_are_never_generated(small_model):
    bias = small_model.head.bias
    original = keras.ops.convert_to_numpy(bias)
    try:
        boosted = original.copy()
        boosted[: OOV_ID + 1] += 100.0  # the model now "prefers" padding and [UNK]
        bias.assign(boosted)
        for sampler in ("greedy", "random"):
            text = small_model.generate(PROMPTS[0], max_length=10, sampler=sampler, seed=0)
            assert "[UNK]" not in text and len(text.split()) == 5 + 10
    finally:
        bias.assign(original)


def test_oov_prompt_words_warn_and_are_kept(small_model):
    with pytest.warns(UserWarning, match="zzyzx") as record:
        text = small_model.generate("holmes zzyzx", max_length=2)
    assert record[0].filename == __file__  # names the caller's line, not the package's
    with pytest.warns(UserWarning, match="zzyzx") as record:
        generate(small_model, "holmes zzyzx", max_length=2)
    assert record[0].filename == __file__
    assert text.startswith("holmes zzyzx ")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_model.generate("holmes", max_length=1)
    assert not [w for w in caught if "Out-of-vocabulary" in str(w.message)]


def test_stop_words_end_each_continuation(small_model):
    full = small_model.generate(PROMPTS, max_length=12)
    new_words = [text.split()[len(p.split()) :] for text, p in zip(full, PROMPTS)]
    stop = new_words[0][2]  # a word greedy decoding does produce
    stopped = small_model.generate(PROMPTS, max_length=12, stop=stop)
    for text, prompt, words in zip(stopped, PROMPTS, new_words):
        expected = words[: words.index(stop) + 1] if stop in words else words
        assert text.split()[len(prompt.split()) :] == expected
    with pytest.raises(ValueError, match="zzyzx"):
        small_model.generate("holmes", stop=["zzyzx"])


def test_edge_cases(small_model):
    assert small_model.generate("holmes", max_length=0) == "holmes"
    assert small_model.generate(["holmes"], max_length=1)[0].startswith("holmes ")
    with pytest.raises(ValueError, match="max_length"):
        small_model.generate("holmes", max_length=-1)
    with pytest.raises(ValueError, match="sampler"):
        small_model.generate("holmes", sampler="nucleus")
    with pytest.raises(ValueError, match="temperature"):
        small_model.generate("holmes", sampler="random", temperature=0)
    with pytest.raises(ValueError, match="no words"):
        small_model.generate("  ...  ")


def test_empty_prompt_raises_naming_it(small_model):
    for prompts in ("", ["holmes", "   "], ["holmes", "-- !"]):
        with pytest.raises(ValueError, match=r"Prompt \d .* has no words"):
            small_model.generate(prompts, max_length=3)
    with pytest.raises(ValueError, match=r"Prompt 1 \('-- !'\)"):
        small_model.generate(["holmes", "-- !"])


def test_all_oov_prompt_warns_and_continues_from_unk(small_model):
    prompt = "zzyzx qwxv"
    assert prompt_ids(small_model, prompt) == [OOV_ID, OOV_ID]
    with pytest.warns(UserWarning, match="no word in the vocabulary") as caught:
        text = small_model.generate(prompt, max_length=6)
    assert any("zzyzx" in str(w.message) for w in caught)
    assert text == naive_greedy(small_model, prompt, 6)
    with pytest.warns(UserWarning, match="no word in the vocabulary"):
        texts = small_model.generate(["holmes", prompt], max_length=6)
    assert texts[1] == text


def test_a_sampler_instance_is_used_as_given(small_model):
    # Fresh instances with one seed give one text: none is swapped for a cached
    # instance of equal config whose seed state has moved on.
    first = small_model.generate(
        PROMPTS, max_length=8, sampler=keras_hub.samplers.RandomSampler(seed=3)
    )
    again = small_model.generate(
        PROMPTS, max_length=8, sampler=keras_hub.samplers.RandomSampler(seed=3)
    )
    assert first == again
    # One instance keeps drawing from its own seed state, call after call.
    sampler = keras_hub.samplers.RandomSampler(seed=3)
    assert small_model.generate(PROMPTS, max_length=8, sampler=sampler) == first
    state = keras.ops.convert_to_numpy(sampler.variables[0]).copy()
    small_model.generate(PROMPTS, max_length=8, sampler=sampler)
    assert not np.array_equal(keras.ops.convert_to_numpy(sampler.variables[0]), state)


def test_generation_records_no_gradients(small_model, monkeypatch):
    """Torch runs generation eagerly: autograd must be off (keras-hub's
    `no_grad`). JAX and TensorFlow trace the step; nothing to record there."""
    torch = pytest.importorskip("torch") if keras.config.backend() == "torch" else None
    grad_enabled = []
    step = generation.lstm_step

    def recording_step(*args):
        grad_enabled.append(torch is not None and torch.is_grad_enabled())
        return step(*args)

    monkeypatch.setattr(generation, "lstm_step", recording_step)
    monkeypatch.setattr(generation, "_COMPILED", {})
    for sampler in ("greedy", "random"):
        small_model.generate(PROMPTS[0], max_length=2, sampler=sampler, seed=0)
    assert grad_enabled and not any(grad_enabled)
    assert torch is None or torch.is_grad_enabled()


def test_predict_and_generate_read_the_whole_prompt(small_model):
    prompt = " ".join(["holmes and i"] * 8)  # 24 words, past the training rows' 16
    ids = prompt_ids(small_model, prompt)
    assert len(ids) > small_model.preprocessor.sequence_length
    by_text = small_model.predict([prompt, "holmes"], verbose=0)
    by_ids = keras.ops.softmax(small_model.predict_on_batch(np.array([ids], "int32"))[:, -1])
    np.testing.assert_allclose(by_text[0], keras.ops.convert_to_numpy(by_ids)[0], atol=1e-6)
    scores = by_text[0].copy()
    scores[: OOV_ID + 1] = -np.inf
    first = small_model.generate(prompt, max_length=1).split()[-1]
    assert first == small_model.preprocessor.detokenize(int(np.argmax(scores)))
