import keras
import keras_hub
import numpy as np
import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.text.ngram_vectorizer import OOV_ID

PROMPTS = ["it is with a heavy heart", "holmes", "the professor was"]


def test_is_a_keras_hub_causal_lm_of_a_backbone_and_a_preprocessor():
    model = NextWordLSTM.from_sizes(12, embedding_dim=4, lstm_units=6)
    assert isinstance(model, keras_hub.models.CausalLM)
    assert NextWordLSTM.__bases__ == (keras_hub.models.CausalLM,)  # no mixin
    assert NextWordLSTM.backbone_cls is type(model.backbone)
    assert (model.backbone.vocabulary_size, model.backbone.lstm_units) == (12, 6)
    twin = NextWordLSTM(model.backbone)
    assert twin.backbone is model.backbone and twin.preprocessor is None
    # The sizes and layers are the backbone's, read there: the task forwards none.
    forwarded = ("embedding", "lstm", "vocabulary_size", "embedding_dim", "lstm_units")
    assert not [name for name in (*forwarded, "dropout", "tie_weights") if hasattr(model, name)]
    with pytest.raises(TypeError, match="from_sizes"):
        NextWordLSTM(12)  # sizes go through `from_sizes`


@pytest.mark.parametrize("tying", [{}, {"tie_weights": True}, {"line_starts": True}])
def test_call_with_cache_gives_the_model_logits_step_by_step(tying):
    keras.utils.set_random_seed(0)
    model = NextWordLSTM.from_sizes(20, embedding_dim=4, lstm_units=6, **tying)
    ids = np.array([[2, 3, 4, 5], [6, 7, 0, 0]], "int32")
    expected = keras.ops.convert_to_numpy(model(ids))
    hidden, cache = model._build_cache(ids[:, :1])
    assert tuple(hidden.shape) == (2, 1, 6) and len(cache) == 2
    for i in range(1, 4):
        logits, hidden, cache = model.call_with_cache(ids[:, i : i + 1], cache, i)
        real = ids[:, i] != 0
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(logits)[real, 0], expected[real, i], atol=1e-5
        )
    # Padding leaves the state as it was: the second row's cache is after its last word.
    _, short = model._build_cache(ids[1:, :2])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(cache[0])[1], keras.ops.convert_to_numpy(short[0])[0], atol=1e-6
    )


def test_generate_step_equals_generate_for_each_prompt(small_model):
    """keras-hub's contract: post-padded prompts of several lengths, one batch,
    compiled by `make_generate_function`; the same words as `generate`."""
    model, preprocessor = small_model, small_model.preprocessor
    rows = [[preprocessor.token_to_id(w) for w in p.split()] for p in PROMPTS]
    length = max(map(len, rows)) + 5
    ids = np.zeros((len(rows), length), "int32")
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    inputs = {"token_ids": ids, "padding_mask": ids != 0}
    model.compile(sampler="greedy")
    try:
        for step in (model.generate_step, model.make_generate_function()):
            out = keras.ops.convert_to_numpy(step(inputs)["token_ids"])
            for prompt, row, generated in zip(PROMPTS, rows, out):
                new = length - len(row)
                words = preprocessor.detokenize(generated[len(row) :])
                assert " ".join([prompt, *words]) == model.generate(prompt, max_length=new)
                assert (generated[len(row) :] > OOV_ID).all()
        stop = int(out[0, len(rows[0])])  # the first new word of the first prompt
        masked = model.generate_step(inputs, stop_token_ids=(stop,))
        mask = keras.ops.convert_to_numpy(masked["padding_mask"])
        assert mask[0, : len(rows[0]) + 1].all() and not mask[0, len(rows[0]) + 1 :].any()
    finally:
        model.compile()


def test_compile_sampler_is_the_generate_default():
    vectorizer = NGramVectorizer()
    vectorizer.adapt(["a heavy heart", "a light heart", "a heavy pen"])
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 4, 6, preprocessor=vectorizer)
    greedy = model.generate("a", max_length=6)
    model.compile(sampler=keras_hub.samplers.RandomSampler(temperature=50.0, seed=1))
    sampled = [model.generate("a", max_length=6, seed=s) for s in range(4)]
    assert any(text != greedy for text in sampled)
    assert model.generate("a", max_length=6, sampler="greedy") == greedy


def test_max_length_counts_new_words_not_the_prompt():
    """keras-hub's `CausalLM.generate(max_length=)` counts the prompt too; ours
    counts new words only, whatever the prompt's length."""
    vectorizer = NGramVectorizer()
    vectorizer.adapt(["a heavy heart", "a light heart"])
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 4, 6, preprocessor=vectorizer)
    for prompt in ("a", "a heavy heart a light heart a heavy"):
        for max_length in (1, 3):
            text = model.generate(prompt, max_length=max_length)
            assert len(text.split()) == len(prompt.split()) + max_length
