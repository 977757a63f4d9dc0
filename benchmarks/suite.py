"""A corpus suite: `from_text(path)` with no other argument on corpora of different shapes,
beside interpolated Kneser-Ney 4-gram and the PyTorch peer, in the same run.

    KERAS_BACKEND=jax python benchmarks/suite.py --corpus the_final_problem
    nohup python benchmarks/suite.py --corpus tiny_shakespeare --max-minutes 3 > suite.log &
    python benchmarks/suite.py --corpus wikitext2_valid_test --slice 0.5
    python benchmarks/suite.py --table
    python benchmarks/suite.py --corpus wikitext2_sentences --slice 0.33 --max-minutes 6 \
        --ours-only --set learning_rate=0.008 --out benchmarks/results/suite/choices

For each corpus: `NextWordLSTM.from_text(path, seed=0)` in a fresh process (`canon.run`: its
peak RSS is its own; `--max-minutes` overrides the limit, recorded), then `peer.py`'s PyTorch
peer on the same split for as long (`--peer-minutes`, default the same limit), then
`baselines.py`'s interpolated Kneser-Ney 4-gram. All are scored the same way: each word after
the first of its held-out line, from the words before it in that line, over all targets and
over known ones. Recorded: wall time of the whole `from_text` call, training words/s (the
median epoch after the first, an epoch cut short by the limit counted for the words its steps
trained; the first, compilation included, when it is the only one), the share of padded positions in the training rows that
`from_text`'s `fit` laid out (measured on that very pipeline, one pass, after the run), peak
RSS, the held-out curve against wall time of ours and the peer, and the seconds each needs
to reach the peer's best. `--slice MB` keeps the first MB megabytes of the corpus (at a line
end): the corpus is then named `<corpus>_slice<MB>MB` everywhere. `--set NAME=VALUE`
passes `from_text` an argument in place of its choice (recorded, and added to the JSON's
name); `--ours-only` runs neither the peer nor the baselines, for comparing settings. Writes
`results/suite/<corpus>.json`; `--table` prints the markdown table of every JSON there
(`--ours-only` runs in a table of their own: the setting, the rate used, what it read).

Corpora (`--data`, default ../shared/data; see its README): the files named in `CORPORA`,
`canon_x10` (the canon repeated 10 times, in a temporary folder) and `wikitext2_sentences`
(`SENTENCES`: WikiText-2's paragraphs cut into sentences, one a line).
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "suite"
CORPORA = {
    "the_final_problem": "the_final_problem.txt",
    "tiny_shakespeare": "tiny_shakespeare.txt",
    "wikitext2_valid_test": "wikitext2_valid_test.txt",
    "complete_sherlock_holmes": "complete_sherlock_holmes.txt",
    "canon_x10": "complete_sherlock_holmes.txt",
    "wikitext2_sentences": "wikitext2_valid_test.txt",
}
SENTENCES = (
    "wikitext2_valid_test.txt without its section titles (lines ` = ... = `), each paragraph "
    "cut after every ` . ` token (the corpus is pre-tokenized): one sentence a line"
)
# `canon.RUN` with `text_dataset` wrapped: the training pipeline `fit` builds is kept, and
# its padded share measured after the run (after peak RSS is read).
KEEP = """
from keras_nextword.text import buckets
from keras_nextword.text import pipeline
_made = []
_text_dataset = pipeline.text_dataset
def _keep(*args, **kwargs):
    if kwargs.get("training"):
        _made.append((args, kwargs))
    return _text_dataset(*args, **kwargs)
pipeline.text_dataset = _keep
"""
ANCHOR = "settings = json.loads"
MEASURE = """
args, kwargs = _made[0]
report["padded_share"] = buckets.padded_share(_text_dataset(*args, **dict(kwargs, shuffle=False)))
report["layout"] = {k: v for k, v in kwargs.items() if k in ("mode", "bucket", "window_length")}
print(json.dumps(report))
"""


def sentences(lines):
    """WikiText paragraphs as sentences (see `SENTENCES`)."""
    for line in lines:
        words = line.split()
        if not words or (words[0] == "=" and words[-1] == "="):
            continue
        sentence = []
        for word in words:
            sentence.append(word)
            if word == ".":
                yield " ".join(sentence)
                sentence = []
        if sentence:
            yield " ".join(sentence)


def prepare(corpus, data, folder, slice_mb=None):
    """Writes `corpus` (sliced) into `folder`; returns its path and how it was made."""
    source = Path(data) / CORPORA[corpus]
    text = source.read_text(encoding="utf-8")
    made = {"source": source.name}
    if corpus == "canon_x10":
        text, made["made"] = text * 10, "the file repeated 10 times"
    elif corpus == "wikitext2_sentences":
        text = "\n".join(sentences(text.splitlines())) + "\n"
        made["made"] = SENTENCES
    name = corpus
    if slice_mb:
        cut = text.encode("utf-8")[: int(slice_mb * 2**20)]
        text = cut[: cut.rfind(b"\n") + 1].decode("utf-8")
        name = f"{corpus}_slice{slice_mb:g}MB"
        made["slice"] = f"the first {slice_mb:g} MB (cut at a line end)"
    lines = [line for line in text.splitlines() if line.strip()]
    words = [len(line.split()) for line in lines]
    made.update(
        name=name,
        bytes=len(text.encode("utf-8")),
        lines=len(lines),
        words_per_line_mean=statistics.mean(words),
        words_per_line_max=max(words),
    )
    path = Path(folder) / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return path, made


def run_ours(path, settings, prelude="", env=None):
    """`from_text(path, seed=0)` in a fresh process: `canon.run`'s report, with the padded
    share of its training rows and its layout. `prelude`: code the process runs first;
    `env`: its environment (default: this one's)."""
    import canon

    assert ANCHOR in canon.RUN
    code = prelude + canon.RUN.replace(ANCHOR, KEEP + ANCHOR) + MEASURE
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), json.dumps(settings), str(HERE)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        cwd=HERE.parent,
        env=env,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def curve_of_ours(report):
    """Ours' held-out perplexity at each epoch's end, against seconds since the call."""
    return [
        {"epoch": i + 1, "seconds": t, "val_perplexity": p}
        for i, (t, p) in enumerate(zip(report["epoch_end_seconds"], report["val_perplexity"]))
    ]


def compare(ours, peer_result, kneser_ney):
    """Headline figures of the three, side by side."""
    import peer

    best = peer_result["best"]["val_perplexity"]
    # A step trains a pass's words over its steps (an epoch may be a part of a pass, or cut
    # short by the limit; runs recorded before `steps_per_pass` trained whole passes, the
    # first epoch's steps); the first epoch compiles.
    steps, seconds = ours["epoch_steps"], ours["epoch_training_seconds"]
    per_pass = ours.get("steps_per_pass") or steps[0]
    speeds = [ours["training_words"] * n / per_pass / t for n, t in zip(steps, seconds)]
    return {
        "ours_perplexity_all": ours["perplexity_all"],
        "ours_perplexity_known": ours["perplexity_known"],
        "peer_best_perplexity_all": best,
        "peer_perplexity_known": peer_result["best"]["val_perplexity_known"],
        "kneser_ney_perplexity_all": kneser_ney["perplexity_all"],
        "kneser_ney_perplexity_known": kneser_ney["perplexity_known"],
        "ours_vs_kneser_ney": ours["perplexity_all"] / kneser_ney["perplexity_all"],
        "ours_seconds": ours["seconds"],
        "peer_seconds": peer_result["seconds"],
        "ours_words_per_second": statistics.median(speeds[1:] or speeds),
        # A peer epoch cut short by the limit still counts when no epoch ended.
        "peer_words_per_second": peer_result["tokens_per_second"]
        or statistics.median(p["tokens_per_second"] for p in peer_result["curve"]),
        "ours_padded_share": ours["padded_share"],
        "ours_peak_rss_mib": ours["peak_rss_mib"],
        "ours_seconds_to_peer_best": peer.time_to_reach(curve_of_ours(ours), best),
        "ours_above_peer_after_60_s": above_peer(curve_of_ours(ours), peer_result["curve"]),
        "peer_seconds_to_its_best": peer_result["best"]["seconds"],
    }


def above_peer(ours_curve, peer_curve, after=60):
    """The times from `after` seconds on (each epoch end of either) at which ours' best
    held-out perplexity so far is above the peer's, or ours has none yet."""

    def best(curve, t):
        seen = [p["val_perplexity"] for p in curve if p["seconds"] <= t]
        return min((v for v in seen if v is not None), default=None)

    times = sorted({p["seconds"] for p in ours_curve + peer_curve if p["seconds"] >= after})
    return [
        t
        for t in times
        if best(peer_curve, t) is not None
        and (best(ours_curve, t) is None or best(ours_curve, t) > best(peer_curve, t))
    ]


def corpus_options(parser, many=False):
    """Adds `--corpus` (one of `CORPORA`, or several with `many`), `--data` and `--slice`, as
    `prepare` takes them, to an `argparse` parser."""
    default = "the_final_problem"
    nargs = {"nargs": "+", "default": [default]} if many else {"default": default}
    parser.add_argument("--corpus", choices=CORPORA, **nargs)
    parser.add_argument("--data", default=HERE.parents[1] / "shared" / "data")
    parser.add_argument("--slice", type=float, metavar="MB", help="keep the first MB megabytes")


def machine():
    import keras
    import torch

    return {
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "keras_backend": keras.config.backend(),
        "versions": {"python": platform.python_version(), "keras": keras.__version__},
    }


def commit():
    """The checkout's commit, `-dirty` when it has changes (`git describe`)."""
    return subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()


def run(corpus, args):
    """The suite's run on one corpus; returns its JSON-ready results."""
    import baselines
    import peer
    import torch

    torch.set_num_threads(args.threads)
    limit = args.max_minutes
    settings = ({} if limit is None else {"max_minutes": limit}) | dict(args.set)
    peer_minutes = args.peer_minutes or limit or 15  # from_text's limit by default
    results = {"machine": machine(), "commit": commit(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as folder:
        path, results["corpus"] = prepare(corpus, args.data, folder, args.slice)
        results["from_text_arguments"] = {"seed": 0, **settings}
        ours = run_ours(path, settings)
        ours["curve"] = curve_of_ours(ours)
        results["ours"] = ours
        results["load_average_after_ours"] = os.getloadavg()
        trained = ours["epoch_training_seconds"]
        print(
            f"ours: {ours['perplexity_all']:.1f} / {ours['perplexity_known']:.1f} "
            f"({ours['seconds']:.0f} s; median epoch trained in "
            f"{statistics.median(trained[1:] or trained or [math.nan]):.3f} s, the first compiles)",
            flush=True,
        )
        if args.ours_only:
            return results
        peer_result = peer.run_peer(path, epochs=100, max_minutes=peer_minutes, seed=0)
        peer_result.pop("model")
        peer_result["threads"] = args.threads
        results["peer"] = peer_result
        results["load_average_after_peer"] = os.getloadavg()
        counts = baselines.evaluate(path)
        results["baselines"] = counts
    results["summary"] = compare(ours, peer_result, counts["models"]["Kneser-Ney 4-gram"])
    results["load_average_after"] = os.getloadavg()
    return results


COLUMNS = (
    ("corpus", "{}"),
    ("lines", "{:,}"),
    ("words/line", "{:.1f}"),
    ("ours all / known", "{:.1f} / {:.1f}"),
    ("Kneser-Ney 4-gram", "{:.1f} / {:.1f}"),
    ("ours / KN", "{:.2f}x"),
    ("peer best / known", "{:.1f} / {:.1f}"),
    ("ours s (limit)", "{:.0f} ({})"),
    ("words/s ours / peer", "{:,.0f} / {:,.0f}"),
    ("padded", "{:.0%}"),
    ("peak RSS MiB", "{:,.0f}"),
    ("s to peer's best: ours / peer", "{} / {:.0f}"),
    ("times above peer's curve from 60 s", "{}"),
    ("load", "{:.1f}"),
)


def row(results):
    """One markdown table row of a corpus's results."""
    corpus = results["corpus"]
    s = compare(
        results["ours"], results["peer"], results["baselines"]["models"]["Kneser-Ney 4-gram"]
    )
    reached = s["ours_seconds_to_peer_best"]
    values = (
        (" ".join(filter(None, (corpus["name"], set_arguments(results)))),),
        (corpus["lines"],),
        (corpus["words_per_line_mean"],),
        (s["ours_perplexity_all"], s["ours_perplexity_known"]),
        (s["kneser_ney_perplexity_all"], s["kneser_ney_perplexity_known"]),
        (s["ours_vs_kneser_ney"],),
        (s["peer_best_perplexity_all"], s["peer_perplexity_known"]),
        (s["ours_seconds"], results["from_text_arguments"].get("max_minutes", 15)),
        (s["ours_words_per_second"] or math.nan, s["peer_words_per_second"] or math.nan),
        (s["ours_padded_share"],),
        (s["ours_peak_rss_mib"],),
        ("not reached" if reached is None else f"{reached:.0f}", s["peer_seconds_to_its_best"]),
        (len(s["ours_above_peer_after_60_s"]),),
        (statistics.mean([results["load_average_before"][0], results["load_average_after"][0]]),),
    )
    return "| " + " | ".join(f.format(*v) for (_, f), v in zip(COLUMNS, values)) + " |"


SETTING_COLUMNS = (
    "corpus",
    "training words",
    "set",
    "learning rate",
    "ours all / known",
    "epochs",
    "ours s (limit)",
    "load",
)


def set_arguments(results):
    """The `--set` arguments of a run, `NAME=VALUE, ...` ("" when none)."""
    arguments = results["from_text_arguments"]
    return ", ".join(f"{k}={v}" for k, v in arguments.items() if k not in ("seed", "max_minutes"))


def setting_row(results):
    """One markdown table row of an `--ours-only` run: the setting and what it read."""
    ours = results["ours"]
    limit = results["from_text_arguments"].get("max_minutes", 15)
    values = (
        results["corpus"]["name"],
        f"{ours['training_words']:,}",
        set_arguments(results) or "default",
        f"{ours['settings']['learning_rate']:g}",
        f"{ours['perplexity_all']:.1f} / {ours['perplexity_known']:.1f}",
        f"{len(ours['curve'])}",
        f"{ours['seconds']:.0f} ({limit:g})",
        f"{results['load_average_before'][0]:.1f}",
    )
    return "| " + " | ".join(values) + " |"


def header(names):
    """A markdown table's first two lines."""
    return ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]


def table(folder=RESULTS):
    """The markdown table of every corpus's JSON in `folder`; runs with `--ours-only`
    in a second table, of the settings they compare."""
    runs = [json.loads(file.read_text()) for file in sorted(Path(folder).glob("*.json"))]
    suite_runs = [r for r in runs if "peer" in r]
    lines = []
    if suite_runs:
        lines += header([name for name, _ in COLUMNS]) + [row(r) for r in suite_runs]
    if len(suite_runs) < len(runs):
        lines += [""] if lines else []
        lines += header(SETTING_COLUMNS) + [setting_row(r) for r in runs if "peer" not in r]
    return "\n".join(lines)


def setting(text):
    """`NAME=VALUE` to `(name, value)`, the value read as JSON (else kept a string)."""
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main():
    # This checkout's package, not an installed one (a script's path comes first).
    sys.path.insert(0, str(HERE.parent))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    corpus_options(parser, many=True)
    parser.add_argument("--max-minutes", type=float, help="from_text's limit (default its own)")
    parser.add_argument("--peer-minutes", type=float, help="default: ours' limit")
    parser.add_argument("--threads", type=int, default=1, help="the peer's torch threads")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        type=setting,
        metavar="NAME=VALUE",
        help="from_text arguments (JSON values) instead of its choice, e.g. learning_rate=0.01",
    )
    parser.add_argument("--ours-only", action="store_true", help="no peer, no baselines")
    parser.add_argument("--table", action="store_true", help="print the table of the JSON")
    parser.add_argument("--out", default=RESULTS, help="the JSON's folder (--table reads it)")
    args = parser.parse_args()
    if args.table:
        print(table(args.out))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for corpus in args.corpus:
        began = time.perf_counter()
        results = run(corpus, args)
        results["suite_seconds"] = time.perf_counter() - began
        name = "_".join([results["corpus"]["name"], *(f"{k}_{v}" for k, v in args.set)])
        target = out / f"{name}.json"
        target.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print("" if args.ours_only else row(results), f"\nwrote {target}", flush=True)


if __name__ == "__main__":
    main()
