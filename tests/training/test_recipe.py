"""Settings chosen from the corpus: each rule, user values kept, reasons given."""

import pytest

from keras_nextword.training import recipe
from keras_nextword.training.recipe import CorpusCounts, choose

pytestmark = pytest.mark.backend("jax")  # pure Python: the same on every backend

FINAL_PROBLEM = CorpusCounts(lines=530, words=5_860, vocabulary=1_544)
CANON = CorpusCounts(lines=49_313, words=599_000, vocabulary=19_162)


def test_a_short_book_keeps_the_measured_small_corpus_settings():
    settings, reasons = choose(FINAL_PROBLEM)
    assert settings == {
        "batch_size": 32,
        "num_sampled": None,
        "dropout": 0.5,
        "patience": 5,
        "ema_momentum": 0.995,
        "learning_rate": 0.02,
        "ema_warmup": 9,
    }
    assert reasons == [
        "5,860 training words: batch size 32",
        "5,860 training words: learning rate 0.02",
        "1,544-word vocabulary: full softmax",
        "5,860 training words: dropout 0.5",
        "530 training lines: stop after 5 epochs without a better perplexity on the lines set apart",
        "530 training lines: weights averaged over the last tenth of the steps, "
        "at most about 200 (momentum 0.995)",
    ]


def test_the_canon_gets_large_batches_and_a_sampled_softmax():
    settings, reasons = choose(CANON)
    assert settings == {
        "batch_size": 64,
        "num_sampled": 1024,
        "dropout": 0.3,
        "patience": 2,
        "ema_momentum": 0.9995,
        "learning_rate": 0.003,
        "ema_warmup": 1,
    }
    assert (
        "19,162-word vocabulary: sampled softmax over 1,024 words, the 512 most frequent"
        in reasons[2]
    )
    assert reasons[-1] == (
        "49,313 training lines: weights averaged over all the steps so far, "
        "at most about 2,000 (momentum 0.9995)"
    )


def test_a_middle_sized_corpus():
    settings, _ = choose(CorpusCounts(lines=5_000, words=120_000, vocabulary=6_000))
    assert settings == {
        "batch_size": 32,
        "num_sampled": None,
        "dropout": 0.3,
        "patience": 5,
        "ema_momentum": 0.995,
        "learning_rate": 0.003,
        "ema_warmup": 9,
    }


def test_user_values_are_kept_and_not_explained():
    settings, reasons = choose(
        CANON,
        batch_size=16,
        num_sampled=0,
        dropout=0.1,
        patience=7,
        ema_momentum=0.99,
        learning_rate=0.01,
        ema_warmup=3,
    )
    assert settings == {
        "batch_size": 16,
        "num_sampled": None,
        "dropout": 0.1,
        "patience": 7,
        "ema_momentum": 0.99,
        "learning_rate": 0.01,
        "ema_warmup": 3,
    }
    assert reasons == []


def test_averaging_can_be_turned_off():
    settings, reasons = choose(CANON, ema_momentum=0)
    assert settings["ema_momentum"] is None and not any("averaged" in r for r in reasons)


@pytest.mark.parametrize(
    "count, split, held_out", [(655, 0.1, 66), (60_348, 0.1, 6_035), (603_480, 0.1, 10_000)]
)
def test_held_out_lines_are_bounded(count, split, held_out):
    assert recipe.held_out_lines(count, split) == held_out


def test_lines_set_apart_to_stop_on_are_bounded():
    assert recipe.dev_lines(1_000) == 100 and recipe.dev_lines(500_000) == recipe.DEV_LINES
    assert recipe.dev_lines(4) == 0  # too few: every epoch trains


def zipf_lines(types=400, lines=300, seed=0):
    """Lines of words drawn with probability proportional to 1 / rank."""
    import numpy as np

    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, types + 1)
    ranks = rng.choice(types, size=(lines, 8), p=p / p.sum())
    return [" ".join(f"w{r}" for r in row) for row in ranks]


def test_a_large_vocabulary_is_capped_and_the_cap_printed(tmp_path, monkeypatch, capsys):
    from keras_nextword import NextWordLSTM

    path = tmp_path / "zipf.txt"
    path.write_text("\n".join(zipf_lines()), encoding="utf-8")
    monkeypatch.setattr(recipe, "MAX_VOCABULARY", 50)
    model = NextWordLSTM.from_text(path, epochs=0, embedding_dim=4, lstm_units=4)
    kept = model.preprocessor.word_counts[2:]
    assert model.backbone.vocabulary_size == 50 and len(kept) == 48
    words = recipe.split(path, set_apart=False).word_counts  # epochs=0: none set apart
    share = sum(kept) / sum(words.values())
    assert min(kept) >= max(
        n for w, n in words.items() if w not in model.preprocessor.get_vocabulary()
    )
    expected = (
        f"{len(words):,} word types: the 48 most frequent, each seen {min(kept)} times or more, "
        f"{share:.1%} of the words; the rest are [UNK]"
    )
    assert expected in capsys.readouterr().out.splitlines()
    model = NextWordLSTM.from_text(path, epochs=0, max_tokens=60, embedding_dim=4, lstm_units=4)
    assert model.backbone.vocabulary_size == 60 and "word types" not in capsys.readouterr().out


def test_a_text_without_line_breaks_still_holds_lines_out_and_sets_lines_apart(tmp_path):
    # Before: one line, so 0 held out and 0 set apart, and from_text trained every epoch blind.
    from keras_nextword import datasets
    from keras_nextword.text import data
    from keras_nextword.text.tokenizer import python_split_words

    book = open(datasets.load_final_problem(), encoding="utf-8").read()
    path = tmp_path / "one_line.txt"
    path.write_text(" ".join(book.split()) + "\n", encoding="utf-8")
    said = []
    parts = recipe.split(path, say=said.append)
    assert parts.lines == 113 and (parts.held_out_lines, parts.dev_lines) == (11, 10)
    assert parts.train_lines == 113 - 11 - 10
    assert said[0].startswith("1 line, up to 7,325 words long: read as 113 lines of at most 65")
    pieces = [data.listed(p) for p in (parts.train, parts.dev, parts.held_out)]
    assert [len(p) for p in pieces] == [92, 10, 11]
    assert max(len(python_split_words(line)) for p in pieces for line in p) <= 65
    # Nothing lost, nothing repeated: the pieces are the book's words in order.
    assert " ".join(line for p in pieces for line in p).split() == python_split_words(book)
    counted = [w for line in pieces[0] for w in line.split()]
    assert (
        sum(parts.word_counts.values())
        == len(counted)
        == sum(n * k for n, k in parts.line_lengths.items())
    )


def test_few_short_lines_are_split_as_they_stream(tmp_path):
    lines = [f"line {i} of a short file" for i in range(recipe.MIN_LINES - 1)]
    path = tmp_path / "short.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    parts = recipe.split(path)
    assert (parts.lines, parts.held_out_lines, parts.dev_lines) == (99, 10, 9)
    from keras_nextword.text import data

    assert data.listed(parts.held_out) == lines[-10:] and data.listed(parts.dev) == lines[80:89]


def test_a_file_that_is_not_utf8_is_refused_naming_the_argument_that_reads_it(tmp_path):
    # Before: the message said errors="replace", which from_text does not take.
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"one line of text\ncaf\xe9 au lait\n")
    with pytest.raises(ValueError, match='read it with encoding_errors="replace"'):
        recipe.split(path)
    with pytest.warns(UnicodeWarning, match="1 undecodable"):
        parts = recipe.split(path, encoding_errors="replace")
    assert parts.lines == 2
