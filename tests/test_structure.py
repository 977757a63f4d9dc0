"""The package's shape: imports run one way, and modules stay small."""

import ast

import pytest

from conftest import REPO

pytestmark = pytest.mark.backend("jax")  # reads source files: the same on every backend

PACKAGE = REPO / "keras_nextword"
# Lowest first: a module imports modules of its own layer or lower only.
LAYERS = [
    {"environment", "backend", "distribution", "datasets", "losses", "plotting", "initializers"},
    {"tokenizer", "backbone", "sampled_softmax", "optimizers", "buckets"},
    {"preprocessing", "data", "recipe", "pipeline", "prompts", "preprocessor", "samplers"},
    {"generation", "decoding", "suggest", "metrics", "callbacks", "raw_text", "export"},
    {"model", "presets", "saving"},
    {"training"},
    {"commands", "keyboard_commands", "cli", "__main__", "__init__"},
]
# Imports made inside a function, upward on purpose, each with its reason in the code.
UPWARD = {
    ("model", "training"),  # NextWordLSTM.from_text: the recipe is the layer above
}


def imports(path):
    """The package modules `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_nextword"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found |= {a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists()}
        elif isinstance(node, ast.Import):
            found |= {
                a.name.split(".")[1] for a in node.names if a.name.startswith("keras_nextword.")
            }
    return found - {path.stem}


def test_imports_run_one_way():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    modules = {path.stem: path for path in PACKAGE.glob("*.py")}
    assert set(modules) == set(layer), "place each module in a layer"
    upward = {
        (name, other)
        for name, path in modules.items()
        for other in imports(path)
        if layer[other] > layer[name]
    }
    assert upward == UPWARD


def test_modules_stay_under_400_lines():
    lengths = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.glob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 400} == {}
