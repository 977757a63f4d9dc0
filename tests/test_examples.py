"""Every example runs for real, with its smallest settings (see `EVERY_SESSION` for which backends)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import backend

EXAMPLES = Path(__file__).parents[1] / "examples"
# Each example's smallest run: a couple of epochs, no network, files in a temporary folder.
RUNS = {
    "final_problem": ["--epochs", "2", "--max-length", "3", "--out", "{tmp}/fp.keras"],
    "compose": ["--lm-epochs", "1", "--probe-epochs", "1"],
    "canon": ["--corpus", "{corpus}", "--epochs", "1", "--out", "{tmp}/canon.keras"],
    "backends": ["--epochs", "1", "--train-on", "{backend}", "--load-on", "{other}"],
}


def test_every_example_has_a_run():
    assert {path.stem for path in EXAMPLES.glob("*.py")} == set(RUNS)


def run(name, *args, timeout=600):
    env = dict(os.environ, KERAS_BACKEND=backend(), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_help_answers_without_keras(name):
    result = run(name, "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {name}.py")
    assert "tensorflow/core" not in result.stderr and "absl" not in result.stderr


# The backends example trains on the session's backend and loads on another, in
# every session; the others run their backend's code that the unit tests cover, and
# run in the JAX session (the default) only, to keep CI in its time.
EVERY_SESSION = {"backends"}


@pytest.mark.parametrize(
    "name",
    [
        name if name in EVERY_SESSION else pytest.param(name, marks=pytest.mark.backend("jax"))
        for name in sorted(RUNS)
    ],
)
def test_example_runs(name, tmp_path, corpus):
    other = {"jax": "tensorflow", "tensorflow": "torch", "torch": "jax"}[backend()]
    values = dict(tmp=tmp_path, corpus=corpus, backend=backend(), other=other)
    result = run(name, *(arg.format(**values) for arg in RUNS[name]))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "Traceback" not in result.stderr
