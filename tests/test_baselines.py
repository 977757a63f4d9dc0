"""benchmarks/baselines.py: the count-based baselines the LSTM is compared against."""

import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import baselines  # noqa: E402
from baselines import UNK, KneserNey, UnigramModel, make_vocabulary, predictions  # noqa: E402

pytestmark = pytest.mark.backend("jax")  # count models in NumPy: the same on every backend

LINES = ["a b", "a b", "c b", "b c"]
SENTENCES = [line.split() for line in LINES]
CORPUS = [
    "it is with a heavy heart that i take up my pen",
    "it is a heavy heart",
    "my pen is heavy and my heart is with holmes",
    "holmes is with a friend",
]


def fit(model_class, lines, **kwargs):
    sentences = [line.split() for line in lines]
    vocabulary = make_vocabulary(sentences)
    return model_class(vocabulary, **kwargs).fit(predictions(sentences, vocabulary))


def test_vocabulary_and_predictions():
    vocabulary = make_vocabulary(SENTENCES)
    assert vocabulary == [UNK, "b", "c", "a"]  # by count, ties: the greater word first
    assert make_vocabulary(SENTENCES, max_tokens=4) == [UNK, "b", "c"]
    pairs = predictions([["a", "b", "z"]], make_vocabulary(SENTENCES))
    assert pairs == [(("a",), "b"), (("a", "b"), UNK)]


def test_vocabulary_is_the_vectorizers(final_problem_path):
    from keras_nextword.text.data import read_lines, split_lines
    from keras_nextword.text.ngram_vectorizer import NGramVectorizer

    train, heldout = split_lines(read_lines(final_problem_path), 0.1)
    vectorizer = NGramVectorizer(max_tokens=300)
    vectorizer.adapt(train)
    vocabulary, _, _ = baselines.heldout_predictions(train, heldout, max_tokens=300)
    assert vocabulary == vectorizer.get_vocabulary()[1:]


@pytest.mark.parametrize(
    "model",
    [
        fit(UnigramModel, CORPUS),
        fit(KneserNey, CORPUS, order=4),
        fit(KneserNey, CORPUS, order=2),
        fit(KneserNey, CORPUS[:3], order=4),  # "friend" and "holmes ... friend" unseen
    ],
    ids=["unigram", "kn4", "kn2", "kn4-fewer-lines"],
)
@pytest.mark.parametrize(
    "context",
    [
        (),
        ("it",),
        ("it", "is", "with"),  # seen at every order
        ("my", "pen", "is", "heavy", "and"),  # longer than the order
        ("pen", "heavy"),  # an unseen pair, a seen last word
        ("zebra",),  # unknown word
        ("holmes", "zebra", "is"),
        (UNK, UNK, UNK),
    ],
)
def test_distribution_sums_to_one(model, context):
    distribution = model.distribution(context)
    assert set(distribution) == set(model.vocabulary)
    assert sum(distribution.values()) == pytest.approx(1, abs=1e-12)
    assert min(distribution.values()) > 0


def test_unigram_by_hand():
    model = fit(UnigramModel, LINES)  # targets b, b, b, c; V = {[UNK], a, b, c}
    assert [model.prob(w) for w in ("b", "c", "a", "zebra")] == pytest.approx(
        [4 / 8, 2 / 8, 1 / 8, 1 / 8]
    )
    vocabulary = make_vocabulary(SENTENCES, max_tokens=3)  # [UNK], b: "c" counts as [UNK]
    model = UnigramModel(vocabulary).fit(predictions(SENTENCES, vocabulary))
    assert [model.prob(w) for w in ("b", "c", UNK)] == pytest.approx([4 / 6, 2 / 6, 2 / 6])


def test_kneser_ney_by_hand():
    # Bigrams (a b) x2, (c b), (b c): n1 = 2, n2 = 1, D2 = 1/2. Continuation counts: b has two
    # left words (a, c), c one (b); n1 = n2 = 1, D1 = 1/3, c(.) = 3, N(.) = 2, uniform 1/4.
    # P1(b) = (2 - 1/3 + 1/3 * 2 * 1/4) / 3 = 11/18, P1(c) = 5/18, P1(a) = P1([UNK]) = 1/18.
    # P2(b | a) = (2 - 1/2 + 1/2 * 1 * 11/18) / 2 = 65/72.
    model = fit(KneserNey, LINES, order=2)
    assert model.discounts == pytest.approx({2: 1 / 2, 1: 1 / 3})
    assert model.prob("b", ["a"]) == pytest.approx(65 / 72)
    assert model.prob("c", ["a"]) == pytest.approx(5 / 72)
    assert model.prob("zebra", ["a"]) == pytest.approx(1 / 72)
    assert model.prob("b", ["zebra"]) == pytest.approx(11 / 18)  # unseen context: P1
    assert model.prob("b", []) == pytest.approx(11 / 18)
    # Order 3: trigrams (<s> a b) x2, (<s> c b), (<s> b c): D3 = 1/2. Each bigram has one
    # left word (<s>): n1 = 3, n2 = 0, D2 = 1, so P2(b | a) = P1(b) = 11/18, and
    # P3(b | <s> a) = (2 - 1/2 + 1/2 * 1 * 11/18) / 2 = 65/72.
    model = fit(KneserNey, LINES, order=3)
    assert model.discounts == pytest.approx({3: 1 / 2, 2: 1.0, 1: 1 / 3})
    assert model.prob("b", ["a"]) == pytest.approx(65 / 72)  # context <s> a
    assert model.prob("b", ["zebra", "a"]) == pytest.approx(11 / 18)  # [UNK] a: unseen


def test_final_problem_figures(final_problem_path):
    results = baselines.evaluate(final_problem_path)
    assert results["vocabulary"] == 1637
    assert (results["predictions"], results["known_predictions"]) == (685, 559)
    assert results["unk_predictions"] == 126
    unigram = results["models"]["unigram add-one"]
    kneser_ney = results["models"]["Kneser-Ney 4-gram"]
    assert unigram["perplexity_all"] == pytest.approx(491.205, abs=0.01)
    assert unigram["perplexity_known"] == pytest.approx(264.744, abs=0.01)
    assert kneser_ney["perplexity_all"] == pytest.approx(312.680, abs=0.01)
    assert kneser_ney["perplexity_known"] == pytest.approx(143.540, abs=0.01)


def test_main_writes_json(tmp_path, capsys):
    baselines.main(["--max-tokens", "500", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "baselines_the_final_problem_max500.json").read_text())
    assert results["vocabulary"] == 498 and results["predictions"] == 685
    assert set(results["models"]) == {"unigram add-one", "Kneser-Ney 4-gram"}
    assert "Kneser-Ney 4-gram" in capsys.readouterr().out
