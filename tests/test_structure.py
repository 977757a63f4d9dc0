"""The package's shape: imports run one way, and modules stay small."""

import ast

import pytest

from conftest import REPO

pytestmark = pytest.mark.backend("jax")  # reads source files: the same on every backend

PACKAGE = REPO / "keras_nextword"
# Lowest first: a module imports modules of its own layer or lower only.
LAYERS = [
    {"environment", "backend", "distribution", "datasets", "losses", "plotting", "initializers"},
    {"tokenizer", "backbone", "sampled_softmax", "optimizers"},
    {"preprocessing", "data", "recipe", "pipeline", "prompts", "preprocessor", "samplers"},
    {"generation", "decoding", "suggest", "metrics", "callbacks", "raw_text", "export"},
    {"model", "presets", "saving"},
    {"training"},
    {"commands", "keyboard_commands", "cli", "__main__", "__init__", "serve"},
]
# Imports made inside a function, upward on purpose, each with its reason in the code.
UPWARD = {
    ("model", "training"),  # NextWordLSTM.from_text: the recipe is the layer above
}


def modules():
    """The package's modules and subpackages (`serve/`), each as its files."""
    found = {path.stem: [path] for path in PACKAGE.glob("*.py")}
    for init in PACKAGE.glob("*/__init__.py"):
        found[init.parent.name] = sorted(init.parent.glob("*.py"))
    return found


def imports(name, paths):
    """The package modules that module (or subpackage) `name`'s files import."""
    found = set()
    for path in paths:
        found |= _imports(path)
    return found - {name}


def _imports(path):
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
    return found


def test_imports_run_one_way():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    found = modules()
    assert set(found) == set(layer), "place each module in a layer"
    upward = {
        (name, other)
        for name, paths in found.items()
        for other in imports(name, paths)
        if layer[other] > layer[name]
    }
    assert upward == UPWARD


def test_modules_stay_under_400_lines():
    lengths = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 400} == {}
