"""Reading text files, splitting held-out lines, and `tf.data` pipelines of n-grams."""

import codecs
import os
import warnings

import numpy as np
import tensorflow as tf

from keras_nextword.preprocessing import python_split_words

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
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such corpus file")
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{path}: a directory, not a text file (`text_files` lists its .txt files)"
        )
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
    ValueError: menu.txt: not UTF-8: byte 0xe9 at offset 3 (line 1) cannot be decoded. Convert the file to UTF-8, or read it with errors="replace" (CLI: --encoding-errors replace) to read such bytes as U+FFFD.
    """
    if errors not in ENCODING_ERRORS:
        raise ValueError(f"`errors` must be one of {ENCODING_ERRORS}. Received: errors={errors!r}")
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ValueError(
            f"{source}: a binary file, not text: NUL byte at offset {nul}. "
            "Text in UTF-16 or another wide encoding must be converted to UTF-8 first."
        )
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    if bom:
        raw = raw[bom:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        where = f"offset {error.start + bom} (line {line})"
        if errors == "strict":
            raise ValueError(
                f"{source}: not UTF-8: byte 0x{raw[error.start]:02x} at {where} cannot be "
                'decoded. Convert the file to UTF-8, or read it with errors="replace" '
                "(CLI: --encoding-errors replace) to read such bytes as U+FFFD."
            ) from error
        text = raw.decode("utf-8", "replace")
        # U+FFFD that were in the file are valid UTF-8 (EF BF BD); the rest replaced bytes.
        replaced = text.count("\ufffd") - raw.count("\ufffd".encode())
        warnings.warn(
            f"{source}: not UTF-8: {replaced} undecodable byte sequence(s) read as U+FFFD, "
            f"the first at {where}",
            UnicodeWarning,
            stacklevel=2,
        )
    if not text or text.isspace():
        raise ValueError(f"{source}: {'whitespace only' if text else 'empty'}, no text to read")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


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
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    lines = [line for line in lines if line.strip()]
    held_out = int(round(len(lines) * validation_split))
    cut = len(lines) - held_out
    return lines[:cut], lines[cut:]


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


def text_dataset(lines, preprocessor, batch_size=32, shuffle=False, seed=None):
    """A `tf.data` pipeline of `(inputs, targets)` batches from lines of text.

    Lines are preprocessed in batches inside `tf.data` (`preprocessor` maps a
    batch of lines to n-grams), so n-grams never exist for the whole corpus at
    once. With `shuffle`, lines are shuffled each epoch and then the n-grams
    within a window of 4,096.

    Args:
        lines: str, list of str, or a `tf.data.Dataset` of str (one line each).
        preprocessor: an `NGramVectorizer`: it maps a batch of lines to
            `(inputs, targets)`, and counts the examples of in-memory lines so
            that Keras knows the number of steps per epoch.
        batch_size: examples per batch.
        shuffle: whether this is training data: shuffled, and preprocessed with
            `training=True` (word dropout), or evaluation data, kept as it is.
        seed: shuffle seed, for reproducible order.

    Returns:
        A batched, prefetched `tf.data.Dataset` of `(inputs, targets)`.
    """
    if isinstance(lines, tf.data.Dataset):
        dataset = lines.unbatch() if lines.element_spec.shape.rank else lines
        buffer, num_examples = 65_536, None
    else:
        lines = [lines] if isinstance(lines, str) else list(lines)
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, tf.string))
        buffer = max(len(lines), 1)
        num_examples = preprocessor.count_examples(lines)
    if shuffle:
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(256).map(
        lambda batch: preprocessor(batch, training=shuffle), num_parallel_calls=tf.data.AUTOTUNE
    )
    dataset = dataset.unbatch()
    if shuffle:
        dataset = dataset.shuffle(4_096, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if num_examples is not None:
        # Known length: Keras shows a full progress bar from the first epoch.
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(-(-num_examples // batch_size))
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
