"""Files written whole or not at all: `atomic_write` and `save_atomic`.

Each writes next to the target and renames over it only once the file is
complete, so a crash or a `kill -9` during a write leaves the previous file
as it was.
"""

import contextlib
import os
import secrets

import keras


@contextlib.contextmanager
def atomic_write(path):
    """Yields a temporary path next to `path`, renamed onto `path` on success.

    The temporary file is in the same directory (so the rename is atomic) and
    keeps the extension of `path` (so writers that infer the format from it
    still do). Its data is flushed to disk before the rename. If the block
    raises, the temporary file is removed and `path` is untouched.

    Args:
        path: str or `os.PathLike`, the file to write.

    Yields:
        str, the path to write to.

    Example:
    >>> with atomic_write("history.json") as tmp:  # doctest: +SKIP
    ...     with open(tmp, "w") as f:
    ...         f.write("{}")
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    tmp = os.path.join(folder, f".{stem}.tmp-{secrets.token_hex(4)}{extension}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def save_atomic(model, filepath, overwrite=True, **kwargs):
    """`keras.Model.save` through a temporary file: the target is whole or untouched.

    A kill during the save leaves the previous file at `filepath` intact (and
    at most a hidden `.<name>.tmp-<hex>.keras` file next to it). Paths that
    Keras does not write as one local file (`zipped=False`, `hf://` and other
    remote paths, file objects) are saved by Keras as they are.

    Args:
        model: a `keras.Model`.
        filepath: str or `os.PathLike`, a `.keras` (or legacy `.h5`) path.
        overwrite: bool; False raises `FileExistsError` if `filepath` exists
            (Keras would ask on the terminal).
        **kwargs: more `keras.Model.save` arguments.

    Example:
    >>> save_atomic(model, "model.keras")  # doctest: +SKIP
    """
    local_file = isinstance(filepath, (str, os.PathLike)) and "://" not in os.fspath(filepath)
    if not local_file or kwargs.get("zipped") is False:
        return keras.Model.save(model, filepath, overwrite=overwrite, **kwargs)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{os.fspath(filepath)}: exists, and overwrite=False")
    folder = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(folder):  # else the error would name the temporary file
        raise FileNotFoundError(f"{os.fspath(filepath)}: no folder {folder} to save into")
    with atomic_write(filepath) as tmp:
        keras.Model.save(model, tmp, **kwargs)
