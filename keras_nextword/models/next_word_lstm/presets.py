"""Presets: a trained `NextWordLSTM` as a directory, written by keras-hub's own saver.

`model.save_to_preset(dir)` is keras-hub's `Task.save_to_preset`:

    config.json, model.weights.h5        the backbone (`NextWordLSTMBackbone`)
    metadata.json                        versions, as keras-hub writes them
    task.json, task.weights.h5           the task: its config (backbone and
                                         preprocessor inside) and the output layer
    preprocessor.json (and tokenizer.json, assets/ for a keras-hub preprocessor)

so keras-hub's loaders read it: `NextWordLSTM.from_preset(dir)`,
`keras_hub.models.CausalLM.from_preset(dir)` and `keras_nextword.load_model(dir)`
load the whole model, `keras_hub.models.Backbone.from_preset(dir)` the
backbone alone. A preset directory uploads as keras-hub's do, e.g.
`keras_hub.upload_preset("kaggle://user/model/keras/name", dir)` or
`"hf://user/name"` (not tested here: no network).
"""

import os

TASK_CONFIG_FILE = "task.json"


def is_preset(path):
    """Whether `path` is a local directory holding a task preset (a `task.json`).

    Args:
        path: str or `os.PathLike`.

    Returns:
        bool.

    Example:
    >>> is_preset(".")
    False
    """
    return os.path.isfile(os.path.join(os.fspath(path), TASK_CONFIG_FILE))


def check_preset(preset):
    """Raises `FileNotFoundError` for a local directory that holds no preset.

    Handles (`kaggle://`, `hf://`) and names that are no local directory are
    left to keras-hub.

    Args:
        preset: str or `os.PathLike`.

    Example:
    >>> check_preset("kaggle://user/model/keras/name")  # a handle: keras-hub's to check
    """
    path = os.fspath(preset)
    if os.path.isdir(path) and not is_preset(path):
        raise FileNotFoundError(f"{path}: not a keras_nextword preset (no {TASK_CONFIG_FILE})")
