"""Presets: a trained `NextWordLSTM` as a directory, laid out as keras-hub's.

    config.json, model.weights.h5        the backbone (`NextWordLSTMBackbone`)
    metadata.json                        versions, as keras-hub writes them
    task.json, task.weights.h5           the whole `NextWordLSTM`, its preprocessor included

The backbone files are keras-hub's own (`Backbone.save_to_preset`), so
`keras_hub.models.Backbone.from_preset(dir)` loads the backbone alone. The
task files are this package's: `NextWordLSTM.from_preset(dir)` (or
`keras_nextword.load_model(dir)`) loads the whole model. `NextWordLSTM` is
not a `keras_hub.models.CausalLM` yet, so `keras_hub.models.CausalLM.from_preset`
does not load it. A preset directory uploads as keras-hub's do, e.g.
`keras_hub.upload_preset("kaggle://user/model/keras/name", dir)` or
`"hf://user/name"` (not tested here: no network).
"""

import json
import os

import keras

TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"


def save_to_preset(model, preset_dir):
    """Writes `model` (a `NextWordLSTM`) to the directory `preset_dir`.

    Args:
        model: a `NextWordLSTM`.
        preset_dir: str or `os.PathLike`, created if missing.

    Example:
    >>> save_to_preset(model, "final_problem_lstm")  # doctest: +SKIP
    >>> NextWordLSTM.from_preset("final_problem_lstm")  # doctest: +SKIP
    """
    preset_dir = os.fspath(preset_dir)
    os.makedirs(preset_dir, exist_ok=True)
    model.backbone.save_to_preset(preset_dir)
    with open(os.path.join(preset_dir, TASK_CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(keras.saving.serialize_keras_object(model), f, indent=2)
    model.save_weights(os.path.join(preset_dir, TASK_WEIGHTS_FILE))


def is_preset(path):
    """Whether `path` is a local directory holding a `NextWordLSTM` preset."""
    return os.path.isfile(os.path.join(os.fspath(path), TASK_CONFIG_FILE))


def load_preset(preset_dir):
    """Loads the `NextWordLSTM` that `save_to_preset` wrote to `preset_dir`.

    Args:
        preset_dir: str or `os.PathLike`, a local preset directory.

    Returns:
        The model, with its preprocessor, compiled with its defaults.

    Raises:
        FileNotFoundError: `preset_dir` holds no `task.json`.
    """
    preset_dir = os.fspath(preset_dir)
    if not is_preset(preset_dir):
        raise FileNotFoundError(
            f"{preset_dir}: not a keras_nextword preset (no {TASK_CONFIG_FILE})"
        )
    from keras_nextword.model import NextWordLSTM  # registers the classes to deserialize

    with open(os.path.join(preset_dir, TASK_CONFIG_FILE), encoding="utf-8") as f:
        model = keras.saving.deserialize_keras_object(json.load(f))
    if not isinstance(model, NextWordLSTM):
        raise ValueError(f"{preset_dir}: holds a {type(model).__name__}, not a NextWordLSTM")
    model.load_weights(os.path.join(preset_dir, TASK_WEIGHTS_FILE))
    return model
