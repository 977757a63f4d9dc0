"""The `keras-nextword` command, driven as a user would: in a subprocess.

One small model is trained once for the module (200 lines, 1 epoch, width 8)
and reused by the `generate` and `evaluate` tests.
"""

import json
import subprocess
import sys

import keras
import pytest

from keras_nextword import cli, data, datasets

TINY = ["--epochs", "1", "--embedding-dim", "8", "--lstm-units", "8", "--seed", "0"]


def keras_nextword(*args, input=None):
    """Runs `python -m keras_nextword ARGS...`; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "keras_nextword", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )


def succeeded(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    lines = data.read_lines(datasets.load_final_problem())[:200]
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


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
    history = json.loads((model_path.parent / "history.json").read_text())
    for metric in ("loss", "val_loss", "perplexity", "val_perplexity"):
        assert len(history[metric]) == 1
    plot = (model_path.parent / "history.png").read_bytes()
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
    assert set(metrics) == {"loss", "accuracy", "perplexity"}
    lines = [line for line in data.read_lines(corpus) if line.strip()]
    expected = keras.saving.load_model(model_path).evaluate(lines, return_dict=True, verbose=0)
    assert metrics["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-4)


def test_stdin_corpus_on_torch(corpus, tmp_path):
    model_path = tmp_path / "model.keras"
    text = corpus.read_text(encoding="utf-8")
    result = succeeded(
        keras_nextword("train", "-", "--backend", "torch", "--out", model_path, *TINY, input=text)
    )
    assert result.stdout.startswith("Backend: torch (")
    assert model_path.exists() and (tmp_path / "history.png").exists()


def test_bad_input_exits_2_in_one_line(tmp_path):
    result = keras_nextword("evaluate", tmp_path / "missing.keras", "final-problem")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"keras-nextword: error: no such model file: {tmp_path / 'missing.keras'}"
    )


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(cli.UsageError, match="no such corpus"):
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
    with pytest.raises(cli.UsageError, match="no .txt files"):
        cli.read_corpus([str(empty)])
