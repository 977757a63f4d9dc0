"""Reading text files, splitting held-out lines, and `tf.data` pipelines of n-grams."""

import codecs
import os
import warnings

import numpy as np

from keras_nextword.runtime.environment import tf
from keras_nextword.text.ngram_vectorizer import python_split_words

ENCODING_ERRORS = ("strict", "replace")


def text_files(path):
    """The text files a corpus path names: the file itself, or a directory's `.txt` files.

    Args:
        path: path of a text file, or of a directory whose `.txt` files (not
            its subdirectories') make the corpus.

    Returns:
        A list of str paths, sorted by name for a directory.

    Raises:
        FileNotFoundError: `path` does not exist, or is a directory without
            `.txt` files. The message names the path.

    Example:
    >>> from keras_nextword import datasets
    >>> text_files(os.path.dirname(datasets.load_final_problem()))  # doctest: +ELLIPSIS
    ['.../the_final_problem.txt']
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or directory")
    if not os.path.isdir(path):
        return [path]
    paths = sorted(
        entry.path for entry in os.scandir(path) if entry.name.endswith(".txt") and entry.is_file()
    )
    if not paths:
        raise FileNotFoundError(f"{path}: a directory without .txt files")
    return paths


def read_lines(path, errors="strict"):
    """Reads a UTF-8 text file as lines, with universal newlines (CR, LF or CRLF).

    The whole file is read at once (a 4 MB book takes milliseconds) and checked:
    see `decode_lines` for what is refused. A UTF-8 byte order mark is dropped.

    Args:
        path: path of a text file.
        errors: `"strict"` refuses bytes that are not UTF-8; `"replace"` reads
            them as U+FFFD and warns with their count (a `UnicodeWarning`).

    Returns:
        A list of str, one per line, line breaks removed.

    Raises:
        FileNotFoundError: no file at `path`.
        IsADirectoryError: `path` is a directory (see `text_files`).
        ValueError: the file is empty, whitespace only, binary or not UTF-8.
        Every message starts with the path.

    Example:
    >>> from keras_nextword import datasets
    >>> lines = read_lines(datasets.load_final_problem())
    >>> lines[4].strip()
    'THE FINAL PROBLEM'
    """
    path = _existing_file(path)
    with open(path, "rb") as f:
        raw = f.read()
    return decode_lines(raw, path, errors)


def decode_lines(raw, source, errors="strict"):
    r"""Decodes the bytes of a UTF-8 text as lines, refusing what is not text.

    Refused with a `ValueError` that starts with `source`: bytes with a NUL
    (a binary file, or UTF-16 text), bytes that are not UTF-8 (the message
    gives the byte offset and line of the first one) unless `errors="replace"`,
    and text that is empty or whitespace only.

    Args:
        raw: bytes, the whole text.
        source: str, where the bytes come from (a path, or `"<stdin>"`),
            named in errors and warnings.
        errors: `"strict"` or `"replace"`: read undecodable bytes as U+FFFD
            and warn with their count (a `UnicodeWarning`).

    Returns:
        A list of str, one per line: CR, LF and CRLF all end a line.

    Example:
    >>> decode_lines(b"It is with\r\na heavy heart", "letter.txt")
    ['It is with', 'a heavy heart']
    >>> decode_lines(b"caf\xe9", "menu.txt")
    Traceback (most recent call last):
    ...
    ValueError: menu.txt: not UTF-8: byte 0xe9 at offset 3 (line 1) cannot be decoded. Convert the file to UTF-8, or read it with encoding_errors="replace" (CLI: --encoding-errors replace) to read such bytes as U+FFFD.
    """
    lines = list(_checked_lines(raw.splitlines(keepends=True), source, errors))
    return lines + [""] if raw.endswith((b"\n", b"\r")) else lines


def check_text_file(path, errors="strict"):
    """Reads a file once, line by line, refusing what `read_lines` refuses,
    without holding more than one line: for corpora that then stream.

    Args:
        path: path of a text file.
        errors: `"strict"` or `"replace"`, as in `read_lines`.

    Raises:
        FileNotFoundError, IsADirectoryError, ValueError: as `read_lines`.

    Example:
    >>> from keras_nextword import datasets
    >>> check_text_file(datasets.load_final_problem())
    """
    path = _existing_file(path)
    with open(path, "rb") as f:
        for _ in _checked_lines(f, path, errors):
            pass


def _existing_file(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such corpus file")
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{path}: a directory, not a text file (`text_files` lists its .txt files)"
        )
    return path


def _checked_lines(raw_lines, source, errors):
    """Decodes byte lines (line ends kept) one at a time; see `decode_lines`."""
    if errors not in ENCODING_ERRORS:
        raise ValueError(f"`errors` must be one of {ENCODING_ERRORS}. Received: errors={errors!r}")
    offset, replaced, first_bad, size, text = 0, 0, None, 0, False
    for number, raw in enumerate(raw_lines, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw, offset = raw[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
        nul = raw.find(b"\0")
        if nul >= 0:
            raise ValueError(
                f"{source}: a binary file, not text: NUL byte at offset {offset + nul}. "
                "Text in UTF-16 or another wide encoding must be converted to UTF-8 first."
            )
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            where = f"offset {offset + error.start} (line {number})"
            if errors == "strict":
                raise ValueError(
                    f"{source}: not UTF-8: byte 0x{raw[error.start]:02x} at {where} cannot be "
                    "decoded. Convert the file to UTF-8, or read it with "
                    'encoding_errors="replace" (CLI: --encoding-errors replace) to read such '
                    "bytes as U+FFFD."
                ) from error
            line = raw.decode("utf-8", "replace")
            # U+FFFD that were in the file are valid UTF-8 (EF BF BD); the rest replaced bytes.
            replaced += line.count("\ufffd") - raw.count("\ufffd".encode())
            first_bad = first_bad or where
        offset, size = offset + len(raw), size + len(raw)
        line = line.rstrip("\r\n")
        text = text or not (line.isspace() or not line)
        yield line
    if replaced:
        warnings.warn(
            f"{source}: not UTF-8: {replaced} undecodable byte sequence(s) read as U+FFFD, "
            f"the first at {first_bad}",
            UnicodeWarning,
            stacklevel=3,
        )
    if not text:
        raise ValueError(f"{source}: {'whitespace only' if size else 'empty'}, no text to read")


def check_next_words(lines, source):
    """Checks that some line has two or more words: a next word to learn.

    N-grams never cross lines, so lines of one word give no training example.

    Args:
        lines: list of str, the lines to learn from.
        source: str, the path (or name) of the corpus, named in the error.

    Raises:
        ValueError: no line has two or more words; the message names `source`.

    Example:
    >>> check_next_words(["Holmes", "", "Moriarty"], "names.txt")
    Traceback (most recent call last):
    ...
    ValueError: names.txt: no line to learn from has two or more words, so there is no next word to learn.
    """
    if not any(len(python_split_words(line)) > 1 for line in lines):
        raise ValueError(
            f"{source}: no line to learn from has two or more words, "
            "so there is no next word to learn."
        )


def split_lines(lines, validation_split):
    """Splits the non-blank lines into training lines and the last ones, held out.

    Holding out the *last* lines (not a random sample) keeps neighbouring
    prefixes of one line, and neighbouring lines of one passage, on one side.

    Args:
        lines: list of str.
        validation_split: float in [0, 1), the share of non-blank lines held out.

    Returns:
        `(train_lines, validation_lines)`, two lists of str.

    Example:
    >>> split_lines(["a b", "", "c d", "e f", "g h"], 0.25)
    (['a b', 'c d', 'e f'], ['g h'])
    """
    lines = [line for line in lines if line.strip()]
    cut = _cut(len(lines), validation_split)
    return lines[:cut], lines[cut:]


def cut_words(lines, most):
    """Lines (each a list of words) of more than `most` words as several lines
    of about equal length, at most `most` words each; shorter ones as they are.

    Args:
        lines: list of lists of str, each line's words (`python_split_words`).
        most: int, the most words a line keeps.

    Returns:
        A list of lists of str, in order.

    Example:
    >>> cut_words([["it", "is", "with", "a", "heavy", "heart"], ["that", "i"]], 4)
    [['it', 'is', 'with'], ['a', 'heavy', 'heart'], ['that', 'i']]
    """
    cut = []
    for words in lines:
        size = -(-len(words) // -(-len(words) // most)) if len(words) > most else most
        cut += [words[i : i + size] for i in range(0, max(len(words), 1), size)]
    return cut


def _cut(count, validation_split):
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    return count - int(round(count * validation_split))


def stream_lines(paths, errors="strict"):
    """Streams the non-blank lines of text files.

    Each file is checked first (`check_text_file`), then read by
    `tf.data.TextLineDataset` on every pass (LF or CRLF line ends), so memory
    does not grow with its size; one pass counts the lines.

    Args:
        paths: a path or a list of paths of UTF-8 text files, read in order.
        errors: `"strict"` or `"replace"`, as in `read_lines`.

    Returns:
        `(lines, count)`: a `tf.data.Dataset` of scalar strings, and its length.

    Example:
    >>> from keras_nextword import datasets
    >>> lines, count = stream_lines(datasets.load_final_problem())
    >>> count
    655
    """
    paths = as_paths(paths)
    for path in paths:
        check_text_file(path, errors)
    lines = line_dataset(paths, errors)
    return lines, int(lines.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def as_paths(paths):
    """A path or a list of paths as a list of str.

    Example:
    >>> as_paths("a.txt"), as_paths(["a.txt", "b.txt"])
    (['a.txt'], ['a.txt', 'b.txt'])
    """
    return [os.fspath(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]


def line_dataset(paths, errors="strict"):
    """The non-blank lines of checked text files, read by `tf.data.TextLineDataset`
    on every pass (LF or CRLF line ends), so memory does not grow with their size.

    Args:
        paths: a list of paths of UTF-8 text files, read in order.
        errors: `"strict"` or `"replace"`, as in `read_lines`.

    Returns:
        A `tf.data.Dataset` of scalar strings.

    Example:
    >>> from keras_nextword import datasets
    >>> next(iter(line_dataset([datasets.load_final_problem()]))).numpy().strip()
    b'THE FINAL PROBLEM'
    """
    lines = tf.data.TextLineDataset(paths)
    if errors == "replace":
        lines = lines.map(lambda line: tf.strings.unicode_transcode(line, "UTF-8", "UTF-8"))
    return lines.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)


def in_memory(lines):
    """A `tf.data.Dataset` of a list of str (empty or not).

    Example:
    >>> listed(in_memory(["a heavy heart"])), listed(in_memory([]))
    (['a heavy heart'], [])
    """
    return tf.data.Dataset.from_tensor_slices(tf.constant(lines, tf.string, shape=[len(lines)]))


def split_dataset(lines, count, validation_split):
    """`split_lines` for a `tf.data.Dataset` of `count` non-blank lines.

    Args:
        lines: a `tf.data.Dataset` of scalar strings.
        count: int, its number of lines.
        validation_split: float in [0, 1), the share of lines held out.

    Returns:
        `(train_lines, validation_lines, (train_count, validation_count))`.

    Example:
    >>> train, held_out, counts = split_dataset(*stream_lines(datasets.load_final_problem()), 0.1)
    >>> counts
    (589, 66)
    """
    cut = _cut(count, validation_split)
    return lines.take(cut), lines.skip(cut), (cut, count - cut)


def listed(lines):
    """A `tf.data.Dataset` of lines as a list of str (None stays None): for
    lines few enough to keep in memory.

    Example:
    >>> listed(tf.data.Dataset.from_tensor_slices(["a heavy heart", "holmes"]))
    ['a heavy heart', 'holmes']
    """
    return None if lines is None else [line.decode() for line in lines.as_numpy_iterator()]


def is_text(x):
    """True when `x` holds raw strings (a str, a list or array of str, a string
    `tf.Tensor`, or a `tf.data.Dataset` of strings) rather than token ids."""
    if isinstance(x, str):
        return True
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        return isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
    if isinstance(x, tf.Tensor):
        return x.dtype == tf.string
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO"
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and isinstance(x[0], str)
    return False
