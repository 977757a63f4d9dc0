"""Count-based baselines for the LSTM: add-one unigram and interpolated Kneser-Ney.

    python benchmarks/baselines.py [--corpus PATH ...] [--validation-split 0.1] [--max-tokens N]
        [--out benchmarks/results]

Split, words and predictions are `from_text`'s (see benchmarks/heldout.py): the last 10% of
the non-blank lines are held out; the vocabulary is every word of the training lines plus
`[UNK]`, which stands for every other word; each line of n words gives n - 1 predictions, the
context being the previous words of that line. The models are fit on the training lines'
predictions, the pairs the LSTM trains on, so the first word of a line is never a target.
Perplexity is over all held-out predictions, and over those with a known target (still
under the distribution over vocabulary + `[UNK]`). Writes `baselines_<corpus stem>.json`.
"""

import argparse
import json
import math
import platform
import time
from collections import Counter
from pathlib import Path

import keras_nextword
from keras_nextword.text.data import read_lines, split_lines
from keras_nextword.text.ngram_vectorizer import python_split_words

UNK = "[UNK]"
BOS = "<s>"


def make_vocabulary(sentences, max_tokens=None):
    """`[UNK]` then the words, most frequent first, as `NGramVectorizer.get_vocabulary()[1:]`.

    Ties are broken as TextVectorization breaks them: the greater word (in code point order)
    comes first.

    Args:
        sentences: lists of words.
        max_tokens: None to keep every word, or the LSTM's cap (padding and `[UNK]`
            included): the `max_tokens - 2` most frequent words are kept.

    Returns:
        A list of str, `[UNK]` first.
    """
    counts = Counter(word for sentence in sentences for word in sentence)
    words = sorted(counts, key=lambda word: (counts[word], word), reverse=True)
    return [UNK] + words[: None if max_tokens is None else max_tokens - 2]


def predictions(sentences, vocabulary):
    """The `(context, target)` pairs of lines: each word after the first, after its line's
    previous words; words outside `vocabulary` become `[UNK]`.

    Args:
        sentences: lists of words.
        vocabulary: list of str.

    Returns:
        A list of `(tuple of str, str)`.
    """
    known = set(vocabulary)
    pairs = []
    for sentence in sentences:
        words = tuple(word if word in known else UNK for word in sentence)
        pairs.extend((words[:i], words[i]) for i in range(1, len(words)))
    return pairs


def heldout_predictions(train_lines, heldout_lines, max_tokens=None):
    """Vocabulary and predictions of a split, with the package's words.

    Args:
        train_lines: list of str, the lines the vocabulary and models are fit on.
        heldout_lines: list of str, the lines perplexity is measured on.
        max_tokens: None, or a vocabulary cap as `from_text`'s (see `make_vocabulary`).

    Returns:
        `(vocabulary, train_pairs, heldout_pairs)`, see `make_vocabulary` and `predictions`.
    """
    train = [python_split_words(line) for line in train_lines]
    heldout = [python_split_words(line) for line in heldout_lines]
    vocabulary = make_vocabulary(train, max_tokens)
    return vocabulary, predictions(train, vocabulary), predictions(heldout, vocabulary)


class _Model:
    """A distribution over `vocabulary` (which holds `[UNK]`) given the previous words."""

    def __init__(self, vocabulary):
        self.vocabulary = list(vocabulary)
        self.known = set(self.vocabulary)

    def _word(self, word):
        return word if word in self.known else UNK

    def distribution(self, context=()):
        """Returns `{word: prob(word, context)}` over the vocabulary, `[UNK]` included."""
        return {word: self.prob(word, context) for word in self.vocabulary}


class UnigramModel(_Model):
    """Add-one unigram: `P(w) = (c(w) + 1) / (N + |V|)`, V = vocabulary + `[UNK]`.

    Args:
        vocabulary: list of str, `[UNK]` included.
    """

    def fit(self, pairs):
        """Counts the targets of `(context, target)` pairs; returns self."""
        self.counts = Counter(self._word(target) for _, target in pairs)
        self.total = sum(self.counts.values()) + len(self.vocabulary)
        return self

    def prob(self, word, context=()):
        """P(word); words outside the vocabulary are `[UNK]`, the context is ignored."""
        return (self.counts[self._word(word)] + 1) / self.total


class KneserNey(_Model):
    """Interpolated Kneser-Ney n-gram model over vocabulary + `[UNK]`.

    For k = order down to 1, with h the last k - 1 words of the context (left-padded with
    `<s>`, so that early words have a shorter real context):

        P_k(w | h) = (max(c_k(h w) - D_k, 0) + D_k N_k(h .) P_(k-1)(w | h[1:])) / c_k(h .)

    c_order are raw counts and c_k, k < order, continuation counts (the number of distinct
    words, `<s>` included, seen before `h w`); c_k(h .) sums c_k(h w) over w and N_k(h .)
    counts the w with c_k(h w) > 0. P_0 is uniform over vocabulary + `[UNK]`, and a context
    with c_k(h .) = 0 leaves P_(k-1) as it is. Ney's discount D_k = n1 / (n1 + 2 n2), n1 and
    n2 the numbers of k-grams with c_k = 1 and 2 (0 when n1 = 0).

    Args:
        vocabulary: list of str, `[UNK]` included.
        order: n of the largest n-grams.
    """

    def __init__(self, vocabulary, order=4):
        super().__init__(vocabulary)
        self.order = order

    def _context(self, context):
        context = (BOS,) * (self.order - 1) + tuple(self._word(word) for word in context)
        return context[len(context) - self.order + 1 :]

    def fit(self, pairs):
        """Counts the n-grams of `(context, target)` pairs; returns self."""
        grams = Counter(self._context(context) + (self._word(w),) for context, w in pairs)
        self.counts = {self.order: grams}
        for k in range(self.order - 1, 0, -1):  # each distinct (k+1)-gram: one left word
            self.counts[k] = Counter(gram[1:] for gram in self.counts[k + 1])
        self.discounts, self.totals, self.types = {}, {}, {}
        for k, counts in self.counts.items():
            n1 = sum(c == 1 for c in counts.values())
            n2 = sum(c == 2 for c in counts.values())
            self.discounts[k] = n1 / (n1 + 2 * n2) if n1 else 0.0
            self.totals[k], self.types[k] = Counter(), Counter()
            for gram, c in counts.items():
                self.totals[k][gram[:-1]] += c
                self.types[k][gram[:-1]] += 1
        return self

    def prob(self, word, context=()):
        """P(word | context), context the previous words of the line (any length)."""
        word, context = self._word(word), self._context(context)
        p = 1 / len(self.vocabulary)
        for k in range(1, self.order + 1):
            h = context[self.order - k :]
            total = self.totals[k].get(h)
            if total:
                d, count = self.discounts[k], self.counts[k].get(h + (word,), 0)
                p = (max(count - d, 0) + d * self.types[k][h] * p) / total
        return p


def perplexity(model, pairs):
    """exp of the mean negative log-probability of the targets of `(context, target)` pairs."""
    return math.exp(-sum(math.log(model.prob(w, context)) for context, w in pairs) / len(pairs))


def path_predictions(path, validation_split=0.1, max_tokens=None):
    """`heldout_predictions` of a file split as `evaluate` splits it: `(vocabulary,
    train_pairs, heldout_pairs)`."""
    return heldout_predictions(*split_lines(read_lines(path), validation_split), max_tokens)


def evaluate(path, validation_split=0.1, max_tokens=None, order=4):
    """Fits both baselines on a corpus's training lines and measures held-out perplexity.

    Args:
        path: path of a UTF-8 text file.
        validation_split: share of the non-blank lines held out (the last ones).
        max_tokens: None, or a vocabulary cap as `from_text`'s.
        order: n of the Kneser-Ney model.

    Returns:
        A dict of counts and, per model, perplexities and seconds (JSON-ready).
    """
    start = time.perf_counter()
    train_lines, heldout_lines = split_lines(read_lines(path), validation_split)
    vocabulary, train, heldout = heldout_predictions(train_lines, heldout_lines, max_tokens)
    known = [(context, w) for context, w in heldout if w != UNK]
    results = {
        "corpus": Path(path).name,
        "validation_split": validation_split,
        "max_tokens": max_tokens,
        "train_lines": len(train_lines),
        "heldout_lines": len(heldout_lines),
        "vocabulary": len(vocabulary) - 1,  # words, [UNK] apart
        "train_predictions": len(train),
        "predictions": len(heldout),
        "known_predictions": len(known),
        "unk_predictions": len(heldout) - len(known),
        "models": {},
    }
    for name, model in [
        ("unigram add-one", UnigramModel(vocabulary)),
        (f"Kneser-Ney {order}-gram", KneserNey(vocabulary, order)),
    ]:
        tic = time.perf_counter()
        model.fit(train)
        results["models"][name] = {
            "perplexity_all": perplexity(model, heldout),
            "perplexity_known": perplexity(model, known),
            "seconds": time.perf_counter() - tic,
        }
        if isinstance(model, KneserNey):
            results["models"][name]["discounts"] = model.discounts
    results["seconds"] = time.perf_counter() - start
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", help="default: the bundled The Final Problem")
    parser.add_argument("--validation-split", type=float, default=0.1)
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.corpus or [keras_nextword.text.datasets.load_final_problem()]:
        results = evaluate(path, args.validation_split, args.max_tokens)
        results["versions"] = {
            "python": platform.python_version(),
            "keras_nextword": keras_nextword.__version__,
        }
        print(
            f"{results['corpus']}: vocabulary {results['vocabulary']:,} + [UNK], "
            f"{results['predictions']:,} predictions ({results['known_predictions']:,} known, "
            f"{results['unk_predictions']:,} [UNK])"
        )
        print(f"  {'model':20s} {'all':>9s} {'known':>9s} {'seconds':>8s}")
        for name, r in results["models"].items():
            print(
                f"  {name:20s} {r['perplexity_all']:9.1f} {r['perplexity_known']:9.1f} "
                f"{r['seconds']:8.1f}"
            )
        suffix = "" if args.max_tokens is None else f"_max{args.max_tokens}"
        file = out / f"baselines_{Path(path).stem}{suffix}.json"
        file.write_text(json.dumps(results, indent=2) + "\n")
        print(f"  wrote {file}")


if __name__ == "__main__":
    main()
