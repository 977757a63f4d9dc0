"""The process the package runs in: the Keras backend, and TensorFlow imported quietly.

The backend is JAX unless the user chose one (`KERAS_BACKEND`, or another
`backend` than `"tensorflow"` in `~/.keras/keras.json`, which Keras writes
itself on first import) or Keras is already imported: Keras' own default is
TensorFlow, the slowest of the three here for LSTMs.

TensorFlow (and keras-hub, which imports it) are imported once, here: the
package runs `tf.data` and `TextVectorization` on TensorFlow whatever the Keras
backend. Modules import `tf` and `keras_hub` from here, which loads them on
first use.

Importing TensorFlow 2.21 prints C++ start-up logs (oneDNN notes, CUDA probing)
before its logging is set up, where no environment variable reaches them: to a
user of the JAX or PyTorch backend they are alarming noise, so standard error
is silenced while TensorFlow loads (Python errors still raise). With another
Keras backend, TensorFlow is also kept off the GPUs: it would otherwise reserve
their memory for the host-side text pipeline, which the training backend needs.
"""

import contextlib
import importlib.util
import json
import os
import sys


def _backend_chosen():
    """Whether the user chose a Keras backend (environment, or keras.json
    naming another than the `"tensorflow"` Keras writes there by default)."""
    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules:
        return True
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow") != "tensorflow"
    except (OSError, ValueError):
        return False


if not _backend_chosen() and importlib.util.find_spec("jax") is not None:
    os.environ["KERAS_BACKEND"] = "jax"


@contextlib.contextmanager
def _silenced_stderr():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_quietly():
    """Imports TensorFlow and keras-hub, standard error silenced on first import."""
    global tf, keras_hub
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # a user's own setting wins
    if "tensorflow" in sys.modules:
        import keras_hub
        import tensorflow as tf

        return
    with _silenced_stderr():
        import keras
        import keras_hub
        import tensorflow as tf

        if keras.config.backend() != "tensorflow":
            tf.config.set_visible_devices([], "GPU")


def __getattr__(name):
    # `from keras_nextword.runtime.environment import tf` imports TensorFlow on first
    # use, so that importing the package (`keras-nextword --help`) stays light.
    if name in ("tf", "keras_hub"):
        _import_quietly()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
