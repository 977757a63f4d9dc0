"""The whole Sherlock Holmes canon from its file: time, peak memory and held-out perplexity.

    KERAS_BACKEND=jax python benchmarks/canon.py --corpus ../shared/data/complete_sherlock_holmes.txt
    KERAS_BACKEND=jax python benchmarks/canon.py --corpus ... --epochs 0 --repeats 1 10

Each run is one `NextWordLSTM.from_text` call in a fresh process (so that its peak RSS is
its own), timed from the call to its return: checking and counting the file, building
the vocabulary, training, and the exact held-out pass after each epoch. The defaults are
`examples/canon.py`'s: the tutorial-size model over the full vocabulary, line layout,
batch 64, a sampled softmax of 1,024 negatives, from_text's tied output layer and
weight averaging (`--no-tie-weights --ema-momentum 0` for neither), epochs fixed (no
rehearsal).
`--repeats 1 10` runs the corpus as is and repeated 10 times (a temporary file) to show
whether memory grows with the corpus; with `--epochs 0` that covers everything but
training, whose buffers do not depend on the corpus size. The count-based baselines of
`baselines.py` are computed on the same split for the ratio. Writes
`canon_<backend>_<epochs>_epochs[_untied][_unaveraged].json`.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = """
import json, resource, sys, time
start = time.perf_counter()
from keras_nextword import NextWordLSTM
settings = json.loads(sys.argv[2])
model = NextWordLSTM.from_text(sys.argv[1], seed=0, verbose=2, **settings)
history = model.history.history if model.history else {}
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "vocabulary": model.vocabulary_size,
    "val_perplexity": history.get("val_perplexity", []),
    "loss": history.get("loss", []),
}))
"""


def run(path, settings):
    """One from_text call in a fresh process; returns its JSON report."""
    result = subprocess.run(
        [sys.executable, "-c", RUN, str(path), json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
    )
    if settings["epochs"]:
        print(result.stdout.strip().splitlines()[-2], flush=True)  # the last epoch's log
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help="default: datasets.load_sherlock_canon()")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, nargs="+", default=[1])
    parser.add_argument("--num-sampled", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument(
        "--tie-weights",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="from_text's default output layer (default: %(default)s)",
    )
    parser.add_argument(
        "--ema-momentum",
        type=float,
        default=0.995,
        help="weight averaging, 0 for none (default: from_text's %(default)s)",
    )
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    import baselines
    import keras

    from keras_nextword import datasets

    path = args.corpus or datasets.load_sherlock_canon()
    settings = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "num_sampled": args.num_sampled,
        "dropout": args.dropout,
        "tie_weights": args.tie_weights,
        "ema_momentum": args.ema_momentum or None,
        "early_stopping_patience": None,
    }
    counts = baselines.evaluate(path)
    kneser_ney = counts["models"]["Kneser-Ney 4-gram"]["perplexity_all"]
    results = {
        "corpus": Path(path).name,
        "backend": keras.config.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": {"keras": keras.__version__},
        "settings": settings,
        "baselines": counts,
        "runs": {},
    }
    text = Path(path).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in args.repeats:
            corpus = path
            if repeat > 1:
                corpus = os.path.join(tmp, f"canon_x{repeat}.txt")
                Path(corpus).write_bytes(text * repeat)
            report = run(corpus, settings)
            if report["val_perplexity"]:
                report["vs_kneser_ney"] = report["val_perplexity"][-1] / kneser_ney
            results["runs"][f"x{repeat}"] = report
            print(
                f"corpus x{repeat}: {report['seconds']:.0f} s, peak RSS "
                f"{report['peak_rss_mib']:,.0f} MiB, held-out perplexity "
                f"{', '.join(f'{p:.1f}' for p in report['val_perplexity']) or '-'} "
                f"(Kneser-Ney 4-gram {kneser_ney:.1f})",
                flush=True,
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    variant = "_untied" * (not args.tie_weights) + "_unaveraged" * (not args.ema_momentum)
    target = out / f"canon_{keras.config.backend()}_{args.epochs}_epochs{variant}.json"
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
