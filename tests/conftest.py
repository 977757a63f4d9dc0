"""Shared fixtures: the bundled corpus, the canon when present, small trained models.

Tests read The Final Problem from the package (`datasets.load_final_problem()`),
so they run on any clone. Only tests that need the whole canon may skip, and
only with `CANON_SKIP` as their reason: under `nox` (`KERAS_NEXTWORD_STRICT_SKIPS=1`)
any other skip fails the run (see `pytest_sessionfinish`).
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The canon is never committed: benchmarks and the few tests that need it read
# the copy beside the repository, when there is one.
CANON = REPO.parent / "shared" / "data" / "complete_sherlock_holmes.txt"
CANON_SKIP = (
    "needs the Sherlock Holmes canon (3.9 MB download): "
    f"put complete_sherlock_holmes.txt at {CANON}"
)
BACKENDS = ("jax", "tensorflow", "torch")


def backend():
    return os.environ.get("KERAS_BACKEND", "jax")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "backend(name): runs in the test session of that Keras backend only (deselected, "
        "not skipped, in the others)",
    )


def pytest_collection_modifyitems(config, items):
    def elsewhere(item):
        marker = item.get_closest_marker("backend")
        return marker is not None and backend() not in marker.args

    dropped = [item for item in items if elsewhere(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not elsewhere(item)]


_skips = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        # Docstring examples marked `+SKIP` (long training) are not tests that skip.
        if CANON_SKIP not in reason and "skipped by +SKIP" not in reason:
            _skips.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    """A test that skips where a user runs the suite is a test that never runs:
    with `KERAS_NEXTWORD_STRICT_SKIPS=1`, only canon skips are allowed."""
    if _skips and os.environ.get("KERAS_NEXTWORD_STRICT_SKIPS") == "1":
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"{len(_skips)} test(s) skipped that must run:", red=True)
            for line in _skips:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def final_problem_path():
    from keras_nextword.text import datasets

    return Path(datasets.load_final_problem())


@pytest.fixture(scope="session")
def canon_path():
    if not CANON.exists():
        pytest.skip(CANON_SKIP)
    return CANON


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


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The first 200 lines of the bundled corpus: a small file for CLI runs."""
    from keras_nextword.text import data, datasets

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
