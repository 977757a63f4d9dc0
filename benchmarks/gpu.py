"""GPU speed: `NextWordLSTM` on JAX against a PyTorch `nn.LSTM` of the same size, one run.

    python benchmarks/gpu.py [--steps 50] [--out benchmarks/results]
    python benchmarks/gpu.py --quick --out /tmp/gpu   # a few steps: checks that it runs, CPU too

For two sizes, the tutorial's (the vocabulary of The Final Problem, embedding 100,
LSTM 150) and a canon-size one (vocabulary 15,000, embedding 256, LSTM 512), on
synthetic token ids (rows of `--length` ids, every position a next-word target):

- training samples/s (rows of `--length` ids per second; tokens/s = samples/s x
  length), one epoch of `--steps` batches of `--batch-size` after a warm-up epoch
  that compiles, for each `--policies` dtype policy:
  - ours: `NextWordLSTM` compiled as `from_text` compiles it (Adam with clipnorm
    1, weighted sparse cross-entropy, accuracy and perplexity each step). Its LSTM
    gets no mask (rows are post-padded, or re-laid so), so Keras runs it on cuDNN
    when a GPU is there;
  - torch: embedding -> `nn.LSTM` -> linear, the same loss on logits, Adam with
    each gradient clipped to norm 1 as Keras' `clipnorm` does, `torch.autocast`
    for the mixed policies (and a `GradScaler` for float16);
  - with more than one device, ours again under `keras_nextword.data_parallel()`,
    the same global batch split across the devices.
- generation words/s (best of 5 calls after one that compiles): 256 prompts x 50
  new words, greedy: `NextWordLSTM.generate` (string in, string out; float32
  weights whatever the policy) against a greedy `nn.LSTM` loop carrying its state
  (ids in, ids out).

Ratios are torch / ours (above 1: torch is faster). Writes `gpu_<device kind>.json`
(e.g. `gpu_nvidia_h100_80gb_hbm3.json`; `..._quick.json` with `--quick`) with the
device name and versions.
The torch reference runs on CUDA when this torch build has it (the pinned CPU wheel
does not: install a CUDA build of torch==2.13.0 on the GPU machine), else on CPU;
the JSON says where, and the ratios compare like with like only when both match.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# JAX takes 75% of GPU memory up front by default; torch needs its share.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import argparse
import contextlib
import json
import platform
import re
import time
from pathlib import Path

import jax
import keras
import numpy as np
import torch

from keras_nextword import NextWordLSTM, NGramVectorizer, data_parallel
from keras_nextword.text import datasets
from keras_nextword.text.data import read_lines

SIZES = {
    "tutorial": {"embedding": 100, "lstm_units": 150},  # vocabulary of The Final Problem
    "canon": {"vocabulary": 15_000, "embedding": 256, "lstm_units": 512},
}
TORCH_AUTOCAST = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}


def preprocessor_for(size):
    """The tutorial's vocabulary, or a synthetic one of the canon's size."""
    if "vocabulary" not in size:
        preprocessor = NGramVectorizer()
        preprocessor.adapt(read_lines(datasets.load_final_problem()))
        return preprocessor
    words = [f"w{i}" for i in range(2, size["vocabulary"])]
    return NGramVectorizer(vocabulary=["", "[UNK]", *words])


def synthetic_batches(vocabulary, steps, batch_size, length, seed=0):
    """`steps * batch_size` rows of ids (no padding): inputs, next-word targets, weights."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocabulary, size=(steps * batch_size, length + 1)).astype("int32")
    return ids[:, :-1], ids[:, 1:], np.ones((steps * batch_size, length), "float32")


def keras_samples_per_second(model, batches, batch_size, steps):
    x, y, w = batches
    fit = dict(batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    model.fit(x[: 2 * batch_size], y[: 2 * batch_size], sample_weight=w[: 2 * batch_size], **fit)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(x, y, sample_weight=w, **fit)  # returns once the epoch's logs are on the host
    seconds = time.perf_counter() - start
    return {"samples_per_second": steps * batch_size / seconds, "warmup_seconds": compile_seconds}


class TorchLSTM(torch.nn.Module):
    def __init__(self, vocabulary, embedding, units):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocabulary, embedding)
        self.lstm = torch.nn.LSTM(embedding, units, batch_first=True)
        self.head = torch.nn.Linear(units, vocabulary)

    def forward(self, token_ids, state=None):
        hidden, state = self.lstm(self.embedding(token_ids), state)
        return self.head(hidden), state


def torch_samples_per_second(size, batches, batch_size, steps, policy, device):
    torch.manual_seed(0)
    model = TorchLSTM(size["vocabulary"], size["embedding"], size["lstm_units"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)  # Keras' epsilon
    autocast = TORCH_AUTOCAST.get(policy)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast is torch.float16)
    x, y, w = (torch.from_numpy(a) for a in batches)

    def step(i):
        rows = slice(i * batch_size, (i + 1) * batch_size)
        xb, yb, wb = (t[rows].to(device, non_blocking=True) for t in (x, y, w))
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=bool(autocast)):
            logits, _ = model(xb.long())
            losses = torch.nn.functional.cross_entropy(
                logits.float().flatten(0, 1), yb.long().flatten(), reduction="none"
            )
            loss = (losses * wb.flatten()).sum() / wb.sum()
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        for parameter in model.parameters():  # Keras' clipnorm: each gradient on its own
            torch.nn.utils.clip_grad_norm_([parameter], 1.0)
        scaler.step(optimizer)
        scaler.update()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    for i in range(2):
        step(i)
    synchronize()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    synchronize()
    seconds = time.perf_counter() - start
    return {"samples_per_second": steps * batch_size / seconds, "warmup_seconds": warmup}


def torch_words_per_second(size, prompt_ids, words, device):
    """Greedy generation with `nn.LSTM`, the state carried, padding and [UNK] excluded."""
    torch.manual_seed(0)
    model = TorchLSTM(size["vocabulary"], size["embedding"], size["lstm_units"]).to(device)
    prompt = torch.from_numpy(prompt_ids).long().to(device)

    @torch.inference_mode()
    def generate():
        logits, state = model(prompt)
        new = []
        for _ in range(words):
            logits[..., :2] = -torch.inf
            token_ids = logits[:, -1:].argmax(-1)
            new.append(token_ids)
            logits, state = model(token_ids, state)
        return torch.cat(new, dim=1).cpu()

    generate()
    return {"words_per_second": len(prompt_ids) * words / best_seconds(generate)}


def keras_words_per_second(model, prompts, words):
    def generate():
        return model.generate(prompts, max_length=words)

    generate()  # compiles this (batch, length) bucket
    return {"words_per_second": len(prompts) * words / best_seconds(generate)}


def best_seconds(fn, repeats=5):
    """The fastest of `repeats` calls of `fn`, which returns host values (so it has finished)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name, run, *args):
    """`run(*args)`'s figures, or the error: one failing row must not lose the others."""
    try:
        result = run(*args)
    except Exception as error:  # reported in the JSON; the run goes on
        result = {"error": f"{type(error).__name__}: {error}"}
    shown = result.get("samples_per_second", result.get("words_per_second"))
    print(f"  {name:44s} " + (f"{shown:12,.0f}" if shown else result["error"][:200]), flush=True)
    return result


def ratio(torch_result, ours_result, key):
    if key in torch_result and key in ours_result:
        return torch_result[key] / ours_result[key]
    return None


def benchmark_size(name, size, policies, args, torch_device):
    preprocessor = preprocessor_for(size)
    size = {**size, "vocabulary": preprocessor.vocabulary_size()}
    shape = (size["vocabulary"], size["embedding"], size["lstm_units"])
    batches = synthetic_batches(size["vocabulary"], args.steps, args.batch_size, args.length)
    devices = keras.distribution.list_devices()
    print(f"{name}: {size}", flush=True)

    def ours(policy, distribution=None):
        keras.utils.set_random_seed(0)
        with distribution.scope() if distribution else contextlib.nullcontext():
            model = NextWordLSTM.from_sizes(*shape, dtype=policy)
            return keras_samples_per_second(model, batches, args.batch_size, args.steps)

    def reference(policy):
        return torch_samples_per_second(
            size, batches, args.batch_size, args.steps, policy, torch_device
        )

    result = {"size": size, "training": {}}
    for policy in policies:
        rows = {
            "ours": measure(f"{policy}, ours (no mask: cuDNN on GPU)", ours, policy),
            "torch": measure(f"{policy}, torch nn.LSTM ({torch_device.type})", reference, policy),
        }
        if len(devices) > 1 and args.batch_size % len(devices) == 0:
            rows["ours_data_parallel"] = measure(
                f"{policy}, ours, data parallel on {len(devices)} devices",
                ours,
                policy,
                data_parallel(),
            )
        rows["torch_over_ours"] = ratio(rows["torch"], rows["ours"], "samples_per_second")
        result["training"][policy] = rows

    model = NextWordLSTM.from_sizes(*shape, preprocessor=preprocessor)
    rng = np.random.default_rng(1)
    prompt_ids = rng.integers(2, size["vocabulary"], size=(args.prompts, 5)).astype("int32")
    prompts = [" ".join(words) for words in preprocessor.detokenize(prompt_ids)]
    generation = {
        "ours": measure("generation, ours", keras_words_per_second, model, prompts, args.words),
        "torch": measure(
            f"generation, torch nn.LSTM ({torch_device.type})",
            torch_words_per_second,
            size,
            prompt_ids,
            args.words,
            torch_device,
        ),
    }
    generation["torch_over_ours"] = ratio(
        generation["torch"], generation["ours"], "words_per_second"
    )
    result["generation"] = generation
    return result


def versions():
    found = {
        "keras": keras.__version__,
        "jax": jax.__version__,
        "jaxlib": jax.lib.__version__,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
    }
    try:
        from jax.extend.backend import get_backend

        found["jax_platform_version"] = get_backend().platform_version
    except (ImportError, RuntimeError):
        pass
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="timed training steps")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch (rows)")
    parser.add_argument("--length", type=int, default=20, help="ids per row")
    parser.add_argument("--prompts", type=int, default=256, help="generation batch")
    parser.add_argument("--words", type=int, default=50, help="new words per prompt")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=list(SIZES))
    parser.add_argument(
        "--policies", nargs="+", default=["float32", "mixed_bfloat16"], help="dtype policies"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 steps of 8 rows, 8 prompts x 5 words"
    )
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON")
    args = parser.parse_args()
    if keras.config.backend() != "jax":
        parser.error(f"runs on the JAX backend, not {keras.config.backend()}")
    if args.quick:
        args.steps, args.batch_size, args.prompts, args.words = 2, 8, 8, 5

    device = jax.devices()[0]
    torch_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = {
        "device": {
            "platform": device.platform,
            "kind": device.device_kind,
            "count": jax.device_count(),
            "torch": torch.cuda.get_device_name() if torch_device.type == "cuda" else "cpu",
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": versions(),
        "settings": {
            name: getattr(args, name)
            for name in ("steps", "batch_size", "length", "prompts", "words", "quick")
        },
        "notes": [
            "ours: NextWordLSTM, its LSTM without a mask: cuDNN on GPU",
            "generation: float32 weights whatever the training policy",
            "ratios: torch / ours, above 1 when torch is faster",
        ],
    }
    print(f"JAX on {device.device_kind} ({device.platform}), torch on {results['device']['torch']}")
    if device.platform != torch_device.type.replace("cuda", "gpu"):
        print("warning: JAX and torch run on different devices: the ratios compare nothing")
    for name in args.sizes:
        results[name] = benchmark_size(name, SIZES[name], args.policies, args, torch_device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kind = re.sub(r"[^a-z0-9]+", "_", device.device_kind.lower()).strip("_")
    path = out / f"gpu_{kind}{'_quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
