"""Every example runs as `python examples/NAME.py --help` without importing Keras."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


def test_the_four_examples_are_there():
    names = {path.stem for path in EXAMPLES}
    assert {"final_problem", "compose", "canon", "backends"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_example_help(example):
    result = subprocess.run(
        [sys.executable, str(example), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {example.name}")
    # --help answers before Keras (and its backend) is imported.
    assert "tensorflow/core" not in result.stderr and "absl" not in result.stderr
