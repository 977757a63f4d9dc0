"""`from_text`'s bigram mix phase (`training.mixing`): the rule, and training on under it."""

import keras
import numpy as np

from keras_nextword import NextWordLSTM

SIZES = dict(embedding_dim=8, lstm_units=8, seed=0, verbose=0)


def final_problem_lines_held_out():
    from keras_nextword import datasets
    from keras_nextword.text import data
    from keras_nextword.training import recipe

    return data.listed(recipe.split(datasets.load_final_problem()).held_out)


def test_a_given_share_mixes_and_fit_text_keeps_it(final_problem_path, capsys):
    model = NextWordLSTM.from_text(final_problem_path, epochs=1, bigram_weight=0.7, **SIZES)
    assert model.bigram.weight == 0.7 and model.training_settings["bigram_weight"] == 0.7
    table = keras.ops.convert_to_numpy(model.bigram.table).copy()
    lstm = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings).copy()
    model.fit_text(final_problem_path, epochs=1, verbose=0)
    assert model.bigram.weight == 0.7 and len(model.history.epoch) == 1
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.bigram.table), table)
    embeddings = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings)
    assert not np.allclose(embeddings, lstm)  # the LSTM trained under the mix


def test_none_keeps_the_lstm_alone_and_auto_says_why(final_problem_path, capsys):
    assert (
        NextWordLSTM.from_text(final_problem_path, epochs=1, bigram_weight=None, **SIZES).bigram
        is None
    )
    model = NextWordLSTM.from_text(final_problem_path, epochs=2, **dict(SIZES, verbose=1))
    out = capsys.readouterr().out
    if model.bigram is None:
        assert "No bigram mix: 59 lines set apart score the LSTM alone best" in out
    else:
        assert f"Mixed with a bigram model, {model.bigram.weight:.0%} LSTM: 59 lines" in out
        held_out = model.evaluate(final_problem_lines_held_out(), return_dict=True, verbose=0)
        assert f"Held-out perplexity with the mix: {held_out['perplexity']:.1f}" in out


def test_no_time_left_no_mix(final_problem_path, capsys):
    from keras_nextword.training import mixing, recipe

    parts = recipe.split(final_problem_path)
    model = NextWordLSTM.from_text(final_problem_path, epochs=1, bigram_weight=None, **SIZES)
    said = []
    assert mixing.mix(model, parts, "auto", said.append, deadline=0.0) is model
    assert said == ["No bigram mix: counting 5,860 training words would pass the time limit"]
