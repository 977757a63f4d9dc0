"""Demo corpora: The Final Problem ships with the package; the whole canon is
fetched once through `keras.utils.get_file` and cached."""

import hashlib
import os
from importlib import resources

import keras

FINAL_PROBLEM_SHA256 = "4381afb3272d8cf52ae541b8305377ca3bd9b9f9b13b06e23c3cfcee8cf8c727"
CANON_FILE = "complete_sherlock_holmes.txt"
CANON_URL = "https://raw.githubusercontent.com/MSinghSRH/RNNNextWordPrediction/main/Schlock.txt"
CANON_SHA256 = "626300f45614e78cbaffe8cfe2ba214f185eebe072082426bca1fae9b40bae04"


def load_final_problem():
    """Returns the path of Arthur Conan Doyle's "The Final Problem" (43 KB,
    public domain, CRLF), shipped with the package so it needs no network.

    Returns:
        str, a path to a UTF-8 text file.

    Example:
    >>> from keras_nextword import datasets
    >>> datasets.load_final_problem().endswith("the_final_problem.txt")
    True
    """
    return str(resources.files("keras_nextword") / "data" / "the_final_problem.txt")


def load_sherlock_canon(cache_dir=None):
    """Returns the path of the complete Sherlock Holmes canon (3.9 MB), the
    tutorial's own `Schlock.txt`, downloading it on first use.

    The file is cached as `<cache_dir>/datasets/complete_sherlock_holmes.txt`
    and checked against a pinned SHA-256. A cached file is used as is, so it
    works offline; a cached file with another hash is refused rather than
    replaced, since it may be a user's own copy.

    Args:
        cache_dir: the Keras cache directory, or None for `$KERAS_HOME`
            (default `~/.keras`).

    Returns:
        str, a path to a UTF-8 text file.

    Raises:
        ValueError: the cached file has the wrong hash.
        OSError: the file is not cached and cannot be downloaded; the message
            says where to put a copy.

    Example:
    >>> from keras_nextword import datasets
    >>> path = datasets.load_sherlock_canon()  # doctest: +SKIP
    >>> path.endswith("complete_sherlock_holmes.txt")  # doctest: +SKIP
    True
    """
    if cache_dir is None:
        # Read at call time (Keras reads it once, at import).
        cache_dir = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    cache_dir = os.path.expanduser(os.fspath(cache_dir))
    path = os.path.join(cache_dir, "datasets", CANON_FILE)
    if os.path.exists(path):
        digest = sha256(path)
        if digest != CANON_SHA256:
            raise ValueError(
                f"The cached canon {path} has SHA-256 {digest}, expected {CANON_SHA256}. "
                f"Delete it to download it again, or replace it with {CANON_URL}."
            )
        return path
    try:
        # Keras falls back to /tmp for a cache dir that does not exist yet.
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return keras.utils.get_file(
            CANON_FILE, CANON_URL, file_hash=CANON_SHA256, cache_dir=cache_dir
        )
    except Exception as error:
        raise OSError(
            f"Could not download the Sherlock Holmes canon from {CANON_URL} ({error}). "
            f"Put a copy of it (SHA-256 {CANON_SHA256}) at {path}"
        ) from error


def sha256(path):
    """Returns the hex SHA-256 digest of a file.

    Example:
    >>> sha256(load_final_problem()) == FINAL_PROBLEM_SHA256
    True
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
