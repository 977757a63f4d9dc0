"""Loading that fails clearly: `load_model` names the path and what is wrong
with it, for `.keras` files and preset directories alike.
"""

import os
import zipfile

import keras

from keras_nextword.models.next_word_lstm import presets
from keras_nextword.models.next_word_lstm.causal_lm import NextWordLSTM
from keras_nextword.runtime.environment import keras_hub


def load_model(filepath, **kwargs):
    """Loads a `NextWordLSTM` saved to `.keras` or to a preset directory
    (`NextWordLSTM.save_to_preset`), naming the path and what is wrong.

    Args:
        filepath: str or `os.PathLike`, a `.keras` file or a preset directory.
        **kwargs: `keras.saving.load_model` arguments (`compile`, `safe_mode`,
            `custom_objects`).

    Returns:
        The `NextWordLSTM`.

    Raises:
        FileNotFoundError: nothing at `filepath`.
        IsADirectoryError: `filepath` is a directory but not a preset.
        ValueError: the file is not a zip archive (truncated, or not a
            `.keras` file), Keras cannot load it, or it holds another kind of
            model. The message starts with the path.

    Example:
    >>> import keras_nextword
    >>> model = keras_nextword.load_model("model.keras")  # doctest: +SKIP
    >>> model.generate("It is with a heavy heart")  # doctest: +SKIP
    """
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file")
    if os.path.isdir(path):
        if presets.is_preset(path):
            return load_preset(path)
        # No task.json: not a preset either (the CLI's tests match this line whole).
        raise IsADirectoryError(f"{path}: a directory, not a .keras model file")
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: not a .keras file")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not a .keras model: not a zip archive (a truncated file, or another format)"
        )
    try:
        model = keras.saving.load_model(path, **kwargs)
    except Exception as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ValueError(f"{path}: Keras cannot load this model: {reason}") from error
    if not isinstance(model, NextWordLSTM):
        raise ValueError(
            f"{path}: holds a {type(model).__name__}, not a keras_nextword NextWordLSTM"
        )
    return model


def load_preset(preset_dir):
    """Loads the `NextWordLSTM` that `save_to_preset` wrote to `preset_dir`.

    Args:
        preset_dir: str or `os.PathLike`, a local preset directory.

    Returns:
        The model, with its preprocessor, compiled with its defaults.

    Raises:
        FileNotFoundError: `preset_dir` holds no `task.json`.
        ValueError: it holds another kind of model.

    Example:
    >>> model = load_preset("final_problem_lstm")  # doctest: +SKIP
    """
    presets.check_preset(preset_dir)
    model = keras_hub.models.CausalLM.from_preset(os.fspath(preset_dir))
    if not isinstance(model, NextWordLSTM):
        raise ValueError(f"{preset_dir}: holds a {type(model).__name__}, not a NextWordLSTM")
    return model
