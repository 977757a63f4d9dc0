"""The first pass over a corpus at disk speed: checking, counting lines, words and line lengths.

Files are read in blocks of whole lines with Python's bytes and str methods (C loops), never
line by line, and give the same lines as `data.line_dataset` (split on LF, every CR
dropped, blank lines skipped) and the same words as `tokenizer.split_words`. Every training
line is counted: the vocabulary, its counts and the line lengths are exact, not sampled.
Files over `PROGRESS_BYTES` print a progress line every few seconds.
"""

import collections
import itertools
import os
import time

from keras_nextword.text import data
from keras_nextword.text.tokenizer import FILTERS, TYPOGRAPHIC_TABLE

BLOCK_BYTES = 1 << 21  # 2 MB: 8 MB blocks added 290 MiB to the peak on the canon x10, these 96
PROGRESS_BYTES = 50_000_000  # from this size on, a progress line (when verbose)
PROGRESS_SECONDS = 5.0
# The filter characters become spaces; "\n" stays a line end until the lines are counted.
_KEPT_NEWLINE = bytes.maketrans(FILTERS.replace("\n", "").encode(), b" " * (len(FILTERS) - 1))
# Whitespace `bytes.split()` splits on that `split_words` keeps inside words.
_OTHER_SPACES = (b"\x0b", b"\x0c")


class Progress:
    """Prints `MB read, MB/s, time left` every `PROGRESS_SECONDS` through `say`,
    for `total` bytes of `PROGRESS_BYTES` or more.

    Example:
    >>> progress = Progress("counting", 100_000_000, print)
    >>> progress.read(10_000_000, now=progress.start + 10)
    counting: 10 of 100 MB read, 1.0 MB/s, 90 s left
    """

    def __init__(self, label, total, say):
        self.label, self.total, self.done = label, total, 0
        self.say = say if say is not None and total >= PROGRESS_BYTES else None
        self.start = self.last = time.monotonic()

    def read(self, size, now=None):
        self.done += size
        now = time.monotonic() if now is None else now
        if self.say is None or now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        self.say(
            f"{self.label}: {self.done / 1e6:,.0f} of {self.total / 1e6:,.0f} MB read, "
            f"{rate / 1e6:,.1f} MB/s, {(self.total - self.done) / rate:,.0f} s left"
        )


def _blocks(path, progress):
    """The file's bytes in blocks that end at a line end (the last one where the file ends)."""
    rest = b""
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            progress.read(len(block))
            cut = block.rfind(b"\n") + 1
            if cut:
                yield rest + block[:cut]
                rest = block[cut:]
            else:
                rest += block
    if rest:
        yield rest


def _lines(block):
    """The non-blank lines of a block as `data.line_dataset` reads them (bytes): split on
    LF, every CR dropped (`tf.data.TextLineDataset` drops them), blank lines skipped."""
    return [line for line in block.replace(b"\r", b"").split(b"\n") if line.strip()]


def _total(paths):
    return sum(os.path.getsize(path) for path in paths)


def count_lines(paths, errors="strict", say=None):
    """Checks text files as `data.check_text_file` does and counts their non-blank lines.

    A file that fails the fast check (a NUL byte, bytes that are not UTF-8, no
    text) is read again by `data.check_text_file`, which raises its error (or,
    with `errors="replace"`, warns with the count of replaced bytes).

    Args:
        paths: list of paths of text files.
        errors: `"strict"` or `"replace"`, as in `data.read_lines`.
        say: a `print`-like function for the progress line, or None.

    Returns:
        int, the non-blank lines in all, as `data.stream_lines` counts them.

    Example:
    >>> from keras_nextword import datasets
    >>> count_lines([datasets.load_final_problem()])
    655
    """
    if errors not in data.ENCODING_ERRORS:
        raise ValueError(f"`errors` must be one of {data.ENCODING_ERRORS}. Received: {errors!r}")
    progress, count = Progress("Counting lines", _total(paths), say), 0
    for path in paths:
        path, text, clean = data._existing_file(path), False, True
        for number, block in enumerate(_blocks(path, progress)):
            if number == 0 and block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]
            try:
                text = text or not block.decode("utf-8").isspace()
            except UnicodeDecodeError:
                clean = False
            clean = clean and b"\0" not in block
            count += len(_lines(block))
        if not (clean and text):
            data.check_text_file(path, errors)  # raises, or warns of the replaced bytes
    return count


def count_words(paths, lines, errors="strict", say=None):
    """Counts the words of the first `lines` non-blank lines of text files, and
    the lines of each length, as `WordTokenizer.adapt` would on those lines;
    the lines after them are kept, as `data.line_dataset` reads them.

    Args:
        paths: list of paths of text files, checked (`count_lines`).
        lines: int, the non-blank lines to count (the training lines).
        errors: `"strict"` or `"replace"` (read undecodable bytes as U+FFFD).
        say: a `print`-like function for the progress line, or None.

    Returns:
        `(word_counts, line_lengths, rest)`: a `collections.Counter` of words,
        a dict `{words: lines}` sorted by length, and the non-blank lines
        after the first `lines` (a list of str: the lines set apart and held out).

    Example:
    >>> from keras_nextword import datasets
    >>> words, lengths, rest = count_words([datasets.load_final_problem()], 530)
    >>> sum(words.values()), words["holmes"], max(lengths), len(rest)
    (5860, 22, 17, 125)
    """
    words, lengths, rest = collections.Counter(), collections.Counter(), []
    progress = Progress("Counting words", _total(paths), say)
    for path in paths:
        for block in _blocks(path, progress):
            kept = _lines(block)
            rest += [line.decode("utf-8", errors) for line in kept[max(lines, 0) :]]
            kept = kept[: max(lines, 0)]
            lines -= len(kept)
            if not kept:
                continue
            text = b"\n".join(kept)
            if text.isascii():
                text = text.lower()
            else:  # Unicode lowercase and the typographic filters, then back to bytes
                text = text.decode("utf-8", errors).lower().translate(TYPOGRAPHIC_TABLE)
                text = text.encode("utf-8")
            text = text.translate(_KEPT_NEWLINE)
            exact = any(space in text for space in _OTHER_SPACES)
            rows = [_split(row, exact) for row in text.split(b"\n")]
            lengths.update(map(len, rows))
            words.update(itertools.chain.from_iterable(rows))
    decoded = collections.Counter({word.decode("utf-8"): n for word, n in words.items()})
    return decoded, dict(sorted(lengths.items())), rest


def _split(row, exact):
    """`split_words` on one standardized line: split on spaces only, dropping empty words."""
    if exact:
        return [word for word in row.split(b" ") if word]
    return row.split()
