"""benchmarks/heldout.py: held-out lines are scored as the suite says, each word from
every word before it in its line."""

import sys

import keras
import numpy as np

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import heldout  # noqa: E402

from keras_nextword import NextWordLSTM, NGramVectorizer  # noqa: E402


def test_a_line_longer_than_a_row_is_scored_with_its_whole_context():
    # Rows of 2 positions: the old scoring cut this 6-word line into 3 rows, each from a
    # zero state, so the 3rd and 5th words were scored without the words before them.
    vocabulary = ["", "[UNK]", "a", "b", "c"]
    vectorizer = NGramVectorizer(vocabulary=vocabulary, sequence_length=2)
    keras.utils.set_random_seed(0)
    model = NextWordLSTM.from_sizes(5, embedding_dim=4, lstm_units=6, preprocessor=vectorizer)
    lines = ["a b c a b zzz", "c a"]
    nll, targets, _ = heldout.target_losses(model, lines, positions=4)
    ids = np.array([[2, 3, 4, 2, 3, 1]])
    log_p = keras.ops.convert_to_numpy(keras.ops.log_softmax(model(ids[:, :-1]), axis=-1))[0]
    whole = -log_p[np.arange(5), ids[0, 1:]]
    second = -keras.ops.convert_to_numpy(keras.ops.log_softmax(model(np.array([[4]]))))[0, 0, 2]
    np.testing.assert_allclose(nll, [*whole, second], rtol=1e-5)
    assert targets.tolist() == [3, 4, 2, 3, 1, 2]


def test_the_unknown_words_log_probability_is_the_log_softmax_at_unk():
    vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "b"], sequence_length=3)
    keras.utils.set_random_seed(0)
    model = NextWordLSTM.from_sizes(4, embedding_dim=4, lstm_units=6, preprocessor=vectorizer)
    nll, targets, log_unknown = heldout.target_losses(model, ["a b zzz a"])
    log_p = keras.ops.convert_to_numpy(keras.ops.log_softmax(model(np.array([[2, 3, 1]]))))[0]
    np.testing.assert_allclose(log_unknown, log_p[:, 1], rtol=1e-5)
    np.testing.assert_allclose(nll, -log_p[np.arange(3), [3, 1, 2]], rtol=1e-5)


def test_given_known_takes_the_unknown_share_out_of_each_known_target():
    import known

    # Two known targets at P 0.2 and 0.4 with P([UNK]) 0.5 and 0.2; one [UNK] target.
    nll = -np.log([0.2, 0.4, 0.3])
    log_unknown = np.log([0.5, 0.2, 0.3])
    result = known.figures(nll, log_unknown, np.array([True, True, False]))
    assert np.isclose(result["as_is"], 1 / np.sqrt(0.2 * 0.4))
    assert np.isclose(result["given_known"], 1 / np.sqrt(0.4 * 0.5))
    assert np.isclose(result["unknown_share"], 0.35)
    assert np.isclose(result["unknown_share_at_unknown_targets"], 0.3)
