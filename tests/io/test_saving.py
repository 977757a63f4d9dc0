"""Atomic saves, and loads that name the file and what is wrong with it."""

import re
import signal
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import keras_nextword
from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.runtime import files

LINES = ["it is with a heavy heart", "that i take up my pen", "to write these the last words"]
# An untrained model has no optimizer variables to restore; Keras says so on load.
pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")


def named(path, problem):
    """A `match` pattern: the message starts with `path: `, then `problem` (a regex)."""
    return f"^{re.escape(str(path))}: {problem}"


@pytest.fixture(scope="module")
def model():
    vectorizer = NGramVectorizer()
    vectorizer.adapt(LINES)
    return NextWordLSTM.from_sizes(
        vectorizer.vocabulary_size(), embedding_dim=4, lstm_units=4, preprocessor=vectorizer
    )


@pytest.fixture
def saved(model, tmp_path):
    """`(path, predictions)` of `model` saved to `tmp_path / "model.keras"`."""
    path = tmp_path / "model.keras"
    model.save(path)
    return path, model.predict(LINES, verbose=0)


def test_save_replaces_the_file_and_leaves_no_temporary(model, saved):
    path, predictions = saved
    model.save(path)  # over an existing file
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.keras"]
    restored = keras_nextword.load_model(path)
    np.testing.assert_allclose(restored.predict(LINES, verbose=0), predictions, atol=1e-6)


def test_failed_save_leaves_the_previous_file(model, saved, monkeypatch):
    path, predictions = saved

    def failing_save(model, filepath, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.keras"]
    restored = keras_nextword.load_model(path)
    np.testing.assert_allclose(restored.predict(LINES, verbose=0), predictions, atol=1e-6)


def test_save_without_overwrite_refuses_an_existing_file(model, saved):
    path, _ = saved
    with pytest.raises(FileExistsError, match=named(path, "exists")):
        model.save(path, overwrite=False)


def test_save_into_a_missing_folder_names_the_path(model, tmp_path):
    """The error named the temporary file save writes first, not the user's path."""
    path = tmp_path / "missing" / "model.keras"
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(str(path))}: no folder"):
        model.save(path)


def test_atomic_write_keeps_the_extension(tmp_path):
    with files.atomic_write(tmp_path / "history.png") as tmp:
        assert tmp.endswith(".png") and tmp != str(tmp_path / "history.png")
        with open(tmp, "w") as f:
            f.write("png")
    assert (tmp_path / "history.png").read_text() == "png"
    assert len(list(tmp_path.iterdir())) == 1


# The child stalls before the zip's central directory, the last thing a save writes,
# and says so: the parent kills it there, mid-save, every time.
SAVE_AND_STALL = """
import sys, time, zipfile
import keras, numpy as np
import keras_nextword

path, how = sys.argv[1:]
model = keras_nextword.load_model(path)
model.set_weights([np.zeros_like(w) for w in model.get_weights()])
close = zipfile.ZipFile.close

def stalled_close(self):
    if self.mode == "w":
        print("saving", flush=True)
        time.sleep(600)
    close(self)

zipfile.ZipFile.close = stalled_close
model.save(path) if how == "atomic" else keras.Model.save(model, path)
"""


def kill_during_save(path, how, tmp_path):
    with open(tmp_path / "stderr.txt", "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", SAVE_AND_STALL, str(path), how],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            said = child.stdout.readline()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
            child.stdout.close()
    assert said == "saving\n", (tmp_path / "stderr.txt").read_text()[-3000:]
    assert child.returncode == -signal.SIGKILL


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_during_save_leaves_the_previous_model(saved, tmp_path):
    path, predictions = saved
    kill_during_save(path, "atomic", tmp_path)
    # The half-written temporary file is what the kill left behind, not the model.
    (leftover,) = path.parent.glob(".model.tmp-*.keras")
    assert not zipfile.is_zipfile(leftover)
    restored = keras_nextword.load_model(path)
    np.testing.assert_allclose(restored.predict(LINES, verbose=0), predictions, atol=1e-6)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_during_plain_keras_save_truncates_the_model(saved, tmp_path):
    # The same kill without the temporary file: what atomic saves prevent.
    path, _ = saved
    kill_during_save(path, "keras", tmp_path)
    with pytest.raises(ValueError, match=named(path, "not a .keras model: not a zip archive")):
        keras_nextword.load_model(path)


def test_load_missing_file_or_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=named(tmp_path / "nope.keras", "no such model")):
        keras_nextword.load_model(tmp_path / "nope.keras")
    with pytest.raises(IsADirectoryError, match=named(tmp_path, "a directory")):
        keras_nextword.load_model(tmp_path)


def test_load_truncated_file(saved, tmp_path):
    path, _ = saved
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=named(truncated, "not a .keras model: not a zip archive")):
        keras_nextword.load_model(truncated)


def test_load_random_bytes(tmp_path):
    path = tmp_path / "random.keras"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError, match=named(path, "not a .keras model: not a zip archive")):
        keras_nextword.load_model(path)


def test_load_other_file_formats(saved, tmp_path):
    path, _ = saved
    renamed = tmp_path / "model.zip"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match=named(renamed, "not a .keras file")):
        keras_nextword.load_model(renamed)
    other_zip = tmp_path / "other.keras"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("notes.txt", "not a model")
    with pytest.raises(
        ValueError, match=named(other_zip, "Keras cannot load this model: .*config.json")
    ):
        keras_nextword.load_model(other_zip)


def test_load_a_model_of_another_kind(tmp_path):
    path = tmp_path / "sequential.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    with pytest.raises(ValueError, match=named(path, "holds a Sequential, not a keras_nextword")):
        keras_nextword.load_model(path)
