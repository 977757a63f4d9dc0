"""benchmarks/peer.py: the PyTorch peer trains, and scores held-out lines as `fit` validates."""

import math
import sys

import numpy as np
import tensorflow as tf
import torch

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import peer  # noqa: E402

from keras_nextword import datasets  # noqa: E402
from keras_nextword.text import data
from keras_nextword.text.ngram_vectorizer import NGramVectorizer  # noqa: E402

PROBABILITIES = [0.1, 0.2, 0.3, 0.4]


class FixedLogits(torch.nn.Module):
    """The same next-word distribution, `PROBABILITIES`, at every position."""

    def hidden(self, ids, state=None):
        return torch.zeros(*ids.shape, 1), state

    def logits(self, hidden):
        return torch.log(torch.tensor(PROBABILITIES)).expand(len(hidden), -1)


def test_heldout_perplexity_by_hand():
    x = np.array([[2, 3, 2], [3, 0, 0]])
    y = np.array([[3, 2, 1], [1, 0, 0]])  # padding targets would score p = 0.1
    w = np.array([[1, 1, 1], [1, 0, 0]], np.float32)
    all_ppl, known_ppl, n, n_known = peer.heldout_perplexity(FixedLogits(), (x, y, w))
    assert (n, n_known) == (4, 2)
    assert math.isclose(all_ppl, (0.4 * 0.3 * 0.2 * 0.2) ** (-1 / 4), rel_tol=1e-6)
    assert math.isclose(known_ppl, (0.4 * 0.3) ** (-1 / 2), rel_tol=1e-6)


def test_heldout_rows_one_per_line_from_its_start():
    vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "b", "c"])
    lines = tf.data.Dataset.from_tensor_slices(["c a x b", "c", "a b c"])
    x, y, w = peer.heldout_rows(vectorizer, lines)
    # A one-word line predicts nothing; rows are post-padded, the shortest first.
    assert x.tolist() == [[2, 3, 0], [4, 2, 1]]
    assert y.tolist() == [[3, 4, 0], [2, 1, 3]]
    assert w.tolist() == [[1, 1, 0], [1, 1, 1]]


def test_lines_scored_alone_or_batched_with_padding_agree():
    torch.manual_seed(0)
    model = peer.PeerLSTM(6, embedding_dim=4, lstm_units=5, tied=True)
    short = (np.array([[2, 3, 0, 0]]), np.array([[3, 4, 0, 0]]), np.array([[1.0, 1, 0, 0]]))
    long = (np.array([[5, 2, 3, 4]]), np.array([[2, 3, 4, 1]]), np.array([[1.0, 1, 1, 1]]))
    both = tuple(np.concatenate(pair) for pair in zip(short, long))
    alone = [peer.heldout_perplexity(model, rows) for rows in (short, long)]
    nll = sum(n * math.log(perplexity) for perplexity, _, n, _ in alone)
    together, _, n, _ = peer.heldout_perplexity(model, both)
    assert n == 6
    assert math.isclose(n * math.log(together), nll, rel_tol=1e-6)


def test_batchify_columns_are_contiguous_streams():
    batches = peer.batchify(torch.arange(10), 3)
    assert batches.tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_peer_trains_an_epoch_on_a_small_corpus(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("\n".join(data.read_lines(datasets.load_final_problem())[:150]))
    result = peer.run_peer(str(path), epochs=1, seed=0)
    (point,) = result["curve"]
    assert point["epoch"] == 1 and "partial" not in point
    assert 1 < point["val_perplexity"] < math.inf
    assert result["best"] is point
    assert result["training_words"] > 1000


def test_peer_stops_on_from_texts_dev_lines(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("\n".join(data.read_lines(datasets.load_final_problem())[:200]))
    train, dev, heldout = peer.split(str(path))
    counts = [len(list(lines)) for lines in (train, dev, heldout)]
    result = peer.run_peer(str(path), epochs=1, seed=0)
    assert sum(counts) == data.stream_lines(str(path))[1] and counts[1] > 0
    assert result["settings"]["chosen_on"] == "dev lines"
    assert 1 < result["best"]["dev_perplexity"] < math.inf


def test_ours_is_scored_as_evaluate_scores_it():
    """score_ours reads the model's logits (it once read them as probabilities)."""
    from keras_nextword import NextWordLSTM

    lines = ["it is with a heavy heart", "that i take up my pen", "a heavy pen"]
    vectorizer = NGramVectorizer()
    vectorizer.adapt(lines)
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    rows = peer.heldout_rows(vectorizer, tf.data.Dataset.from_tensor_slices(lines))
    ours, _ = peer.score_ours(model, rows)
    expected = model.evaluate(lines, verbose=0, return_dict=True)["perplexity"]
    assert math.isclose(ours, expected, rel_tol=1e-4)
