"""The whole Sherlock Holmes canon through `from_text(path)` with no other argument.

    KERAS_BACKEND=jax python benchmarks/canon.py --corpus ../shared/data/complete_sherlock_holmes.txt
    KERAS_BACKEND=jax python benchmarks/canon.py --corpus ... --repeats 10 --max-minutes 10
    KERAS_BACKEND=jax python benchmarks/canon.py --corpus ... --set dropout=0.2 --peer-minutes 0

Each run is one `NextWordLSTM.from_text` call in a fresh process (so that its peak RSS is
its own), timed from the call to its return: checking and counting the file, building the
vocabulary, choosing the settings, training with early stopping on the lines it sets
apart, and the exact held-out pass after each epoch. Held-out perplexity over all
predictions and over known targets is then computed as `heldout.py` does, beside the
interpolated Kneser-Ney 4-gram of `baselines.py` on the same split, in the same run.
`--repeats 10` trains on the corpus repeated 10 times (a temporary 39 MB file): peak RSS
and time per epoch against the single canon (pass `--max-minutes`: a whole run would
take hours). On the single canon the same run then trains `peer.py`'s PyTorch peer (the
pytorch/examples word_language_model recipe at our size) for `--peer-minutes` on the same
split, and records each one's time to the peer's best held-out perplexity and training words
per second. Writes `canon_<backend>_x<repeats>.json`.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN = """
import json, resource, sys, time
start = time.perf_counter()
import keras
from keras_nextword import NextWordLSTM
from keras_nextword.text import data
from keras_nextword.training import recipe

class EpochTimes(keras.callbacks.Callback):
    times, training, ends, steps = [], [], [], []
    def on_epoch_begin(self, epoch, logs=None):
        self.begin = time.perf_counter()
        self.steps.append(0)
    def on_train_batch_end(self, batch, logs=None):
        self.last_step = time.perf_counter()
        self.steps[-1] += 1
    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self.begin)
        self.training.append(self.last_step - self.begin)
        self.ends.append(now - start)

settings = json.loads(sys.argv[2])
model = NextWordLSTM.from_text(sys.argv[1], seed=0, verbose=2, callbacks=[EpochTimes()], **settings)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
history = model.history.history if model.history else {}
report = {
    "seconds": seconds,
    "peak_rss_mib": peak,
    "epoch_seconds": EpochTimes.times,
    "epoch_training_seconds": EpochTimes.training,
    "epoch_end_seconds": EpochTimes.ends,
    "epoch_steps": EpochTimes.steps,
    "training_words": sum(model.preprocessor.word_counts),
    "vocabulary": model.backbone.vocabulary_size,
    "settings": model.training_settings,
    "val_perplexity": history.get("val_perplexity", []),
    "dev_perplexity": history.get("dev_perplexity", []),
}
if model.preprocessor.tokenizer.line_lengths:  # row widths, steps of a pass (an epoch: a part)
    from keras_nextword.text import buckets, packing, pipeline
    lengths = model.preprocessor.tokenizer.line_lengths
    width, batch_size = model.preprocessor.sequence_length, model.training_settings["batch_size"]
    report["plan"] = buckets.plan(lengths, batch_size, width)  # grouped by length
    bucket = "pack" if model.backbone.line_starts else "auto"  # from_text's layout
    if model.backbone.line_starts:  # (width, rows per batch, rows, padded share)
        report["packing"] = packing.plan_lines(lengths, batch_size, width)
    report["steps_per_pass"] = pipeline.batches_per_pass(lengths, batch_size, "line", width, bucket)
if sys.argv[3] != "-":
    sys.path.insert(0, sys.argv[3])
    import heldout
    held_out = data.listed(recipe.split(sys.argv[1]).held_out)
    all_ppl, known_ppl, n, n_known = heldout.heldout_perplexities(model, held_out)
    report.update(perplexity_all=all_ppl, perplexity_known=known_ppl, predictions=n)
print(json.dumps(report))
"""


def run(path, settings, score):
    """One from_text call in a fresh process; returns its JSON report."""
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(path), json.dumps(settings), str(HERE) if score else "-"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_peer(path, minutes, threads, ours):
    """The PyTorch peer (`peer.py`) on the same split, and each one's time to the
    peer's best held-out perplexity."""
    import statistics

    import peer
    import torch

    torch.set_num_threads(threads)
    result = peer.run_peer(path, epochs=100, max_minutes=minutes, seed=0)
    result.pop("model")
    best = result["best"]["val_perplexity"]
    curve = [
        {"seconds": t, "val_perplexity": p}
        for t, p in zip(ours["epoch_end_seconds"], ours["val_perplexity"])
    ]
    result["threads"] = threads
    result["peer_time_to_its_best"] = result["best"]["seconds"]
    result["ours_time_to_peer_best"] = peer.time_to_reach(curve, best)
    speeds = [ours["training_words"] / s for s in ours["epoch_training_seconds"][1:]]
    result["ours_tokens_per_second"] = statistics.median(speeds) if speeds else None
    print(
        f"peer: best held-out {best:.1f} at {result['peer_time_to_its_best']:.0f} s, "
        f"{result['tokens_per_second']:,.0f} training words/s; ours reaches it at "
        f"{result['ours_time_to_peer_best']} s, {result['ours_tokens_per_second']:,.0f} words/s",
        flush=True,
    )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help="default: datasets.load_sherlock_canon()")
    parser.add_argument("--repeats", type=int, default=1, help="the corpus this many times")
    parser.add_argument("--max-minutes", type=float, help="default: from_text's")
    parser.add_argument(
        "--peer-minutes",
        type=float,
        default=15,
        help="then train the PyTorch peer of peer.py this long in the same run; 0: no peer",
    )
    parser.add_argument("--threads", type=int, default=2, help="the peer's torch threads")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a from_text argument to set, e.g. --set dropout=0.2 (the file name says so)",
    )
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    import baselines
    import keras

    from keras_nextword.text import datasets

    path = args.corpus or datasets.load_sherlock_canon()
    settings = {} if args.max_minutes is None else {"max_minutes": args.max_minutes}
    chosen = dict(item.split("=", 1) for item in args.set)
    settings.update({name: json.loads(value) for name, value in chosen.items()})
    results = {
        "corpus": Path(path).name,
        "repeats": args.repeats,
        "backend": keras.config.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_before": os.getloadavg(),
        "versions": {"keras": keras.__version__},
        "arguments": settings,
    }
    with tempfile.TemporaryDirectory() as tmp:
        corpus = path
        if args.repeats > 1:
            corpus = os.path.join(tmp, f"canon_x{args.repeats}.txt")
            Path(corpus).write_bytes(Path(path).read_bytes() * args.repeats)
        report = run(corpus, settings, score=args.repeats == 1)
    results["run"] = report
    results["load_average_after"] = os.getloadavg()
    line = (
        f"x{args.repeats}: {report['seconds']:.0f} s, peak RSS {report['peak_rss_mib']:,.0f} MiB, "
        f"epochs {', '.join(f'{s:.0f} s' for s in report['epoch_seconds'])}"
    )
    if args.repeats == 1:
        counts = baselines.evaluate(path)
        kneser_ney = counts["models"]["Kneser-Ney 4-gram"]
        results["baselines"] = counts
        results["vs_kneser_ney"] = report["perplexity_all"] / kneser_ney["perplexity_all"]
        line += (
            f"; held-out perplexity {report['perplexity_all']:.1f} (known {report['perplexity_known']:.1f}) "
            f"against Kneser-Ney 4-gram {kneser_ney['perplexity_all']:.1f} "
            f"(known {kneser_ney['perplexity_known']:.1f}): {results['vs_kneser_ney']:.2f}x"
        )
    print(line, flush=True)
    if args.repeats == 1 and args.peer_minutes:
        results["peer"] = run_peer(path, args.peer_minutes, args.threads, report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "".join(f"_{name}_{value}" for name, value in chosen.items())
    target = out / f"canon_{keras.config.backend()}_x{args.repeats}{suffix}.json"
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
