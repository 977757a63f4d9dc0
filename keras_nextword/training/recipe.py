"""The training settings `from_text` derives from the corpus it was given.

The rules come from the two corpora at hand: The Final Problem (530 training
lines, 5,860 words, a 1,544-word vocabulary) and the Sherlock Holmes canon
(49,313 lines, 545,021 words, 18,262 words), as `from_text` counts them.
What each rule rests on is said beside it: `benchmarks/` results, earlier exploratory runs
(leads, not results), or nothing measured (the middle tier). A value the user passes is
kept; each chosen one comes with its reason.
"""

import collections
import dataclasses
import itertools
import os
import time

from keras_nextword.text import data, first_pass
from keras_nextword.text.tokenizer import MAX_SEQUENCE_LENGTH, python_split_words

# From this many training lines, a corpus's epochs are long and its validation
# curve smooth: it stops after fewer epochs without improvement.
LONG_CORPUS_LINES = 20_000
DEV_LINES = 5_000  # at most, the training lines set apart to stop on
MAX_HELD_OUT_LINES = 10_000  # at most, the lines held out and scored every epoch
# Fewer lines than this hold out fewer than 10 and set fewer than 9 apart: `split` cuts
# their long lines into pieces the length of the longest training row.
MIN_LINES = 100
SAMPLED_VOCABULARY = 8_192  # from this vocabulary size on, a sampled softmax
# The most words (padding and `[UNK]` included) a vocabulary keeps unless `max_tokens` says.
MAX_VOCABULARY = 50_000
NUM_SAMPLED = 1_024


@dataclasses.dataclass
class CorpusCounts:
    """What `from_text` counted in the lines it trains on.

    Args:
        lines: int, non-blank training lines.
        words: int, their words.
        vocabulary: int, the vocabulary size (padding and `[UNK]` included).
    """

    lines: int
    words: int
    vocabulary: int


def held_out_lines(count, validation_split):
    """The number of the last lines held out: `validation_split` of `count`,
    at most `MAX_HELD_OUT_LINES` (scoring them runs every epoch).

    Example:
    >>> held_out_lines(655, 0.1), held_out_lines(603_480, 0.1)
    (66, 10000)
    """
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    return min(int(round(count * validation_split)), MAX_HELD_OUT_LINES)


def dev_lines(train_lines):
    """The training lines set apart to stop on (never trained on): 10% of them,
    at most `DEV_LINES`.

    Example:
    >>> dev_lines(589), dev_lines(54_313)
    (59, 5000)
    """
    return min(int(round(train_lines * 0.1)), DEV_LINES)


@dataclasses.dataclass
class Split:
    """A corpus split as `from_text` splits it (see `split`).

    Args:
        train, dev, held_out: `tf.data.Dataset`s of lines; `dev` is None when
            no line is set apart.
        lines: int, the non-blank lines in all.
        train_lines, dev_lines, held_out_lines: int, the lines in each part.
        word_counts: a `collections.Counter` of the training lines' words.
        line_lengths: dict `{words: training lines}`.
    """

    train: object
    dev: object
    held_out: object
    lines: int
    train_lines: int
    dev_lines: int
    held_out_lines: int
    word_counts: object = None
    line_lengths: object = None

    def without_word_counts(self):
        """The same split, its word counts dropped: past the vocabulary nothing
        reads them, and a large corpus has millions of word types
        (`benchmarks/large.py`'s Zipf corpus: 1,459,320), none kept through training.

        Example:
        >>> Split(None, None, None, 1, 1, 0, 0, {"a": 2}).without_word_counts().word_counts is None
        True
        """
        return dataclasses.replace(self, word_counts=None)


def split(path, validation_split=0.1, set_apart=True, encoding_errors="strict", say=None):
    """`from_text`'s split of text files, in file order: the last
    `validation_split` of the non-blank lines held out (`held_out_lines`),
    and, with `set_apart`, the last 10% of the lines before them set apart to
    stop on (`dev_lines`); the rest trains. Benchmarks score on the same split.

    The files are read twice at disk speed (`keras_nextword.text.first_pass`): once
    to check them and count their lines, once to count every training line's
    words and length and keep the lines after them in memory; the training
    lines stream (`data.line_dataset`). Files of fewer than `MIN_LINES`
    lines are read whole, and a line longer than the longest training row
    (`MAX_SEQUENCE_LENGTH + 1` words) is cut into pieces (`data.cut_words`)
    that split as lines do: a text without line breaks still has lines to
    hold out and set apart.

    Args:
        path: a path, or a list of paths, of UTF-8 text files.
        validation_split: float in [0, 1).
        set_apart: bool, set training lines apart to stop on.
        encoding_errors: as `data.stream_lines`' `errors`.
        say: a `print`-like function for progress lines and the pass's speed, or None.

    Returns:
        A `Split`.

    Example:
    >>> from keras_nextword import datasets
    >>> parts = split(datasets.load_final_problem())
    >>> parts.train_lines, parts.dev_lines, parts.held_out_lines
    (530, 59, 66)
    >>> sum(parts.word_counts.values()), len(parts.word_counts)
    (5860, 1542)
    """
    start, paths = time.monotonic(), data.as_paths(path)
    count = first_pass.count_lines(paths, encoding_errors, say)
    if count < MIN_LINES and (pieces := _pieces(paths, count, encoding_errors, say)):
        return _split_pieces(pieces, validation_split, set_apart)
    held_out, dev_count, train_count = _line_counts(count, validation_split, set_apart)
    train = data.line_dataset(paths, encoding_errors).take(train_count)
    # The lines after the training lines (at most 15,000 for a large corpus) come from the
    # pass, in memory: streaming skips to them one line at a time (minutes for 100 MB).
    words, lengths, rest = first_pass.count_words(paths, train_count, encoding_errors, say)
    held_out_part = data.in_memory(rest[dev_count:])
    dev = data.in_memory(rest[:dev_count]) if dev_count else None
    if say is not None:
        size, seconds = sum(map(os.path.getsize, paths)) / 1e6, time.monotonic() - start
        say(
            f"First pass: {size:,.{1 if size >= 1 else 2}f} MB in {seconds:.1f} s "
            f"({size / seconds:,.1f} MB/s), "
            "read twice: lines checked and counted, then every training line's words "
            "(no sample)"
        )
    return Split(train, dev, held_out_part, count, train_count, dev_count, held_out, words, lengths)


def _line_counts(count, validation_split, set_apart):
    """`(held out, set apart, training)` lines of `count`, the last ones held out."""
    held_out = held_out_lines(count, validation_split)
    dev_count = dev_lines(count - held_out) if set_apart else 0
    return held_out, dev_count, count - held_out - dev_count


def _pieces(paths, count, errors, say):
    """The words of the files' `count` lines, a line of more than
    `MAX_SEQUENCE_LENGTH + 1` words cut into pieces (`data.cut_words`), the cut
    said; None when no line is that long."""
    _, _, lines = first_pass.count_words(paths, 0, errors)  # no training line: all are `rest`
    words = [python_split_words(line) for line in lines]
    longest, most = max(map(len, words)), MAX_SEQUENCE_LENGTH + 1
    if longest <= most:
        return None
    pieces = data.cut_words(words, most)
    if say is not None:
        say(
            f"{count:,} line{'s' * (count != 1)}, up to {longest:,} words long: read as "
            f"{len(pieces):,} lines of at most {most} words, so that some are held out and "
            "set apart"
        )
    return pieces


def _split_pieces(pieces, validation_split, set_apart):
    """`split` of lines as lists of words, in memory, counted as the first pass counts."""
    held_out, dev_count, train_count = _line_counts(len(pieces), validation_split, set_apart)
    train = pieces[:train_count]
    words = collections.Counter(itertools.chain.from_iterable(train))
    lengths = dict(sorted(collections.Counter(map(len, train)).items()))
    text = [" ".join(piece) for piece in pieces]
    dev = data.in_memory(text[train_count : train_count + dev_count]) if dev_count else None
    return Split(
        data.in_memory(text[:train_count]),
        dev,
        data.in_memory(text[train_count + dev_count :]),
        len(pieces),
        train_count,
        dev_count,
        held_out,
        words,
        lengths,
    )


def cap_vocabulary(word_counts, max_tokens=None):
    """The vocabulary size `from_text` keeps: `max_tokens` when given, else
    every word up to `MAX_VOCABULARY` (padding and `[UNK]` included), the most
    frequent first. The cap bounds the output layer (its weights, gradients
    and exact held-out scoring grow with it: a 1.1-million-word softmax took
    14 GiB); it leaves The Final Problem (1,544) and the canon (18,262, or
    20,125 repeated 10 times) whole.

    Args:
        word_counts: a mapping of word to occurrences in the training lines.
        max_tokens: int or None, the user's cap.

    Returns:
        `(max_tokens, reason)`: the cap to build the vocabulary with (None
        keeps every word), and a line saying what it keeps, or None when
        nothing is cut or the user chose.

    Example:
    >>> counts = {f"w{i}": 100_000 // i for i in range(1, 60_001)}
    >>> cap, reason = cap_vocabulary(counts)
    >>> cap
    50000
    >>> reason
    '60,000 word types: the 49,998 most frequent, each seen 2 times or more, 99.1% of the words; the rest are [UNK]'
    >>> cap_vocabulary(counts, max_tokens=1_000)
    (1000, None)
    """
    if max_tokens is not None or len(word_counts) + 2 <= MAX_VOCABULARY:
        return max_tokens, None
    counts = sorted(word_counts.values(), reverse=True)
    kept = counts[: MAX_VOCABULARY - 2]
    share = sum(kept) / sum(counts)
    return MAX_VOCABULARY, (
        f"{len(counts):,} word types: the {len(kept):,} most frequent, each seen "
        f"{kept[-1]:,} times or more, {share:.1%} of the words; the rest are [UNK]"
    )


def choose(
    counts,
    batch_size=None,
    num_sampled=None,
    dropout=None,
    patience=None,
    ema_momentum=None,
    learning_rate=None,
    ema_warmup=None,
):
    """Fills in each setting the user left as None from the corpus counts.

    - `batch_size` and `learning_rate` (Adam's): 32 at 0.02 under 50,000
      words (The Final Problem, `benchmarks/peer.py`: the PyTorch peer's
      best reached at 6.8-8.6 s and held-out 77.2 at the end, where batch 8
      at 0.003 took 10.3-10.9 s and read 80.2; 16 at 0.01 and 64 at 0.02 or
      0.04 read worse in exploratory runs), 32 at 0.003 under 300,000, else
      64 at 0.003 (the canon, `benchmarks/canon.py`). Between them, 0.003
      read better than 0.02 on tiny Shakespeare, slices of it and of the
      canon (60,015 to 167,050 words) and WikiText-2 (329,273), 0.02 on a
      WikiText-2 sentence slice of 62,335: neither words nor steps an epoch
      told them apart (`benchmarks/suite.py --ours-only --set`,
      docs/benchmarks.md).
    - `num_sampled`: a sampled softmax over 1,024 words (the 512 most
      frequent, 512 drawn from the rest: `keras_nextword.layers.sampled_softmax`)
      from a vocabulary of 8,192 (training the canon's 19,000-word output
      layer in full was about 90% of an epoch in an earlier exploratory
      run); validation stays exact.
    - `dropout`: 0.5 under 100,000 words (measured on The Final Problem),
      else 0.3 (the canon: held-out 161.2 against 164.0 at 0.2 with the earlier
      uniform sampled softmax, `benchmarks/canon.py`; with today's average, 0.4
      read 152.1 after 16 epochs against 150.5 after 12,
      `canon_jax_x1_dropout_0.4.json`).
    - `patience`: epochs without a better perplexity on the lines set apart
      before stopping: 5 under 20,000 training lines, 2 from there (long
      epochs, a smooth curve).
    - `ema_momentum` and `ema_warmup`: the weights' moving average
      (`WarmAveragedAdam`), momentum `min(ema_momentum, t / (ema_warmup + t))`
      at step `t`. Under 20,000 training lines, over the last tenth of the
      steps so far (warm-up 9), at most 200 (0.995): The Final Problem's runs
      (about 350 steps) end before the momentum reaches 0.975, and Keras'
      average (no warm-up) read 1,225 after its first epoch where this one
      read 140 (`benchmarks/peer.py`). From 20,000 lines, the plain mean of
      the steps so far (warm-up 1) until it spans 2,000 steps (0.9995, about
      3 canon epochs): the canon then reads 150.5 where the last tenth read
      153.0 (`benchmarks/canon.py`); Keras' average read 151.1, and 0.995
      and 0.999 read 156.3 and 153.8 with it. Tried in exploratory runs and
      not adopted: 5,000 steps (0.9998) with warm-up 1, 2 or 4, and Adam's
      rate divided by 4 on a dev plateau (worse, as in an earlier run).

    Args:
        counts: a `CorpusCounts`.
        batch_size, num_sampled, dropout, patience, ema_momentum,
            learning_rate, ema_warmup: the user's values or None.
            `num_sampled=0` turns the sampled softmax off, `ema_momentum=0`
            the averaging.

    Returns:
        `(settings, reasons)`: a dict of the seven settings, and one line per
        setting that was chosen here, saying why.

    Example:
    >>> settings, reasons = choose(CorpusCounts(lines=54_313, words=599_000, vocabulary=19_162))
    >>> settings["batch_size"], settings["learning_rate"], settings["ema_momentum"]
    (64, 0.003, 0.9995)
    >>> reasons[2]
    '19,162-word vocabulary: sampled softmax over 1,024 words, the 512 most frequent and 512 drawn (validation stays exact)'
    """
    words = f"{counts.words:,} training words"
    reasons = []
    small = counts.words < 50_000
    long = counts.lines >= LONG_CORPUS_LINES
    if batch_size is None:
        batch_size = 32 if counts.words < 300_000 else 64
        reasons.append(f"{words}: batch size {batch_size}")
    if learning_rate is None:
        learning_rate = 0.02 if small else 0.003
        reasons.append(f"{words}: learning rate {learning_rate}")
    if num_sampled is None:
        num_sampled, reason = _softmax(counts.vocabulary)
        reasons.append(reason)
    if dropout is None:
        dropout = 0.5 if counts.words < 100_000 else 0.3
        reasons.append(f"{words}: dropout {dropout}")
    if patience is None:
        patience = 2 if long else 5
        reasons.append(
            f"{counts.lines:,} training lines: stop after {patience} epochs without a better "
            "perplexity on the lines set apart"
        )
    ema_momentum, ema_warmup, reason = _average(counts.lines, ema_momentum, ema_warmup)
    if reason:
        reasons.append(reason)
    settings = dict(
        batch_size=batch_size,
        num_sampled=num_sampled or None,
        dropout=dropout,
        patience=patience,
        ema_momentum=ema_momentum or None,
        learning_rate=learning_rate,
        ema_warmup=ema_warmup,
    )
    return settings, reasons


def _softmax(vocabulary):
    """`choose`'s `num_sampled` for a vocabulary size, and its reason."""
    if vocabulary < SAMPLED_VOCABULARY:
        return 0, f"{vocabulary:,}-word vocabulary: full softmax"
    return NUM_SAMPLED, (
        f"{vocabulary:,}-word vocabulary: sampled softmax over "
        f"{NUM_SAMPLED:,} words, the {NUM_SAMPLED // 2:,} most frequent and "
        f"{NUM_SAMPLED - NUM_SAMPLED // 2:,} drawn (validation stays exact)"
    )


def _average(lines, ema_momentum, ema_warmup):
    """`choose`'s weight average for `lines` training lines: `(ema_momentum,
    ema_warmup, reason)`, the reason None when the user gave both or none is kept."""
    long = lines >= LONG_CORPUS_LINES
    explain = ema_momentum is None or ema_warmup is None
    if ema_momentum is None:
        ema_momentum = 0.9995 if long else 0.995
    if ema_warmup is None:
        ema_warmup = 1 if long else 9
    if not (ema_momentum and explain):
        return ema_momentum, ema_warmup, None
    span = {1: "all the steps so far", 9: "the last tenth of the steps"}.get(
        ema_warmup, f"about the last 1/{ema_warmup + 1:g} of the steps"
    )
    return (
        ema_momentum,
        ema_warmup,
        (
            f"{lines:,} training lines: weights averaged over {span}, "
            f"at most about {round(1 / (1 - ema_momentum)):,} (momentum {ema_momentum})"
        ),
    )
