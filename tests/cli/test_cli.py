"""The `keras-nextword` command, driven as a user would: in a subprocess.

One small model is trained once for the module (200 lines, 1 epoch, width 8)
and reused by the `generate` and `evaluate` tests.
"""

import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_nextword import NextWordLSTM
from keras_nextword.cli import main as cli
from keras_nextword.text import data, datasets
from keras_nextword.training import from_text as training

REPO = Path(__file__).resolve().parents[2]

TINY = ["--epochs", "1", "--embedding-dim", "8", "--lstm-units", "8", "--seed", "0"]


def keras_nextword(*args, input=None):
    """Runs `python -m keras_nextword ARGS...` from this checkout; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "keras_nextword", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        cwd=REPO,
    )


def succeeded(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def failed(result, message):
    """Checks exit status 2 and a last stderr line that matches `message` (a regex)."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(message, last), last
    return last


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """`(model_path, stdout)` of one `train` run."""
    model_path = tmp_path_factory.mktemp("run") / "model.keras"
    result = succeeded(keras_nextword("train", corpus, "--out", model_path, *TINY))
    return model_path, result.stdout


def test_train_writes_model_history_and_plot(trained):
    model_path, stdout = trained
    assert stdout.startswith(f"Backend: {keras.config.backend()} (")
    assert model_path.stat().st_size > 0
    # Written through temporary files, renamed: none is left over.
    assert sorted(p.name for p in model_path.parent.iterdir()) == [
        "model.history.json",
        "model.history.png",
        "model.keras",
    ]
    # The epoch line names the splits: training, held out (val_), set apart (dev_).
    assert "(val_: reported, never used to choose)" in stdout
    assert re.search(r"epoch 1/1 took .* \| train loss [0-9.]+, perplexity [0-9.]+, top-3", stdout)
    # 200 short lines, one row width: packed, and the saved backbone reads the line starts.
    assert re.search(r"padded in rows of one line: .* the lines packed", stdout)
    assert keras.saving.load_model(model_path).backbone.line_starts
    history = json.loads((model_path.parent / "model.history.json").read_text())
    for metric in ("loss", "val_loss", "perplexity", "val_perplexity"):
        assert len(history[metric]) == 1
    plot = (model_path.parent / "model.history.png").read_bytes()
    assert plot.startswith(b"\x89PNG") and len(plot) > 1000


def test_generate_prints_one_line_per_prompt(trained):
    model_path, _ = trained
    prompts = ["It is with a heavy heart", "Holmes"]
    result = succeeded(
        keras_nextword(
            "generate", model_path, *prompts, "--max-length", 4, "--sampler", "top_p", "--p", 0.9
        )
    )
    lines = result.stdout.splitlines()
    assert len(lines) == len(prompts)
    for prompt, line in zip(prompts, lines):
        assert line.startswith(prompt)
        assert len(line.split()) == len(prompt.split()) + 4


def test_evaluate_json_equals_model_evaluate(trained, corpus):
    model_path, _ = trained
    result = succeeded(keras_nextword("evaluate", model_path, corpus, "--json"))
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"loss", "accuracy", "top1_accuracy", "top3_accuracy", "perplexity"}
    lines = [line for line in data.read_lines(corpus) if line.strip()]
    expected = keras.saving.load_model(model_path).evaluate(lines, return_dict=True, verbose=0)
    assert metrics["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-4)


# `--backend torch` from the JAX session: the flag, not KERAS_BACKEND, picks torch
# (in the torch session it would change nothing); it is the same run in every session.
@pytest.mark.backend("jax")
def test_stdin_corpus_on_torch_untied(corpus, tmp_path):
    model_path = tmp_path / "model.keras"
    text = corpus.read_text(encoding="utf-8")
    args = ["--backend", "torch", "--out", model_path, *TINY, "--no-tie-weights", "--no-pack"]
    args += ["--bigram-weight", "0.7"]  # mixed, whatever the lines set apart say
    result = succeeded(keras_nextword("train", "-", *args, input=text))
    assert result.stdout.startswith("Backend: torch (")
    assert model_path.exists() and (tmp_path / "model.history.png").exists()
    assert "packed" not in result.stdout
    with zipfile.ZipFile(model_path) as saved:
        config = json.loads(saved.read("config.json"))["config"]
        backbone = config["backbone"]["config"]
        assert backbone["tie_weights"] is False and backbone["line_starts"] is False
        assert config["bigram_weight"] == 0.7


# A missing model file is refused before Keras loads anything: the same on every backend.
@pytest.mark.backend("jax")
def test_bad_input_exits_2_in_one_line(tmp_path):
    result = keras_nextword("evaluate", tmp_path / "missing.keras", "final-problem")
    failed(
        result,
        re.escape(f"keras-nextword: error: {tmp_path / 'missing.keras'}: no such model file"),
    )


BAD_CORPORA = {
    "missing.txt": (None, "no such file or directory"),
    "no_txt": ({"notes.md": b"not a corpus"}, "a directory without .txt files"),
    "empty.txt": (b"", "empty, no text to read"),
    "blank.txt": (b" \r\n\t\n ", "whitespace only, no text to read"),
    "latin1.txt": (
        b"one line\ncaf\xe9 au lait\n",
        r"not UTF-8: byte 0xe9 at offset 12 \(line 2\) .*",
    ),
    "binary.txt": (b"PK\x03\x04\x00\x00", r"a binary file, not text: NUL byte at offset 4\. .*"),
    "names.txt": (b"Holmes\n\nMoriarty\n", "no line to learn from has two or more words, .*"),
}


# A corpus is checked before any model is built: the same on every backend.
@pytest.mark.backend("jax")
@pytest.mark.parametrize("name", BAD_CORPORA)
def test_bad_corpus_exits_2_naming_the_path(tmp_path, name):
    content, problem = BAD_CORPORA[name]
    path = tmp_path / name
    if isinstance(content, dict):
        path.mkdir()
        for file, text in content.items():
            (path / file).write_bytes(text)
    elif content is not None:
        path.write_bytes(content)
    result = keras_nextword("train", path, "--out", tmp_path / "m.keras", *TINY)
    failed(result, f"keras-nextword: error: {re.escape(str(path))}: {problem}")
    assert not (tmp_path / "m.keras").exists()


# Standard input is read and checked before any model is built: the same on every backend.
@pytest.mark.backend("jax")
def test_empty_standard_input(tmp_path):
    result = keras_nextword("train", "-", "--out", tmp_path / "m.keras", *TINY, input="")
    failed(result, "keras-nextword: error: <stdin>: empty, no text to read")


# The file is decoded before any model runs; `evaluate --json` on every backend is
# test_evaluate_json_equals_model_evaluate.
@pytest.mark.backend("jax")
def test_encoding_errors_replace_warns_with_the_count(trained, tmp_path):
    model_path, _ = trained
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"it is with a heavy heart\nthat I take up my pen caf\xe9\n")
    failed(keras_nextword("evaluate", model_path, path), ".* not UTF-8: byte 0xe9 .*")
    result = succeeded(
        keras_nextword("evaluate", model_path, path, "--encoding-errors", "replace", "--json")
    )
    assert f"keras-nextword: warning: {path}: not UTF-8: 1 undecodable" in result.stderr
    assert set(json.loads(result.stdout)) == {
        "loss",
        "accuracy",
        "top1_accuracy",
        "top3_accuracy",
        "perplexity",
    }


@pytest.fixture(scope="module")
def bad_models(trained, tmp_path_factory):
    """Files that `generate` must refuse, and what it says about each."""
    folder = tmp_path_factory.mktemp("bad_models")
    models = {"directory.keras": r"a directory, not a \.keras model file"}
    (folder / "directory.keras").mkdir()
    truncated = trained[0].read_bytes()
    (folder / "truncated.keras").write_bytes(truncated[: len(truncated) // 2])
    models["truncated.keras"] = r"not a \.keras model: not a zip archive .*"
    (folder / "random.keras").write_bytes(np.random.default_rng(0).bytes(3000))
    models["random.keras"] = r"not a \.keras model: not a zip archive .*"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(folder / "sequential.keras")
    models["sequential.keras"] = "holds a Sequential, not a keras_nextword NextWordLSTM"
    NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=4).save(folder / "no_vocabulary.keras")
    models["no_vocabulary.keras"] = "the model has no preprocessor, so it cannot read text"
    return folder, models


@pytest.mark.parametrize(
    "name",
    [
        "directory.keras",
        "truncated.keras",
        "random.keras",
        "sequential.keras",
        "no_vocabulary.keras",
    ],
)
def test_bad_model_file_exits_2_naming_the_path(bad_models, name):
    folder, models = bad_models
    result = keras_nextword("generate", folder / name, "Holmes")
    failed(result, f"keras-nextword: error: {re.escape(str(folder / name))}: {models[name]}")


@pytest.mark.parametrize(
    "option,value,problem",
    [
        ("--epochs", "-1", "must be an integer >= 0, not -1"),
        ("--validation-split", "1", r"must be in \[0, 1\), not 1"),
        ("--validation-split", "-0.1", r"must be in \[0, 1\), not -0\.1"),
        ("--ema-momentum", "1.5", r"must be in \[0, 1\), not 1\.5"),
        ("--bigram-weight", "1", r"must be in \(0, 1\), 'auto' or 'none', not 1"),
        ("--learning-rate", "0", r"must be > 0, not 0"),
    ],
)
def test_bad_hyper_parameter_exits_2_naming_it(tmp_path, option, value, problem):
    result = keras_nextword("train", "final-problem", "--out", tmp_path / "m.keras", option, value)
    failed(
        result,
        f"keras-nextword train: error: argument {option}: {problem} "
        r"\(see keras-nextword train --help\)",
    )


def test_zero_epochs_saves_the_untrained_model(corpus, tmp_path):
    model_path = tmp_path / "model.keras"
    args = ["--epochs", "0", "--embedding-dim", "4", "--lstm-units", "4"]
    result = succeeded(keras_nextword("train", corpus, "--out", model_path, *args))
    assert result.stdout.splitlines()[-1] == f"Saved {model_path}, untrained"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt: no such file"):
        cli.main(["train", str(tmp_path / "missing.txt"), "--debug"])


def test_backend_cannot_change_once_keras_runs(tmp_path, capsys):
    other = next(name for name in cli.BACKENDS if name != keras.config.backend())
    with pytest.raises(SystemExit) as exit:
        cli.main(["evaluate", str(tmp_path / "m.keras"), "final-problem", "--backend", other])
    assert exit.value.code == 2
    assert f"set KERAS_BACKEND={other} before Keras is imported" in capsys.readouterr().err


def test_corpus_of_directories_paths_and_demo_names(tmp_path):
    (tmp_path / "b.txt").write_text("three four\r\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("one two\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("not a corpus\n", encoding="utf-8")
    lines = cli.read_corpus([str(tmp_path), str(tmp_path / "a.txt")])
    assert [line for line in lines if line] == ["one two", "three four", "one two"]
    assert cli.read_corpus(["final-problem"]) == data.read_lines(datasets.load_final_problem())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="a directory without .txt files"):
        cli.read_corpus([str(empty)])


HEAVY = ("keras", "tensorflow", "jax", "torch")


@pytest.mark.parametrize(
    "args,status",
    [
        (["--help"], 0),
        (["train", "--help"], 0),
        (["train"], 2),
        (["train", "x", "--epochs", "-1"], 2),
    ],
)
def test_help_and_argument_errors_import_no_framework(args, status):
    # `-X importtime` lists every module imported, one per line on stderr.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "keras_nextword", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == status, result.stderr[-3000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert imported and not imported & set(HEAVY), sorted(imported & set(HEAVY))
    # Nothing on stderr but the import times and argparse's one-line error: no
    # TensorFlow or absl start-up logs.
    messages = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    if status == 0:
        assert result.stdout.startswith("usage: keras-nextword") and not messages
    else:
        assert len(messages) == 1 and messages[0].startswith("keras-nextword train: error: ")


def test_package_names_load_on_first_use():
    code = (
        "import sys, keras_nextword\n"
        "assert 'keras' not in sys.modules, 'import keras_nextword imported keras'\n"
        "from keras_nextword import NextWordLSTM, datasets\n"
        "import keras_nextword.models.next_word_lstm.causal_lm as model\n"
        "assert NextWordLSTM is model.NextWordLSTM and 'keras' in sys.modules\n"
        "assert set(keras_nextword.__all__) <= set(dir(keras_nextword))\n"
        "assert all(getattr(keras_nextword, name) is not None for name in keras_nextword.__all__)\n"
        "try:\n    keras_nextword.missing\nexcept AttributeError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "module 'keras_nextword' has no attribute 'missing'\n"


def test_keras_first_then_the_package_registers_its_classes(trained):
    model_path, _ = trained
    code = "import sys, keras, keras_nextword\nkeras.saving.load_model(sys.argv[1])\n"
    result = subprocess.run(
        [sys.executable, "-c", code, str(model_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(
    "options, expected",
    [
        (
            [],
            {
                "early_stopping_patience": None,
                "max_minutes": 15.0,
                "num_sampled": None,
                "learning_rate": None,
                "refit": False,
            },
        ),
        (
            ["--patience", "0", "--max-minutes", "0", "--num-sampled", "0", "--dropout", "0.1"]
            + ["--learning-rate", "0.005", "--refit"],
            {
                "refit": "auto",
                "early_stopping_patience": 0,
                "max_minutes": None,
                "num_sampled": 0,
                "dropout": 0.1,
                "learning_rate": 0.005,
            },
        ),
    ],
)
def test_train_leaves_the_choices_to_from_text_or_passes_them(
    corpus, tmp_path, monkeypatch, options, expected
):
    calls = []
    original = training.from_text

    def from_text(path, **kwargs):
        calls.append(kwargs)
        return original(NextWordLSTM, path, **{**kwargs, "epochs": 0})

    monkeypatch.setattr(NextWordLSTM, "from_text", from_text)
    assert cli.main(["train", str(corpus), "--out", str(tmp_path / "m.keras"), *options]) == 0
    assert calls[0].items() >= expected.items()
    assert "batch_size" not in calls[0] and calls[0].get("dropout") == expected.get("dropout")


def without(monkeypatch, module):
    """Makes `module` look uninstalled to `importlib.util.find_spec`."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == module else find_spec(name, *args),
    )


# Refused before any model is loaded: the same on every backend.
@pytest.mark.backend("jax")
def test_export_without_its_extra_names_it_in_one_line(trained, tmp_path, monkeypatch, capsys):
    without(monkeypatch, "tf2onnx")
    with pytest.raises(SystemExit) as exit:
        cli.main(["export", str(trained[0]), str(tmp_path / "out"), "--format", "onnx"])
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        'keras-nextword: error: export --format onnx needs tf2onnx: pip install "keras-nextword[export]"\n'
    )


@pytest.mark.backend("jax")
def test_train_without_matplotlib_saves_all_but_the_plot(corpus, tmp_path, monkeypatch, capsys):
    without(monkeypatch, "matplotlib")
    model_path = tmp_path / "fp.keras"
    assert cli.main(["train", str(corpus), "--out", str(model_path), *TINY]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp.history.json", "fp.keras"]
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"Saved {model_path} and {tmp_path / 'fp.history.json'}; the training curve needs "
        'matplotlib: pip install "keras-nextword[plot]"'
    )


def test_train_from_a_model_continues_it_on_its_vocabulary(trained, corpus, tmp_path):
    model_path, _ = trained
    out = tmp_path / "more.keras"
    result = succeeded(
        keras_nextword("train", corpus, "--from", model_path, "--out", out, *TINY[:2], "--seed", 0)
    )
    assert "training words, 0.0% of them [UNK] to the model's" in result.stdout
    before, after = keras.saving.load_model(model_path), keras.saving.load_model(out)
    assert after.preprocessor.get_vocabulary() == before.preprocessor.get_vocabulary()
    assert after.backbone.get_config() == before.backbone.get_config()
    assert any(not np.allclose(a, b) for a, b in zip(after.get_weights(), before.get_weights()))
