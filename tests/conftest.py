"""Shared fixtures: the corpora in ../shared/data and small trained models."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FINAL_PROBLEM = SHARED_DATA / "the_final_problem.txt"
CANON = SHARED_DATA / "complete_sherlock_holmes.txt"
BACKENDS = ("jax", "tensorflow", "torch")


@pytest.fixture(scope="session")
def final_problem_path():
    if not FINAL_PROBLEM.exists():
        pytest.skip(f"{FINAL_PROBLEM} is missing")
    return FINAL_PROBLEM


@pytest.fixture(scope="session")
def final_problem_lines(final_problem_path):
    with open(final_problem_path, encoding="utf-8") as f:
        return f.read().split("\n")


@pytest.fixture(scope="session")
def small_model(final_problem_path):
    """A small model, briefly trained: varied, non-degenerate predictions, and
    cheap on torch too (whose CPU LSTM runs step by step in Python)."""
    from keras_nextword import NextWordLSTM

    return NextWordLSTM.from_text(
        final_problem_path,
        epochs=2,
        batch_size=256,
        embedding_dim=16,
        lstm_units=32,
        tie_weights=False,  # `head.bias` is then the output bias, which tests adjust
        seed=0,
        verbose=0,
    )


def backend():
    return os.environ.get("KERAS_BACKEND", "jax")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The first 200 lines of the bundled corpus: a small file for CLI runs."""
    from keras_nextword import data, datasets

    lines = data.read_lines(datasets.load_final_problem())[:200]
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# Four short lines: a corpus small enough to train on in a test.
LINES = [
    "it is with a heavy heart that i take up my pen",
    "to write these the last words in which i shall ever record",
    "the singular gifts by which my friend mr sherlock holmes",
    "was distinguished in a heavy heart",
]
