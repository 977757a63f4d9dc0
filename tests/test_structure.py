"""The package's shape: subpackages in layers, imports one way, no cycle, small modules."""

import ast

import pytest

from conftest import REPO

pytestmark = pytest.mark.backend("jax")  # reads source files: the same on every backend

PACKAGE = REPO / "keras_nextword"
# Lowest first: a module imports modules of its own subpackage or of lower ones only.
LAYERS = [
    "runtime",  # the environment, backend choice, distribution
    "text",  # words and ids, corpus files and splits, tf.data layouts
    "generation",  # samplers and decoding loops over any model's `call_with_cache`
    "layers",  # Keras pieces with no model knowledge: losses, metrics, callbacks, optimizers
    "models",  # the NextWordLSTM family
    "io",  # saving, loading, export
    "training",  # from_text and its phases
    "serve",  # the HTTP server and its page
    "cli",  # the command line
]
TOP = {"__init__", "__main__"}  # the public API and `python -m`: above everything
# Imports made inside a function, upward on purpose, each with its reason in the code.
UPWARD = {
    ("models.next_word_lstm.causal_lm", "training.from_text"),  # from_text builds the model
}


def modules():
    """Dotted name (under the package) -> path, for every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path, names):
    """The package modules `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_nextword"):
            base = node.module.split(".", 1)[1] if "." in node.module else ""
            for alias in node.names:
                leaf = f"{base}.{alias.name}" if base else alias.name
                found.add(leaf if leaf in names else base)
        elif isinstance(node, ast.Import):
            found |= {
                a.name.split(".", 1)[1] for a in node.names if a.name.startswith("keras_nextword.")
            }
    return found & set(names)


def layer(name):
    return len(LAYERS) if name in TOP else LAYERS.index(name.split(".")[0])


def test_every_module_is_in_a_layer():
    placed = {name for name in modules() if name not in TOP}
    assert {name.split(".")[0] for name in placed} <= set(LAYERS)


def test_imports_run_one_way():
    found = modules()
    upward = {
        (name, other)
        for name, path in found.items()
        for other in imports(path, found)
        if layer(other) > layer(name)
    }
    assert upward == UPWARD


def test_no_import_cycle():
    found = modules()
    graph = {  # every import, inner ones too, but the upward ones allowed
        name: imports(path, found) - {name} - {other for low, other in UPWARD if low == name}
        for name, path in found.items()
    }
    done, path = set(), []

    def visit(name):
        assert name not in path, f"import cycle: {' -> '.join(path[path.index(name) :] + [name])}"
        if name in done:
            return
        path.append(name)
        for other in sorted(graph[name]):
            visit(other)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_modules_stay_under_400_lines():
    lengths = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 400} == {}


def code_lines(node, source):
    """Lines of `node` that are code: no docstring, comment or blank line."""
    docs = set()
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docs |= set(range(body[0].lineno, body[0].end_lineno + 1))
    lines = source.splitlines()
    return sum(
        1
        for number in range(node.lineno, node.end_lineno + 1)
        if number not in docs and lines[number - 1].strip()[:1] not in ("", "#")
    )


def test_classes_stay_under_250_lines_of_code():
    lengths = {}
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                lengths[f"{path.name}:{node.name}"] = code_lines(node, source)
    assert lengths["causal_lm.py:NextWordLSTM"] > 50  # counted
    assert {name: n for name, n in lengths.items() if n > 250} == {}


def test_functions_stay_under_about_60_lines_of_code():
    lengths = {}
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lengths[f"{path.relative_to(PACKAGE)}:{node.name}"] = code_lines(node, source)
    assert lengths["training/from_text.py:from_text"] > 30  # counted
    # About 60: `from_text`'s body, a call per phase, is the longest at 64.
    assert {name: n for name, n in lengths.items() if n > 65} == {}
