"""The one place that names a backend: how to compile a pure function on each."""

import keras


def jit(fn):
    """Compiles `fn` with the active backend's compiler.

    JAX: `jax.jit`; TensorFlow: `tf.function(jit_compile=True)` (XLA); PyTorch:
    eager (a `torch.compile` of a while loop costs more than it saves here).
    Every argument of `fn` must be a tensor or a nest of tensors, so weights are
    passed in rather than closed over.
    """
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True, reduce_retracing=False)
    return fn
