"""Test sessions, one per Keras backend, the lowest supported Keras, and lint: `nox` runs them all.

Each test session installs all three backends, because the tests also load
models saved under this backend on the other two. Docstring examples run as
doctests. A test that skips fails the session, unless it needs the canon
(`tests/conftest.py`): a skipped test is one that never runs on a user's clone.
"""

import nox

BACKENDS = ("jax", "tensorflow", "torch")
# The floors pyproject.toml states: ReversibleEmbedding (tied weights) first
# shipped in Keras 3.12, and keras-hub 0.25 is the newest release that takes it.
LOWEST = ("keras==3.12.0", "keras-hub==0.25.0")
nox.options.sessions = ["lint", *(f"tests-{backend}" for backend in BACKENDS), "tests-lowest"]
nox.options.error_on_missing_interpreters = False
LOWEST_TESTS = [
    "tests/test_model.py",
    "tests/test_training.py",
    "tests/test_generation.py",
    "tests/test_saving.py",
]
STRICT = {"KERAS_NEXTWORD_STRICT_SKIPS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def install(session, *extra):
    # The pinned CPU torch first: an unpinned one pulls gigabytes of CUDA wheels.
    session.install("torch==2.13.0")
    session.install("-e", ".[jax,tensorflow,torch,test,export]", *extra)


def tests_session(backend):
    @nox.session(name=f"tests-{backend}")
    def tests(session):
        install(session)
        session.run(
            "pytest",
            "--doctest-modules",
            "--durations=15",
            *session.posargs,
            env={"KERAS_BACKEND": backend, **STRICT},
        )

    return tests


for _backend in BACKENDS:
    tests_session(_backend)


@nox.session(name="tests-lowest")
def tests_lowest(session):
    """The model, training, generation and saving tests (the code that calls Keras and
    keras-hub most) on JAX with the lowest Keras and keras-hub pyproject.toml allows."""
    install(session, *LOWEST)
    session.run(
        "pytest",
        *(session.posargs or LOWEST_TESTS),
        env={"KERAS_BACKEND": "jax", **STRICT},
    )
