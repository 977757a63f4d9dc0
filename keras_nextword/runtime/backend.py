"""The one place that names a backend: compiling a function that updates variables,
and tracing random draws that compile fast."""

import contextlib

import keras


def jit_with_variables(fn, variables):
    """Compiles `fn` with the active backend's compiler; `fn` may update `variables`.

    JAX: `jax.jit`, with `variables` passed in and out through a
    `keras.StatelessScope` (a jitted function must not touch Keras variables);
    TensorFlow: `tf.function(jit_compile=True)`, which updates them in place;
    PyTorch: eager under `torch.no_grad()` (a `torch.compile` of a while loop
    costs more than it saves, and nothing here is differentiated).
    Every argument of `fn` must be a tensor or a nest of tensors, so weights are
    passed in rather than closed over.

    Args:
        fn: a function of tensors.
        variables: the Keras variables `fn` reads and assigns (e.g. a sampler's
            seed state).

    Returns:
        A function with the signature of `fn`.
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # No autograph (the loops are keras.ops already): its conversion of the
        # model's methods kept every model that ever suggested alive under pytest.
        return tf.function(fn, jit_compile=True, autograph=False)
    if backend == "torch":
        import torch

        return torch.no_grad()(fn)
    if backend != "jax":
        return fn

    import jax

    @jax.jit
    def stateless(state, *args):
        with keras.StatelessScope(state_mapping=zip(variables, state)) as scope:
            outputs = fn(*args)
        new_state = [scope.get_current_value(v) for v in variables]
        return outputs, [s if n is None else n for s, n in zip(state, new_state)]

    def call(*args):
        outputs, state = stateless([v.value for v in variables], *args)
        for variable, value in zip(variables, state):
            variable.assign(value)
        return outputs

    return call


def fast_compiling_random():
    """A context in which random draws are traced to what compiles fastest.

    On JAX's CPU backend, JAX's threefry random bits without its
    `threefry_partitionable` form (JAX's default), which lays them out to be
    split across devices without communication and compiles several times
    slower on the CPU: `NextWordLSTM`'s two dropout masks took most of the
    compile time of its train step (docs/benchmarks.md). Elsewhere, nothing
    changes. The draws stay seeded: the same seed gives the same mask.

    Returns:
        A context manager.

    Example:
    >>> with fast_compiling_random():
    ...     mask = keras.random.uniform((2, 3), seed=1) < 0.5
    >>> tuple(mask.shape)
    (2, 3)
    """
    if keras.config.backend() != "jax":
        return contextlib.nullcontext()
    import jax

    if jax.default_backend() != "cpu":
        return contextlib.nullcontext()
    return jax.threefry_partitionable(False)
