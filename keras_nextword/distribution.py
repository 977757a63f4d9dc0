"""Training on several devices with Keras' own engine: `keras.distribution` on JAX.

`data_parallel()` replicates the model on every local device (or every device
of every host, after `jax.distributed.initialize()`) and splits each global
batch across them; `NextWordLSTM.from_text(..., distribution=...)` and the
CLI's `train --data-parallel` use it.
"""

import keras


def data_parallel(devices=None):
    """Returns a `keras.distribution.DataParallel` over the devices.

    Every variable is replicated on each device and every batch is split along
    its first axis (the mesh axis `"batch"`), so each device computes the
    gradients of `batch_size / len(devices)` rows and Keras' JAX trainer sums
    them. Models must be created and trained under `distribution.scope()`;
    `NextWordLSTM.from_text(..., distribution=...)` does both.

    `keras.distribution` runs on the JAX backend only: on TensorFlow or
    PyTorch this raises rather than silently training on one device.

    Args:
        devices: list of device names such as `"gpu:0"`, or None for
            `keras.distribution.list_devices()`: every GPU (or TPU) when there
            is one, else every CPU device. Across hosts, call
            `jax.distributed.initialize()` before importing Keras; the list
            then spans all hosts.

    Returns:
        A `keras.distribution.DataParallel` with a one-axis mesh named `"batch"`.

    Raises:
        ValueError: the backend is not JAX, or `devices` is empty.

    Example:
    >>> from keras_nextword import NextWordLSTM, data_parallel, datasets
    >>> distribution = data_parallel()  # doctest: +SKIP
    >>> distribution.device_mesh.shape  # doctest: +SKIP
    (2,)
    >>> model = NextWordLSTM.from_text(
    ...     datasets.load_final_problem(), batch_size=64, distribution=distribution
    ... )  # doctest: +SKIP
    """
    backend = keras.config.backend()
    if backend != "jax":
        raise ValueError(
            f"Data parallel training needs the JAX backend (keras.distribution runs on JAX "
            f"only); the active backend is {backend}. Set KERAS_BACKEND=jax before Keras "
            "is imported."
        )
    if devices is None:
        devices = keras.distribution.list_devices()
    devices = list(devices)
    if not devices:
        raise ValueError(f"`devices` must name at least one device. Received: devices={devices}")
    return keras.distribution.DataParallel(devices=devices)


def batch_shards(distribution):
    """The number of pieces `distribution` splits every batch into: the size of
    its device mesh along the batch axis."""
    mesh = distribution.device_mesh
    return dict(zip(mesh.axis_names, mesh.shape))[distribution.batch_dim_name]


def check_batch_size(distribution, batch_size):
    """Raises `ValueError` unless `batch_size` splits evenly across `distribution`."""
    shards = batch_shards(distribution)
    if batch_size % shards:
        raise ValueError(
            f"`batch_size` is the global batch, split evenly across the devices: "
            f"it must be a multiple of the {shards} devices. Received: batch_size={batch_size}"
        )
