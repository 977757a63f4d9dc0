"""Training on several devices with Keras' own engine: `keras.distribution` on JAX.

`data_parallel()` replicates the model on every local device (or every device
of every process, after `initialize()`) and splits each global batch across
them; `NextWordLSTM.from_text(..., distribution=...)` and the CLI's
`train --data-parallel` use it.

Across processes (hosts, or several processes on one machine), every process
runs the same program: `initialize()` joins them into one JAX group before the
first Keras operation, each process reads the whole corpus and builds the same
vocabulary, and Keras hands each process its share of every global batch
(`keras.distribution.DataParallel` shards the `tf.data` pipeline: each global
batch is cut into one piece per process, then split across that process's
devices). See docs/distribution.md.
"""

import hashlib
import os

import keras

# Environment variables that name a process group: Keras' own, and JAX's.
GROUP_VARIABLES = {
    "coordinator_address": ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS"),
    "num_processes": ("KERAS_DISTRIBUTION_NUM_PROCESSES",),
    "process_id": ("KERAS_DISTRIBUTION_PROCESS_ID",),
}


def launched_as_group(environ=None):
    """Whether this process was started as one of several: a process group is
    named in the environment (`GROUP_VARIABLES`), or a launcher that JAX reads
    started more than one process (SLURM, Open MPI, a multi-host Cloud TPU).

    Args:
        environ: a mapping, `os.environ` when None.

    Returns:
        bool.

    Example:
    >>> launched_as_group({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2"})
    True
    >>> launched_as_group({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"})
    False
    """
    environ = os.environ if environ is None else environ
    if any(name in environ for names in GROUP_VARIABLES.values() for name in names):
        return True
    if "SLURM_JOB_ID" in environ and int(environ.get("SLURM_NTASKS", "1")) > 1:
        return True
    if "OMPI_MCA_orte_hnp_uri" in environ and int(environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return True
    return len(environ.get("TPU_WORKER_HOSTNAMES", "").split(",")) > 1


def initialize(
    coordinator_address=None, num_processes=None, process_id=None, heartbeat_timeout=100
):
    """Joins this process to a group of JAX processes that train one model.

    Call it in every process, before the first Keras operation (creating a
    tensor starts JAX's runtime, which then cannot join a group); a process
    that has joined already (`jax.distributed.initialize`) stays. Arguments
    left None come from the environment: `KERAS_DISTRIBUTION_JOB_ADDRESSES`
    (or `JAX_COORDINATOR_ADDRESS`), `KERAS_DISTRIBUTION_NUM_PROCESSES` and
    `KERAS_DISTRIBUTION_PROCESS_ID`, else from what SLURM, Open MPI or Cloud
    TPU set, as `jax.distributed.initialize` reads them. CPU processes
    exchange gradients through gloo over TCP.

    Args:
        coordinator_address: `"HOST:PORT"` of process 0, which every process
            can reach; process 0 listens on PORT.
        num_processes: int, the number of processes in the group.
        process_id: int in `[0, num_processes)`, this process.
        heartbeat_timeout: int, seconds after which a silent process counts
            as dead and the others stop with an error (JAX's default: 100).

    Returns:
        `(process_id, num_processes)` as JAX sees them.

    Raises:
        ValueError: the backend is not JAX.

    Example:
    >>> initialize("10.0.0.1:1234", num_processes=2, process_id=0)  # doctest: +SKIP
    (0, 2)
    """
    _check_jax("Training in several processes")
    import jax

    def from_environment(value, name, kind):
        for variable in GROUP_VARIABLES[name]:
            if value is None and variable in os.environ:
                value = kind(os.environ[variable].split(",")[0])
        return value

    coordinator_address = from_environment(coordinator_address, "coordinator_address", str)
    num_processes = from_environment(num_processes, "num_processes", int)
    process_id = from_environment(process_id, "process_id", int)
    if jax.distributed.is_initialized():  # joined already, by the caller
        return jax.process_index(), jax.process_count()
    # CPU processes exchange gradients through gloo, over TCP: set whatever JAX's default.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        heartbeat_timeout_seconds=heartbeat_timeout,
    )
    return jax.process_index(), jax.process_count()


def process_index():
    """This process's index in its group: 0 when alone or off JAX.

    Example:
    >>> process_index()
    0
    """
    if keras.config.backend() != "jax":
        return 0
    import jax

    return jax.process_index()


def process_count():
    """The number of processes training together: 1 when alone or off JAX.

    Example:
    >>> process_count()
    1
    """
    if keras.config.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def _check_jax(what):
    backend = keras.config.backend()
    if backend != "jax":
        raise ValueError(
            f"{what} needs the JAX backend (keras.distribution runs on JAX "
            f"only); the active backend is {backend}. Set KERAS_BACKEND=jax before Keras "
            "is imported."
        )


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
    _check_jax("Data parallel training")
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


def even_batch_size(distribution, at_least=8):
    """The smallest global batch of at least `at_least` rows that splits evenly
    across `distribution`'s devices.

    Example:
    >>> class Two:  # a stand-in for a distribution over 2 devices
    ...     device_mesh = keras.distribution.DeviceMesh((2,), ["batch"], ["cpu:0", "cpu:1"])
    ...     batch_dim_name = "batch"
    >>> even_batch_size(Two(), 7)
    8
    """
    shards = batch_shards(distribution)
    return -(-at_least // shards) * shards


def in_group(distribution, seed, checkpoint_dir):
    """`from_text`'s seed and checkpoint folder when `distribution` spans processes.

    Every process must shuffle the lines the same way, or Keras would hand
    them pieces of different global batches: a seed left None is drawn on
    process 0 and shared. Each process keeps its own training state under
    `checkpoint_dir/process-I`, so processes sharing a file system never
    write the same file, and each resumes from its own last epoch.

    Args:
        distribution: a `keras.distribution.Distribution` or None.
        seed: int or None.
        checkpoint_dir: str or None.

    Returns:
        `(seed, checkpoint_dir)`, unchanged in a single process.

    Example:
    >>> in_group(None, None, "checkpoints")
    (None, 'checkpoints')
    """
    if distribution is None or process_count() == 1:
        return seed, checkpoint_dir
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
        seed = int(multihost_utils.broadcast_one_to_all(np.int32(seed)))
    if checkpoint_dir is not None:
        checkpoint_dir = os.path.join(checkpoint_dir, f"process-{jax.process_index()}")
        check_identical(_saved_state(checkpoint_dir), "saved training state")
    return seed, checkpoint_dir


def _saved_state(folder):
    """What a resumed run reads from `folder`: the last finished epoch that
    `from_text`'s `BackupAndRestore` saved, as a list of one line (empty when
    nothing was saved)."""
    path = os.path.join(folder, "training", "training_metadata.json")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [f.read()]


def agreed(flag):
    """Process 0's `flag`, on every process of the group (`flag` alone).

    A decision that each process takes from its own clock, such as stopping
    at a time limit, must be the same on all of them, or one would stop
    while the others wait for it at the next exchange of gradients.

    Args:
        flag: bool.

    Returns:
        bool.

    Example:
    >>> agreed(True)
    True
    """
    if process_count() == 1:
        return bool(flag)
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.bool_(flag)))


# Words of the JAX runtime errors raised when a peer is gone: a collective whose
# connection was reset, or the coordination service's missed heartbeat.
LOST_PROCESS_WORDS = ("gloo", "connection", "heartbeat", "unavailable", "coordination", "peer")
# The XLA status codes such errors start with, whatever exception carries them.
RUNTIME_CODES = ("unknown:", "unavailable:", "internal:", "aborted:", "cancelled:")


def lost_process(error):
    """Whether `error` means that another process of the group is gone: a JAX
    runtime error that says so (such as a collective whose peer closed its
    connection) while this process is one of several. The runtime error may
    arrive as another exception that carries its XLA status message, or as
    the cause of one: both count.

    Args:
        error: an exception.

    Returns:
        bool.

    Example:
    >>> lost_process(RuntimeError("Gloo all-reduce failed"))
    False
    """
    if process_count() == 1:
        return False
    import jax

    while error is not None:
        message = str(error).strip().lower()
        runtime = isinstance(error, jax.errors.JaxRuntimeError) or message.startswith(RUNTIME_CODES)
        if runtime and any(word in message for word in LOST_PROCESS_WORDS):
            return True
        error = error.__cause__ or error.__context__
    return False


def check_identical(words, what="vocabulary"):
    """Raises `ValueError` on every process of the group unless they all hold
    the same list of words (a vocabulary must be identical on each, or the
    processes would train different models under one set of weights). Every
    process raises, so that none goes on to wait for the others.

    Args:
        words: list of str.
        what: the name used in the error.

    Example:
    >>> check_identical(["", "[UNK]", "the"])
    """
    if process_count() == 1:
        return
    import numpy as np
    from jax.experimental import multihost_utils

    digest = hashlib.sha256("\n".join(words).encode("utf-8")).digest()
    mine = np.frombuffer(digest, np.uint32)
    digests = np.asarray(multihost_utils.process_allgather(mine))  # (processes, 8)
    differ = [i for i, digest in enumerate(digests) if not np.array_equal(digest, digests[0])]
    if differ:
        processes = ", ".join(map(str, differ))
        raise ValueError(
            f"The {what} of process{'es' if len(differ) > 1 else ''} {processes} "
            f"differ{'' if len(differ) > 1 else 's'} from process 0's: every "
            "process must read the same corpus and the same --checkpoint-dir state (a "
            "process that died while saving leaves its state behind the others': delete "
            "the checkpoint folder to start over)."
        )
