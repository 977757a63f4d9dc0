"""`suggest` and the keyboard metrics, pinned against hand computations from
the model's own probabilities (softmax of `model.predict` on post-padded ids)."""

import json

import keras
import numpy as np
import pytest

from conftest import LINES
from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.generation.suggest import (
    PrefixIndex,
    next_word_log_probabilities,
    split_text,
    suggest,
)
from keras_nextword.layers.metrics import (
    SuggestionAccuracy,
    evaluate_keyboard,
    keyboard_metrics,
    line_predictions,
)
from keras_nextword.text import datasets
from keras_nextword.text.data import read_lines, split_lines
from keras_nextword.text.ngram_vectorizer import python_split_words
from keras_nextword.text.pipeline import layout


def distribution(model, words):
    """The next-word distribution after `words`: softmax of `predict`'s logits at
    the last word of a post-padded row."""
    ids = np.array([[*(model.preprocessor.token_to_id(w) for w in words), 0, 0]], "int32")
    logits = np.asarray(model.predict(ids, verbose=0), "float64")[0, len(words) - 1]
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def hand_suggestions(model, text, k):
    """`suggest` by hand: the keyboard rule spelled out, a loop over the vocabulary."""
    words = python_split_words(text)
    prefix = "" if text.endswith(" ") else words.pop()
    if not words:
        return []
    p = distribution(model, words[-model.preprocessor.sequence_length :])
    vocabulary = model.preprocessor.get_vocabulary()
    candidates = [i for i, w in enumerate(vocabulary) if i > 1 and w.startswith(prefix)]
    candidates.sort(key=lambda i: -p[i])
    return [(vocabulary[i], p[i]) for i in candidates[:k]]


def biased_model():
    """An untrained model whose output bias orders the words far apart, padding
    and [UNK] first: an exact order to compare with."""
    keras.utils.set_random_seed(0)
    vectorizer = NGramVectorizer()
    vectorizer.adapt(LINES)
    size = vectorizer.vocabulary_size()
    model = NextWordLSTM.from_sizes(size, embedding_dim=8, lstm_units=8, preprocessor=vectorizer)
    bias = np.random.default_rng(0).permutation(size) * 0.5
    bias[:2] = bias.max() + 3.0  # padding and [UNK]: the likeliest, never suggested
    model.head.bias.assign(bias.astype("float32"))
    return model


TEXTS = [
    "it is with a ",
    "it is with a h",
    "It is with a HEA",
    "a heavy heart that i t",
    "was distinguished in ",
    "my friend mr sherlock holmes ",
    "xyzzy ",  # unknown: read as [UNK]
    "the singular gifts by which my friend mr sherlock holmes was distinguished in a he",
]


@pytest.fixture(scope="module")
def biased():
    return biased_model()


def assert_same(got, expected, exact_order=True):
    assert len(got) == len(expected)
    if exact_order:
        assert [w for w, _ in got] == [w for w, _ in expected]
    np.testing.assert_allclose([p for _, p in got], [p for _, p in expected], rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_suggestions_equal_hand_computation(biased, k):
    for text in TEXTS:
        assert_same(suggest(biased, text, k=k), hand_suggestions(biased, text, k))


def test_trained_model_suggestions_equal_hand_computation(small_model):
    """Near-uniform probabilities: ties may swap, so compare each suggested
    word's probability and that nothing left out beats the last one shown."""
    vocabulary = small_model.preprocessor.get_vocabulary()
    for text in TEXTS:
        got = suggest(small_model, text, k=5)
        words = python_split_words(text)
        prefix = "" if text.endswith(" ") else words.pop()
        p = distribution(small_model, words[-small_model.preprocessor.sequence_length :])
        assert len(got) == 5
        for word, probability in got:
            assert word.startswith(prefix) and word not in ("", "[UNK]")
            assert probability == pytest.approx(p[vocabulary.index(word)], rel=1e-5)
        shown = {w for w, _ in got}
        left_out = [
            p[i]
            for i, w in enumerate(vocabulary)
            if i > 1 and w.startswith(prefix) and w not in shown
        ]
        assert max(left_out, default=0) <= got[-1][1] * (1 + 1e-5)
        assert [q for _, q in got] == sorted((q for _, q in got), reverse=True)


def test_padding_and_unk_never_suggested(biased):
    everything = suggest(biased, "it is ", k=10_000)
    words = [w for w, _ in everything]
    assert len(words) == biased.backbone.vocabulary_size - 2
    assert "" not in words and "[UNK]" not in words
    # The probabilities are the model's, over the whole vocabulary: padding and
    # [UNK] keep their (large) share.
    p = distribution(biased, ["it", "is"])
    assert sum(q for _, q in everything) == pytest.approx(1 - p[0] - p[1], rel=1e-4)


def test_batch_equals_one_at_a_time(small_model):
    texts = TEXTS * 3 + ["holmes", ""]  # 26 texts: two batch buckets' worth of shapes
    batched = suggest(small_model, texts, k=4)
    assert len(batched) == len(texts)
    for text, got in zip(texts, batched):
        assert_same(got, suggest(small_model, text, k=4), exact_order=False)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It is with a hea", (["it", "is", "with", "a"], "hea")),
        ("It is with a hea ", (["it", "is", "with", "a", "hea"], "")),
        ("a heavy heart.", (["a", "heavy", "heart"], "")),  # dropped punctuation ends a word
        ("Holmes's fr", (["holmes's"], "fr")),
        ("holmes'", ([], "holmes'")),  # apostrophes stay inside words
        ("", ([], "")),
        ("  ", ([], "")),
    ],
)
def test_keyboard_rule_splits_the_word_being_typed(text, expected):
    assert split_text(text) == expected


def test_texts_without_context_or_candidates_get_fewer(biased):
    assert suggest(biased, "hea", k=5) == []  # no word before the one typed
    assert suggest(biased, "", k=5) == []
    assert suggest(biased, "it is zzz", k=5) == []  # no word starts with zzz
    vocabulary = biased.preprocessor.get_vocabulary()
    starting = [w for w in vocabulary[2:] if w.startswith("hea")]
    got = suggest(biased, "it is hea", k=5)
    assert 0 < len(starting) < 5 and sorted(w for w, _ in got) == sorted(starting)
    assert suggest(biased, ["hea", "it is "], k=2)[0] == []


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_raises(biased, k):
    with pytest.raises(ValueError, match="`k`"):
        suggest(biased, "it is ", k=k)


def test_log_probabilities_equal_predict(small_model):
    contexts = [["it", "is", "with"], ["holmes"], ["the", "professor", "was", "a"]]
    ids = [[small_model.preprocessor.token_to_id(w) for w in c] for c in contexts]
    scores = next_word_log_probabilities(small_model, ids)
    expected = np.log([distribution(small_model, c) for c in contexts])
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_keyboard_metrics_by_hand():
    vocabulary = ["", "[UNK]", "the", "then", "there", "he", "holmes"]
    #                     pad  unk   the   then  there  he    holmes
    scores = np.array(
        [
            [9.0, 9.0, 0.50, 0.10, 0.20, 0.15, 0.05],
            [9.0, 9.0, 0.50, 0.10, 0.20, 0.15, 0.05],
            [9.0, 9.0, 0.50, 0.10, 0.20, 0.15, 0.05],
            [9.0, 9.0, 0.50, 0.10, 0.20, 0.15, 0.05],
        ]
    )
    words = ["the", "there", "holmes", "moriarty"]
    # k=2, shown before typing: the, there. "the" saves 3, "there" 5. "holmes":
    # "" -> the, there; "h" -> he, holmes: saves 5 of 6. "moriarty": unknown, 0.
    results = keyboard_metrics(vocabulary, words, scores, k=2, top=(1, 2))
    assert results["characters"] == 3 + 5 + 6 + 8
    assert results["saved_characters"] == 3 + 5 + 5
    assert results["keystroke_savings"] == pytest.approx(13 / 22)
    assert results["top1_accuracy"] == 0.25 and results["top2_accuracy"] == 0.5
    # k=1: "there": "" the; "t" the; "th" the; "the" the; "ther" there: saves 1.
    # "holmes": "h" -> he (0.15 > 0.05); "ho" -> holmes: saves 4.
    results = keyboard_metrics(vocabulary, words, scores, k=1, top=())
    assert results["saved_characters"] == 3 + 1 + 4


def test_keyboard_metrics_break_ties_by_lower_id_as_suggest():
    vocabulary = ["", "[UNK]", "ab", "aa"]
    scores = np.array([[0.0, 0.0, 0.5, 0.5]])
    assert keyboard_metrics(vocabulary, ["ab"], scores, k=1, top=(1,))["top1_accuracy"] == 1
    assert keyboard_metrics(vocabulary, ["aa"], scores, k=1, top=(1,))["top1_accuracy"] == 0


def test_prefix_index_ranges():
    index = PrefixIndex(["", "[UNK]", "b", "ab", "abc", "a", "ba"])
    for prefix in ["", "a", "ab", "abc", "abcd", "b", "c"]:
        low, high = index.prefix_range(prefix)
        got = sorted(index.vocabulary[i] for i in index.ids[low:high])
        assert got == sorted(w for w in index.vocabulary[2:] if w.startswith(prefix))
    assert index.rank[0] == index.rank[1] == -1


@pytest.fixture(scope="module")
def heldout():
    _, lines = split_lines(read_lines(datasets.load_final_problem()), 0.1)
    return lines


def test_suggestion_accuracy_equals_keyboard_metrics(small_model, heldout):
    x, y, w = (np.asarray(t) for t in layout(small_model.preprocessor, heldout))
    outputs = small_model.predict(x, verbose=0)
    from_keyboard = evaluate_keyboard(small_model, heldout, top=(1, 3))
    for k in (1, 3):
        metric = SuggestionAccuracy(k)
        metric.update_state(y, outputs, w)
        assert metric.name == f"top{k}_accuracy"
        assert float(metric.result()) == pytest.approx(from_keyboard[f"top{k}_accuracy"], abs=2e-3)
    assert from_keyboard["predictions"] == int(np.asarray(w).sum())
    assert 0 < from_keyboard["keystroke_savings"] < 1


def test_evaluate_reports_suggestion_accuracy():
    vectorizer = NGramVectorizer()
    vectorizer.adapt(LINES)
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    model.compile(weighted_metrics=[SuggestionAccuracy(1), SuggestionAccuracy(3)])
    results = model.evaluate(LINES, verbose=0, return_dict=True)
    metrics = evaluate_keyboard(model, LINES)
    assert results["top1_accuracy"] == pytest.approx(metrics["top1_accuracy"], abs=1e-6)
    assert results["top3_accuracy"] == pytest.approx(metrics["top3_accuracy"], abs=1e-6)
    config = SuggestionAccuracy(3).get_config()
    assert SuggestionAccuracy.from_config(config).k == 3


def test_line_predictions_are_evaluates_pairs():
    contexts, words = line_predictions(LINES)
    assert len(words) == sum(len(python_split_words(line)) - 1 for line in LINES)
    assert contexts[0] == ["it"] and words[0] == "is"


@pytest.fixture(scope="module")
def saved_model_path(small_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.keras"
    small_model.save(path)
    return str(path)


def test_cli_suggest_json_equals_suggest(small_model, saved_model_path, capsys):
    from keras_nextword.cli import main as cli

    texts = ["It is with a heavy ", "It is with a he", "hea"]
    assert cli.main(["suggest", saved_model_path, *texts, "-k", "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [item["text"] for item in printed] == texts
    for item, expected in zip(printed, suggest(small_model, texts, k=3)):
        got = [(s["word"], s["probability"]) for s in item["suggestions"]]
        assert_same(got, expected, exact_order=False)


def test_cli_suggest_prints_one_line_per_text(saved_model_path, capsys):
    from keras_nextword.cli import main as cli

    assert cli.main(["suggest", saved_model_path, "It is with a he", "hea"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1] == "(no suggestion)"
    words = [part.split(" (")[0] for part in lines[0].split("  ")]
    assert len(words) == 5 and all(w.startswith("he") for w in words)


def test_cli_suggest_bad_k_exits_2(saved_model_path, capsys):
    from keras_nextword.cli import main as cli

    with pytest.raises(SystemExit) as exit:
        cli.main(["suggest", saved_model_path, "it is ", "-k", "0"])
    assert exit.value.code == 2 and "-k" in capsys.readouterr().err


def test_compiled_suggestions_let_the_model_go():
    import gc
    import weakref

    model = biased_model()
    suggest(model, "it is ", k=2)
    reference = weakref.ref(model)
    del model
    gc.collect()
    assert reference() is None


def test_benchmark_scores_kneser_ney_by_the_same_rule():
    """benchmarks/suggest.py: Kneser-Ney's top-1 is its likeliest word, [UNK] aside."""
    import importlib.util
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "suggest_benchmark", REPO / "benchmarks" / "suggest.py"
    )
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    import baselines

    heldout = ["a heavy heart that i", "my friend holmes was", "the zzz pen"]
    vectorizer = NGramVectorizer()
    vectorizer.adapt(LINES)
    vocabulary = vectorizer.get_vocabulary()
    results = benchmark.kneser_ney_metrics(LINES, heldout, vocabulary, k=3)
    model = baselines.KneserNey(vocabulary[1:]).fit(
        baselines.heldout_predictions(LINES, heldout)[1]
    )
    contexts, words = line_predictions(heldout)
    hits = [
        max(vocabulary[2:], key=lambda w: model.prob(w, c)) == w for c, w in zip(contexts, words)
    ]
    assert results["predictions"] == len(words) == 4 + 3 + 2
    assert results["top1_accuracy"] == pytest.approx(sum(hits) / len(words))


def test_an_unknown_target_is_missed_even_when_k_covers_every_word():
    # Four ids: padding, [UNK] and two words; three suggestions show both words.
    scores = np.array([[[0.1, 0.5, 0.3, 0.1], [0.1, 0.5, 0.3, 0.1]]])
    metric = SuggestionAccuracy(3)
    metric.update_state(np.array([[1, 3]]), scores)
    assert float(metric.result()) == 0.5  # [UNK] missed, word 3 (last but shown) found
