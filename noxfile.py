"""Test sessions and lint: `nox` runs `lint`, `tests` (the three Keras backends, one
after the other, in one environment) and `tests-lowest` (the lowest supported Keras).

Each backend's tests need all three backends installed anyway, because they also load
models saved under one backend on the other two; one environment for the three saves
two installs of about 2 minutes each. `nox -s tests-jax` (or `-tensorflow`,
`-torch`) runs one backend. Docstring examples run as doctests. A test that skips
fails the session, unless it needs the canon (`tests/conftest.py`): a skipped test
is one that never runs on a user's clone.

The tests build many models of the same shapes, each compiling the same train and
test steps on JAX: each session keeps JAX's persistent compilation cache in its own
temporary folder, so a step compiles once per session (the tests and their
subprocesses alike); what a test checks is unchanged.

Most of a test's time is one core's: compiling a step, importing Keras in a
subprocess, waiting on one. The tests run in two pytest-xdist workers (`WORKERS`),
which keep both cores of a two-core CI machine busy; `nox -- -n 0` runs them in one
process.
"""

from pathlib import Path

import nox

BACKENDS = ("jax", "tensorflow", "torch")
# The floors pyproject.toml states: ReversibleEmbedding (tied weights) first
# shipped in Keras 3.12, and keras-hub 0.25 is the newest release that takes it.
LOWEST = ("keras==3.12.0", "keras-hub==0.25.0")
nox.options.sessions = ["lint", "tests", "tests-lowest"]
nox.options.error_on_missing_interpreters = False
LOWEST_TESTS = [
    "tests/models/next_word_lstm/test_causal_lm.py",
    "tests/training/test_from_text.py",
    "tests/generation/test_generate.py",
    "tests/io/test_saving.py",
]
WORKERS = ("-n", "2")
STRICT = {"KERAS_NEXTWORD_STRICT_SKIPS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def install(session, *extra):
    # The pinned CPU torch first: an unpinned one pulls gigabytes of CUDA wheels.
    session.install("torch==2.13.0")
    session.install("-e", ".[jax,tensorflow,torch,test,export,serve]", *extra)


def test_env(session, backend):
    cache = Path(session.create_tmp()) / "jax-compilation-cache"
    return {
        "KERAS_BACKEND": backend,
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        **STRICT,
    }


def run_tests(session, backend):
    session.log(f"tests on {backend}")
    session.run(
        "pytest",
        "--doctest-modules",
        "--durations=15",
        *WORKERS,
        *session.posargs,
        env=test_env(session, backend),
    )


@nox.session
def tests(session):
    """The tests and doctests on JAX, TensorFlow and PyTorch, in that order."""
    install(session)
    for backend in BACKENDS:
        run_tests(session, backend)


def backend_session(backend):
    @nox.session(name=f"tests-{backend}", default=False)
    def tests_on(session):
        install(session)
        run_tests(session, backend)

    tests_on.__doc__ = f"The tests and doctests on {backend} only."
    return tests_on


for _backend in BACKENDS:
    backend_session(_backend)


@nox.session(name="tests-lowest")
def tests_lowest(session):
    """The model, training, generation and saving tests (the code that calls Keras and
    keras-hub most) on JAX with the lowest Keras and keras-hub pyproject.toml allows."""
    install(session, *LOWEST)
    session.run(
        "pytest", *WORKERS, *(session.posargs or LOWEST_TESTS), env=test_env(session, "jax")
    )
