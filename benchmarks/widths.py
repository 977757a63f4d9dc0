"""How many row widths a small corpus's training should compile, or whether to pack its
lines: padding against compiling.

    KERAS_BACKEND=jax python benchmarks/widths.py --rounds 2
    KERAS_BACKEND=jax python benchmarks/widths.py --corpus tiny_shakespeare --slice 0.04

`from_text` batches rows by length in a few widths (`keras_nextword.text.buckets.plan`), at
most one per `buckets.STEPS_PER_WIDTH` (16) steps of an epoch, since each width compiles its
own training step: *The Final Problem*'s 17 steps an epoch get one width and 39% of their
positions are padding, so `from_text` packs its lines instead (`keras_nextword.text.packing`).
For each value of `STEPS_PER_WIDTH` (`--steps-per-width`), rows grouped by length
(`line_starts=False`), then packed as `from_text` chooses, in turn within each round,
`from_text(path, seed=0)` runs in a fresh process with no compilation
cache (as a user's first call), timed from after the imports to its return (`suite.run_ours`),
and records the widths planned, the padded share of its training rows, its epochs, its first
epoch (compilations included), the seconds from the last epoch's end to the return, and
held-out perplexity all / known. Corpora are prepared as
`suite.py` prepares them (`--data`, default ../shared/data). Writes
`results/widths/<corpus>.json`.
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

import suite

HERE = Path(__file__).resolve().parent
PRELUDE = "from keras_nextword.text import buckets\nbuckets.STEPS_PER_WIDTH = {}\n"


def one_run(path, steps_per_width):
    """`from_text(path, seed=0)` with `buckets.STEPS_PER_WIDTH` set (rows grouped by
    length), or as it chooses (None: packed where it packs), in a fresh process without
    JAX's compilation cache (each width's compilation is part of what it costs)."""
    cold = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    if steps_per_width is None:
        report = suite.run_ours(path, {}, env=cold)
    else:
        prelude = PRELUDE.format(steps_per_width)
        report = suite.run_ours(path, {"line_starts": False}, prelude=prelude, env=cold)
    return {
        "steps_per_width": steps_per_width,
        "plan": report["plan"],
        "packing": report.get("packing"),
        "seconds": report["seconds"],
        "first_epoch_seconds": report["epoch_seconds"][0],
        "after_last_epoch_seconds": report["seconds"] - report["epoch_end_seconds"][-1],
        "epochs": len(report["epoch_seconds"]),
        "padded_share": report["padded_share"],
        "perplexity_all": report["perplexity_all"],
        "perplexity_known": report["perplexity_known"],
        "load_average": os.getloadavg(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    suite.corpus_options(parser)
    parser.add_argument("--steps-per-width", type=int, nargs="+", default=[16, 8, 4])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--name", default="", help="added to the JSON's name")
    args = parser.parse_args()
    results = {"machine": suite.machine(), "commit": suite.commit(), "runs": []}
    results["load_average_before"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        path, results["corpus"] = suite.prepare(args.corpus, args.data, folder, args.slice)
        for _ in range(args.rounds):
            for steps in [*args.steps_per_width, None]:
                results["runs"].append(one_run(path, steps))
                print(json.dumps(results["runs"][-1]), flush=True)
    results["load_average_after"] = os.getloadavg()
    folder = HERE / "results" / "widths"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{results['corpus']['name']}{args.name}.json").write_text(
        json.dumps(results, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
