"""Test sessions, one per Keras backend, plus lint: `nox` runs them all.

Each test session installs all three backends, because the tests also load
models saved under this backend on the other two.
"""

import nox

BACKENDS = ("jax", "tensorflow", "torch")
nox.options.sessions = ["lint", *(f"tests-{backend}" for backend in BACKENDS)]
nox.options.error_on_missing_interpreters = False


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def tests_session(backend):
    @nox.session(name=f"tests-{backend}")
    def tests(session):
        # The pinned CPU torch first: an unpinned one pulls gigabytes of CUDA wheels.
        session.install("torch==2.13.0")
        session.install("-e", ".[jax,tensorflow,torch,test]")
        session.run("pytest", *session.posargs, env={"KERAS_BACKEND": backend})

    return tests


for _backend in BACKENDS:
    tests_session(_backend)
