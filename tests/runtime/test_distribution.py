"""Data parallel training on two CPU devices and in two processes, mixed
precision, and the refusals off JAX.

The two devices exist only when XLA is told so before JAX starts
(`XLA_FLAGS=--xla_force_host_platform_device_count=2`), so those checks run in
a fresh JAX process: the flag never reaches the other tests' process. The
process groups talk over 127.0.0.1 (gloo), on a port picked free.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from conftest import REPO
from keras_nextword import NextWordLSTM
from keras_nextword.runtime import distribution

# Tests whose subprocesses choose their own backend do the same in every session:
# they run in the JAX session only.
jax_only = pytest.mark.backend("jax")
TWO_DEVICES = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def run(args, env, **kwargs):
    """Runs `python ARGS...` from this checkout with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        **kwargs,
    )


def last_json_line(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


# Trains the same model on one device and data parallel on two, from the same
# seed and data: on integer arrays (the per-step loss), and on raw strings
# through `from_text`, whose last batch of an epoch is short.
DATA_PARALLEL_RUN = """
import contextlib, json, sys
import jax, keras, numpy as np
from keras_nextword import NextWordLSTM, NGramVectorizer, data_parallel

class Probe(NextWordLSTM):
    # Records the sharding of the token ids each compiled train step receives.
    def train_step(self, state, batch):
        jax.debug.inspect_array_sharding(batch[0], callback=shardings.append)
        return super().train_step(state, batch)

class StepLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))

rng = np.random.default_rng(0)
x = rng.integers(1, 50, size=(64, 12)).astype("int32")
x[::3, :4] = 0  # pre-padded rows, masked
y = rng.integers(1, 50, size=(64, 12)).astype("int32")
w = (x > 0).astype("float32")

def train_arrays(distribution):
    keras.utils.set_random_seed(0)
    with distribution.scope() if distribution else contextlib.nullcontext():
        model = Probe.from_sizes(50, embedding_dim=8, lstm_units=16, dropout=0.5)
        steps = StepLosses()
        model.fit(x, y, sample_weight=w, batch_size=16, epochs=2, shuffle=False,
                  callbacks=[steps], verbose=0)
    return model, steps.losses

shardings = []
single, single_losses = train_arrays(None)
assert not shardings or len(shardings[0].device_set) == 1
distribution = data_parallel()
shardings = []
parallel, parallel_losses = train_arrays(distribution)
sharding = shardings[0]
kernel = parallel.backbone.lstm.cell.kernel.value.sharding

kwargs = dict(epochs=2, batch_size=32, embedding_dim=8, lstm_units=8, seed=0, verbose=0,
              dropout=0.0, early_stopping_patience=0, line_starts=False)  # rows as the mesh's
text_single = NextWordLSTM.from_text(sys.argv[1], **kwargs)
text_parallel = NextWordLSTM.from_text(sys.argv[1], distribution=distribution, **kwargs)
text_parallel.save(sys.argv[2])
restored = keras.saving.load_model(sys.argv[2])
prompt = "it is with a heavy heart"
print(json.dumps({
    "devices": keras.distribution.list_devices(),
    "layout": list(distribution.get_data_layout((16, 12)).axes),
    "single_losses": single_losses,
    "parallel_losses": parallel_losses,
    "weights_gap": max(float(np.max(np.abs(a - b)))
                       for a, b in zip(single.get_weights(), parallel.get_weights())),
    "batch_devices": len(sharding.device_set),
    "batch_shard": list(sharding.shard_shape((16, 12))),
    "kernel_devices": len(kernel.device_set),
    "kernel_replicated": kernel.is_fully_replicated,
    "text_single": text_single.history.history,
    "text_parallel": text_parallel.history.history,
    "text_weights_gap": max(float(np.max(np.abs(a - b))) for a, b in
                            zip(text_single.get_weights(), text_parallel.get_weights())),
    "generated": [m.generate(prompt, max_length=4) for m in (text_single, text_parallel, restored)],
    "predict_gap": float(np.max(np.abs(text_single.predict([prompt], verbose=0)
                                       - text_parallel.predict([prompt], verbose=0)))),
}))
"""


@jax_only
def test_data_parallel_trains_as_one_device(corpus, tmp_path):
    result = run(["-c", DATA_PARALLEL_RUN, corpus, tmp_path / "parallel.keras"], TWO_DEVICES)
    out = last_json_line(result)
    assert out["devices"] == ["cpu:0", "cpu:1"]
    # Every batch is split over the mesh's "batch" axis: 8 of the 16 rows on each
    # device; the variables are whole on both.
    assert out["layout"] == ["batch", None]
    assert out["batch_devices"] == 2 and out["batch_shard"] == [8, 12]
    assert out["kernel_devices"] == 2 and out["kernel_replicated"]
    # The same loss step by step (dropout included) and the same weights after.
    assert len(out["single_losses"]) == 8
    np.testing.assert_allclose(out["parallel_losses"], out["single_losses"], rtol=1e-5)
    assert out["weights_gap"] < 1e-5
    # From raw strings: the short last batch is padded with weight-0 rows, so the
    # weighted metrics and the weights are those of one device; Keras' epoch
    # `loss` is a mean over batches weighted by rows, padding counted.
    single, parallel = out["text_single"], out["text_parallel"]
    for name in ("perplexity", "accuracy", "val_loss", "val_perplexity", "val_accuracy"):
        np.testing.assert_allclose(parallel[name], single[name], rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(parallel["loss"], single["loss"], rtol=1e-3)
    assert out["text_weights_gap"] < 1e-5
    # Outside the scope, the replicated weights predict and generate as usual.
    assert len(set(out["generated"])) == 1
    assert out["predict_gap"] < 1e-5


@jax_only
def test_cli_data_parallel_with_mixed_precision(corpus, tmp_path):
    model_path = tmp_path / "model.keras"
    args = ["--epochs", "1", "--embedding-dim", "8", "--lstm-units", "8", "--seed", "0"]
    # No --batch-size: from_text chooses one that splits evenly (it raised a TypeError).
    result = run(
        ["-m", "keras_nextword", "train", corpus, "--out", model_path, *args]
        + ["--data-parallel", "--mixed-precision", "bfloat16"],
        TWO_DEVICES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Process 0 of 1, 2 devices in all" in result.stdout
    assert "Data parallel on 2 devices (cpu:0, cpu:1), the batch split evenly," in result.stdout
    model = keras.saving.load_model(model_path)
    assert model.dtype_policy.name == model.backbone.lstm.dtype_policy.name == "mixed_bfloat16"
    assert model.training_settings["batch_size"] % 2 == 0


@jax_only
def test_cli_data_parallel_refuses_an_odd_batch(corpus, tmp_path):
    result = run(
        ["-m", "keras_nextword", "train", corpus, "--out", tmp_path / "m.keras"]
        + ["--data-parallel", "--batch-size", "33"],
        TWO_DEVICES,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.fullmatch(
        r"keras-nextword: error: `batch_size` is the global batch, .* a multiple of the 2 "
        r"devices\. Received: batch_size=33",
        result.stderr.splitlines()[-1],
    )


@jax_only
def test_cli_data_parallel_is_refused_off_jax(corpus, tmp_path):
    result = run(
        ["-m", "keras_nextword", "train", corpus, "--out", tmp_path / "m.keras"]
        + ["--data-parallel", "--backend", "torch"],
        {},
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "keras-nextword: error: --data-parallel needs --backend jax: keras.distribution "
        "does not run on torch"
    )
    assert not (tmp_path / "m.keras").exists()


@jax_only
def test_data_parallel_raises_off_jax():
    code = (
        "from keras_nextword import data_parallel\n"
        "try:\n    data_parallel()\nexcept ValueError as error:\n    print(error)\n"
    )
    result = run(["-c", code], {"KERAS_BACKEND": "torch"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the active backend is torch" in result.stdout


def test_mixed_bfloat16_trains_saves_and_generates(corpus, tmp_path):
    model = NextWordLSTM.from_text(
        corpus,
        epochs=1,
        batch_size=64,
        embedding_dim=8,
        lstm_units=16,  # tied through a projection: `model.head` is that Dense
        seed=0,
        verbose=0,
        early_stopping_patience=0,
        dtype_policy="mixed_bfloat16",
    )
    for layer in (model.backbone.token_embedding, model.backbone.lstm, model.head):
        assert layer.dtype_policy.name == "mixed_bfloat16"
        assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32"
    assert np.isfinite(model.history.history["loss"]).all()
    prompt = "it is with a heavy heart"
    probabilities = model.predict([prompt], verbose=0)
    assert probabilities.dtype == np.float32  # the softmax stays float32
    path = tmp_path / "bf16.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert (
        restored.dtype_policy.name == restored.backbone.lstm.dtype_policy.name == "mixed_bfloat16"
    )
    np.testing.assert_allclose(restored.predict([prompt], verbose=0), probabilities, atol=1e-6)
    text = restored.generate(prompt, max_length=4)
    assert text == model.generate(prompt, max_length=4)
    assert len(text.split()) == len(prompt.split()) + 4


def test_mixed_float16_scales_the_loss():
    model = NextWordLSTM.from_sizes(10, embedding_dim=4, lstm_units=4, dtype="mixed_float16")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert NextWordLSTM.from_config(model.get_config()).dtype_policy.name == "mixed_float16"


def test_default_batch_splits_evenly():
    class Three:  # a stand-in for a distribution over 3 devices
        device_mesh = keras.distribution.DeviceMesh((3,), ["batch"], ["cpu:0"] * 3)
        batch_dim_name = "batch"

    assert [distribution.even_batch_size(Three(), n) for n in (1, 3, 8, 9)] == [3, 3, 9, 9]


def test_launchers_that_start_a_group():
    assert not distribution.launched_as_group({})
    assert distribution.launched_as_group({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"})
    assert distribution.launched_as_group({"KERAS_DISTRIBUTION_PROCESS_ID": "1"})
    assert distribution.launched_as_group({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"})
    assert not distribution.launched_as_group({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"})
    mpi = {"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1"}
    assert distribution.launched_as_group({**mpi, "OMPI_COMM_WORLD_SIZE": "2"})
    assert not distribution.launched_as_group({**mpi, "OMPI_COMM_WORLD_SIZE": "1"})
    assert distribution.launched_as_group({"TPU_WORKER_HOSTNAMES": "a,b"})


# The groups run JAX whatever this session's backend: the jax session runs them
# (deselected elsewhere, see conftest.py).
SMALL = ["--embedding-dim", "8", "--lstm-units", "8", "--seed", "0", "--patience", "0"]
ONE_DEVICE = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_group(args, folder, corpus_of=None):
    """Starts `keras-nextword train ARGS` as processes 0 and 1 of a group over
    127.0.0.1, each with one CPU device; their output goes to files in `folder`.
    `corpus_of` maps a process index to a corpus that replaces `args[0]`."""
    port = free_port()
    processes = []
    for index in range(2):
        own = [(corpus_of or {}).get(index, args[0]), *args[1:]]
        command = [sys.executable, "-m", "keras_nextword", "train", *map(str, own)]
        command += ["--coordinator-address", f"127.0.0.1:{port}", "--num-processes", "2"]
        command += ["--process-id", str(index), "--heartbeat-timeout", "5"]
        stdout = open(folder / f"out{index}.txt", "w", encoding="utf-8")  # noqa: SIM115
        stderr = open(folder / f"err{index}.txt", "w", encoding="utf-8")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                command,
                stdout=stdout,
                stderr=stderr,
                cwd=REPO,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **ONE_DEVICE},
            )
        )
        stdout.close()
        stderr.close()
    return processes


def finish(processes, timeout=240):
    """Waits for every process; kills those still running after `timeout` s."""
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(max(1, deadline - time.monotonic())) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()


def output(folder, name, index):
    return (folder / f"{name}{index}.txt").read_text(encoding="utf-8")


def epoch_losses(text):
    """The training loss that each epoch's line prints (`callbacks.Progress`)."""
    return [float(loss) for loss in re.findall(r"\| train loss ([0-9.e+-]+)", text)]


@jax_only
def test_two_processes_train_one_model(corpus, tmp_path):
    args = [corpus, "--epochs", "2", "--batch-size", "32", "--data-parallel", *SMALL]
    group = start_group([*args, "--out", tmp_path / "group" / "model.keras"], tmp_path)
    alone = subprocess.Popen(
        [sys.executable, "-m", "keras_nextword", "train", *map(str, args)]
        + ["--out", str(tmp_path / "alone" / "model.keras")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **TWO_DEVICES},
    )
    statuses = finish(group)
    alone_out, alone_err = alone.communicate(timeout=240)
    assert statuses == [0, 0], (
        output(tmp_path, "err", 0)[-2000:] + output(tmp_path, "err", 1)[-2000:]
    )
    assert alone.returncode == 0, alone_err[-3000:]
    outs = [output(tmp_path, "out", index) for index in range(2)]
    for index, out in enumerate(outs):
        assert f"Process {index} of 2, 2 devices in all" in out
    # One model: the same global batches and the same loss on both processes,
    # epoch by epoch, and those of one process with two devices.
    losses = [epoch_losses(out) for out in outs]
    assert len(losses[0]) == 2 and losses[0] == losses[1] == epoch_losses(alone_out)
    # Process 0 alone writes.
    assert sorted(p.name for p in (tmp_path / "group").iterdir()) == [
        "model.history.json",
        "model.history.png",
        "model.keras",
    ]
    assert "Process 1 done: process 0 saves" in outs[1]
    group_model = keras.saving.load_model(tmp_path / "group" / "model.keras")
    alone_model = keras.saving.load_model(tmp_path / "alone" / "model.keras")
    for a, b in zip(group_model.get_weights(), alone_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


@jax_only
def test_killed_process_stops_the_group_which_resumes(corpus, tmp_path):
    args = [corpus, "--epochs", "4", "--batch-size", "32", "--data-parallel", *SMALL]
    args += [
        "--validation-split",
        "0",
        "--out",
        tmp_path / "model.keras",
        "--checkpoint-dir",
        tmp_path / "checkpoints",
    ]
    processes = start_group(args, tmp_path)
    try:
        # Both in epoch 3: epochs 1 and 2 saved (the epoch's line prints after its
        # backup), and process 0 inside a step's collective, which fails at once when
        # its peer's connection closes. (Killed while process 0 still saves, JAX's
        # coordination service would end it after the heartbeat timeout instead: an
        # abort, with JAX's message; see `train`.)
        deadline = time.monotonic() + 180
        while not all("epoch 2/4 took" in output(tmp_path, "out", index) for index in range(2)):
            assert time.monotonic() < deadline and all(p.poll() is None for p in processes)
            time.sleep(0.2)
        processes[1].send_signal(signal.SIGKILL)
        # The other stops by itself, soon (5 s heartbeat), with a one-line error.
        assert finish(processes[:1], timeout=60) == [1]
    finally:
        finish(processes, timeout=0)
    last = output(tmp_path, "err", 0).splitlines()[-1]
    assert re.fullmatch(
        r"keras-nextword: error: process 0 of 2 stopped: another process of the group is "
        r"gone \(.+\)\. Start every process again with the same command; with "
        r"--checkpoint-dir they resume from the last finished epoch\.",
        last,
    ), last
    assert not (tmp_path / "model.keras").exists()

    # The same command again: both resume after epoch 2, and finish.
    processes = start_group(args, tmp_path)
    assert finish(processes) == [0, 0], output(tmp_path, "err", 0)[-3000:]
    for index in range(2):
        epochs = re.findall(r"epoch (\d)/4 took", output(tmp_path, "out", index))
        assert epochs == ["3", "4"], epochs
    assert (tmp_path / "model.keras").exists()


@jax_only
def test_a_process_that_fails_at_start_frees_the_group(corpus, tmp_path):
    """Process 1's corpus is missing: it says so and exits at once, and process 0,
    left alone, is ended within the heartbeat timeout. Both once waited 5 minutes
    at JAX's shutdown barrier and were then aborted."""
    args = [corpus, "--epochs", "2", "--batch-size", "32", "--data-parallel", *SMALL]
    args += ["--out", tmp_path / "model.keras"]
    missing = tmp_path / "missing.txt"
    processes = start_group(args, tmp_path, corpus_of={1: missing})
    statuses = finish(processes, timeout=90)
    assert statuses[1] == 2, output(tmp_path, "err", 1)[-2000:]
    assert output(tmp_path, "err", 1).splitlines()[-1] == (
        f"keras-nextword: error: process 1 of 2: {missing}: no such file or directory"
    )
    # Ended by JAX's coordination service (or a failed collective), not by `finish`.
    assert statuses[0] in (1, -signal.SIGABRT), output(tmp_path, "err", 0)[-2000:]
    assert not (tmp_path / "model.keras").exists()


GROUP_CHECKS = """
import json, sys
from keras_nextword.runtime import distribution

port, index, folder = sys.argv[1:]
print(distribution.initialize(f"127.0.0.1:{port}", 2, int(index), heartbeat_timeout=5))
parallel = distribution.data_parallel()
seed, folder = distribution.in_group(parallel, None, folder)
distribution.check_identical(["", "[UNK]", "the"])
try:
    distribution.check_identical(["", "[UNK]", "the", f"word{index}"])
except ValueError as error:
    print(error)
agreed = [distribution.agreed(index == "1"), distribution.agreed(index == "0")]
print(json.dumps({"seed": seed, "folder": folder, "agreed": agreed}))
"""


@jax_only
def test_group_shares_a_seed_decisions_and_checks_vocabularies(tmp_path):
    port = free_port()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", GROUP_CHECKS, str(port), str(index), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **ONE_DEVICE},
        )
        for index in range(2)
    ]
    try:
        results = [p.communicate(timeout=120) for p in processes]
    finally:
        finish(processes, timeout=0)
    for p, (_, err) in zip(processes, results):
        assert p.returncode == 0, err[-3000:]
    # (gloo prints a line of its own when connected)
    outs = [[line for line in out.splitlines() if "[Gloo]" not in line] for out, _ in results]
    assert outs[0][0] == "(0, 2)" and outs[1][0] == "(1, 2)"
    # A seed left None: drawn on process 0, the same on both.
    reports = [json.loads(out[-1]) for out in outs]
    assert reports[0]["seed"] == reports[1]["seed"] is not None
    assert [r["folder"] for r in reports] == [
        str(tmp_path / "process-0"),
        str(tmp_path / "process-1"),
    ]
    # A decision from each process's own clock (the time limit): process 0's.
    assert reports[0]["agreed"] == reports[1]["agreed"] == [False, True]
    # Different vocabularies: every process says which one differs from process 0
    # (once only process 1 did, and process 0 went on to wait for it).
    for out in outs:
        assert len(out) == 3
        assert out[1].startswith("The vocabulary of process 1 differs from process 0's")


@jax_only
def test_a_lost_peer_is_recognised_whatever_exception_carries_it(monkeypatch):
    """The CLI once got the lost peer as a bad-input error (a ValueError or OSError),
    printed it as such and went on to JAX's shutdown, which aborted (exit -6)."""
    monkeypatch.setattr(distribution, "process_count", lambda: 2)
    reset = (
        "UNKNOWN: Gloo AllGather failed: [external/gloo/gloo/transport/tcp/pair.cc:538] "
        "Read error [127.0.0.1]:60630: Connection reset by peer"
    )
    assert distribution.lost_process(ValueError(reset))
    try:
        try:
            raise ValueError(reset)
        except ValueError as error:
            raise KeyError("while saving") from error
    except KeyError as error:
        assert distribution.lost_process(error)  # through its cause
    assert not distribution.lost_process(ValueError("peer.txt: no such file"))
    assert not distribution.lost_process(RuntimeError("Gloo all-reduce failed"))
    monkeypatch.setattr(distribution, "process_count", lambda: 1)
    assert not distribution.lost_process(ValueError(reset))  # alone: no peer to lose
