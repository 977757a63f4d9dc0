"""Corpora larger than the canon: the first pass, the vocabulary cap, the CLI's memory.

    KERAS_BACKEND=jax python benchmarks/large.py \
        --corpus ../shared/data/complete_sherlock_holmes.txt --baseline dc035a2

Each measured run is a fresh process (so that its peak RSS is its own), run on this
checkout ("new") and, where `--baseline` names a commit, on that commit's package
extracted with `git archive` ("old"), side by side in the same run. Parts (`--parts`):

- `first_pass`: the corpus repeated 10 times: `recipe.split` and the vocabulary (its
  counts and line lengths) from the training lines, as `from_text` builds them; MB/s
  over the file's size, and whether old and new give the same vocabulary, counts and
  line lengths (a digest of them).
- `cli`: the same file: `keras-nextword train` against `from_text` with the same
  settings (`--cli-minutes`); peak RSS and the whole run (the old CLI with `--cli-baseline`).
- `zipf`: a synthetic corpus of Zipf-distributed words (about 1 million word types in
  50 MB, made here, seed 0): `from_text(path, max_minutes=2)`: peak RSS, the whole call,
  the vocabulary and the printed cap line. The old code is not run on it (it kept all the
  words: 14.3 GiB and still scoring after 10 minutes, issue 29).
- `x30`: the corpus repeated 30 times: `from_text(path, max_minutes=1)`: time to the
  first training step and the whole call (the old code's 330 s and 353 s are issue 29's).
- `x100`: the corpus repeated 100 times (about 390 MB): `from_text(path, max_minutes=5)`:
  time to the first training step, peak RSS and the whole call (issue 29's targets: 60 s,
  2.0 GiB, 5.1 minutes).
- `resume`: the corpus repeated 10 times: `from_text(path, checkpoint_dir=..., seed=0)` (15
  minutes) killed (SIGKILL) `--kill-after` seconds into the call (default 600), then the same
  call again, stopped once it has trained a check: the training the kill lost (from the end of
  the check its backup restored to the kill) and the resumed call's time to its first step.

Times run from the `from_text` call (the imports before it are `import_seconds`). Writes
`large.json` (machine load beside each run: the machine may be shared).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import suite

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"returncode": result.returncode, "stdout": result.stdout,
                  "stderr": result.stderr[-3000:], "seconds": time.perf_counter() - start,
                  "peak_rss_mib": peak}))
"""
FIRST_PASS = """
import hashlib, json, os, resource, sys, time
from keras_nextword.training import recipe
from keras_nextword.text.ngram_vectorizer import NGramVectorizer
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start, cpu_start = time.perf_counter(), cpu()
parts = recipe.split(sys.argv[1])
vectorizer = NGramVectorizer()
if hasattr(vectorizer, "adapt_counts"):
    vectorizer.adapt_counts(parts.word_counts, parts.line_lengths)
else:
    vectorizer.adapt(parts.train)
seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
counted = [vectorizer.get_vocabulary(), vectorizer.word_counts,
           sorted(vectorizer.tokenizer.line_lengths.items())]
print(json.dumps({
    "first_pass_seconds": seconds,
    "mb_per_second": os.path.getsize(sys.argv[1]) / 1e6 / seconds,
    "cpu_seconds": cpu_seconds,
    "mb_per_cpu_second": os.path.getsize(sys.argv[1]) / 1e6 / cpu_seconds,
    "lines": parts.lines, "training_lines": parts.train_lines,
    "vocabulary": vectorizer.vocabulary_size(),
    "training_words": sum(vectorizer.word_counts),
    "digest": hashlib.sha256(json.dumps(counted).encode()).hexdigest(),
}))
"""
# One `from_text` call: prints each check's end (a Keras epoch) and the call's first epoch and
# step, with the seconds since the call, one JSON line each, as they happen (`events` reads
# them); then the call's report, the last line (`measure` reads it).
CALL = """
import json, sys, time
begin = time.perf_counter()
import keras
from keras_nextword import NextWordLSTM

def say(**event):
    print(json.dumps(dict(event, t=time.perf_counter() - start, wall=time.time())), flush=True)

class Checks(keras.callbacks.Callback):
    first_step = None
    def on_epoch_begin(self, epoch, logs=None):
        if Checks.first_step is None:
            say(begin=epoch)
    def on_train_batch_end(self, batch, logs=None):
        if Checks.first_step is None:
            Checks.first_step = time.perf_counter() - start
            say(first_step=batch)
    def on_epoch_end(self, epoch, logs=None):
        say(end=epoch)

start = time.perf_counter()  # the call, after the imports
say(call=0)
model = NextWordLSTM.from_text(sys.argv[1], callbacks=[Checks()], **json.loads(sys.argv[2]))
history = model.history.history if model.history else {}
print(json.dumps({
    "call_seconds": time.perf_counter() - start, "first_step_seconds": Checks.first_step,
    "import_seconds": start - begin,
    "vocabulary": model.backbone.vocabulary_size, "epochs": len(history.get("loss", [])),
    "steps": int(model.optimizer.iterations),
    "val_perplexity": history.get("val_perplexity", [None])[-1],
}))
"""


def measure(command, cwd):
    """Runs `command` in `cwd` in a fresh process; its report (the last stdout line's
    JSON, if any), peak RSS, wall time and the machine's load."""
    load = os.getloadavg()
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    run = json.loads(out.stdout)
    if run["returncode"]:
        raise RuntimeError(f"{command[:3]} failed:\n{run['stderr']}")
    lines = run.pop("stdout").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        report = {}
    report.update(run, load_before=load, load_after=os.getloadavg(), printed=lines[-40:])
    report.pop("stderr")
    return report


def repeated(corpus, times, folder):
    path = Path(folder) / f"{Path(corpus).stem}_x{times}.txt"
    text = Path(corpus).read_bytes()
    with open(path, "wb") as f:
        for _ in range(times):
            f.write(text)
    return path


def zipf_corpus(path, megabytes=50, types=3_000_000, seed=0):
    """Words drawn with probability proportional to 1 / rank from `types` ranks,
    12 words a line: about a million distinct words in 50 MB."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, types + 1)
    words = np.array([f"w{np.base_repr(r, 36).lower()}" for r in range(types)], dtype=object)
    with open(path, "w", encoding="utf-8") as f:
        while f.tell() < megabytes * 1e6:
            ranks = rng.choice(types, size=(100_000, 12), p=p / p.sum())
            f.write("\n".join(" ".join(row) for row in words[ranks]) + "\n")
    return path


def baseline_package(commit, folder):
    """The package at `commit`, extracted into `folder`; returns the folder."""
    os.makedirs(folder, exist_ok=True)
    archive = Path(folder) / "baseline.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "archive", commit, "keras_nextword"], cwd=ROOT, stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


def first_pass(path, roots):
    runs = {}
    for name, root in roots.items():
        runs[name] = measure(["-c", FIRST_PASS, str(path)], root)
        print(
            f"first pass, {name}: {runs[name]['mb_per_second']:.2f} MB/s, "
            f"{runs[name]['mb_per_cpu_second']:.2f} MB per CPU second",
            flush=True,
        )
    if "old" in runs:
        runs["identical"] = runs["old"]["digest"] == runs["new"]["digest"]
    return runs


def from_text(path, settings, root):
    run = measure(["-c", CALL, str(path), json.dumps(settings)], root)
    print(
        f"from_text({path.name}, {settings}): first step {run['first_step_seconds']} s, "
        f"call {run['call_seconds']:.0f} s, peak {run['peak_rss_mib']:,.0f} MiB",
        flush=True,
    )
    return run


def cli(path, minutes, roots, folder, baseline):
    runs = {"from_text": from_text(path, {"max_minutes": minutes, "verbose": 2}, roots["new"])}
    for name, root in roots.items() if baseline else [("new", roots["new"])]:
        out = Path(folder) / name / "model.keras"
        command = ["-m", "keras_nextword", "train", str(path), "--out", str(out)]
        runs[f"cli_{name}"] = measure([*command, "--max-minutes", str(minutes)], root)
        print(f"cli, {name}: peak {runs[f'cli_{name}']['peak_rss_mib']:,.0f} MiB", flush=True)
    runs["cli_new_over_from_text"] = (
        runs["cli_new"]["peak_rss_mib"] / runs["from_text"]["peak_rss_mib"]
    )
    return runs


def events(command, stop):
    """Runs `command` (`CALL`), reading its JSON lines until `stop(events, seconds)` says
    so (seconds since its call began), then kills it (SIGKILL); returns the events and
    `time.time()` at the kill."""
    seen = []
    process = subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )

    def read():
        for line in process.stdout:
            if line.startswith("{"):
                seen.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while process.poll() is None and not (seen and stop(seen, time.time() - seen[0]["wall"])):
        time.sleep(0.2)
    at = time.time()
    process.kill()
    process.wait()
    reader.join()
    return seen, at


def resume(path, kill_after, folder):
    """Kills a 15-minute run `kill_after` seconds into the call, resumes it: what was lost."""
    settings = {"checkpoint_dir": str(Path(folder) / "checkpoints"), "seed": 0, "verbose": 2}
    command = ["-c", CALL, str(path), json.dumps(settings)]
    load = os.getloadavg()
    killed, at = events(command, lambda seen, seconds: seconds >= kill_after)
    ends = [e for e in killed if "end" in e]
    again, _ = events(command, lambda seen, seconds: any("end" in e for e in seen))
    begin = next(e for e in again if "begin" in e)
    restored = [e["wall"] for e in ends if e["end"] == begin["begin"] - 1]
    run = {
        "killed_at_seconds": at - killed[0]["wall"],
        "checks_before_kill": [(e["end"], round(e["t"], 1)) for e in ends],
        "resumed_at_check": begin["begin"],
        "training_lost_seconds": at - (restored[0] if restored else killed[0]["wall"]),
        "resumed_first_step_seconds": next(e["t"] for e in again if "first_step" in e),
        "load_before": load,
        "load_after": os.getloadavg(),
    }
    print(f"resume: {json.dumps(run)}", flush=True)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="the canon (../shared/data/...)")
    parser.add_argument("--baseline", help="a commit to run as the old way")
    parser.add_argument("--parts", default="first_pass,cli,zipf,x30")
    parser.add_argument("--cli-minutes", type=float, default=1.0)
    parser.add_argument(
        "--cli-baseline", action="store_true", help="run the old CLI too (its first pass: minutes)"
    )
    parser.add_argument("--kill-after", type=float, default=600.0, help="seconds (resume)")
    parser.add_argument("--out", default=str(HERE / "results" / "large.json"))
    args = parser.parse_args()
    parts = args.parts.split(",")
    report = {
        "command": " ".join(sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "backend": os.environ.get("KERAS_BACKEND", "jax"),
        "baseline": args.baseline,
        "commit": suite.commit(),
    }
    if Path(args.out).exists():  # parts run separately land in one file
        report = {**json.loads(Path(args.out).read_text()), **report}
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"new": str(ROOT)}
        if args.baseline:
            roots["old"] = baseline_package(args.baseline, Path(tmp) / "old")
        start = time.perf_counter()
        if {"first_pass", "cli", "resume"} & set(parts):
            x10 = repeated(args.corpus, 10, tmp)
        if "first_pass" in parts:
            report["first_pass_x10"] = first_pass(x10, roots)
        if "cli" in parts:
            report["cli_x10"] = cli(x10, args.cli_minutes, roots, tmp, args.cli_baseline)
        if "resume" in parts:
            report["resume_x10"] = resume(x10, args.kill_after, tmp)
        if "zipf" in parts:
            zipf = zipf_corpus(Path(tmp) / "zipf.txt")
            run = from_text(zipf, {"max_minutes": 2, "verbose": 2}, roots["new"])
            report["zipf"] = {"megabytes": zipf.stat().st_size / 1e6, "new": run}
        for times, minutes in ((30, 1), (100, 5)):
            if f"x{times}" in parts:
                path = repeated(args.corpus, times, tmp)
                settings = {"max_minutes": minutes, "verbose": 2}
                report[f"x{times}"] = {"new": from_text(path, settings, ROOT)}
                path.unlink()
        report["benchmark_seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
