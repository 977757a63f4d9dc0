"""Held-out perplexity of `from_text` settings on The Final Problem, beside the count baselines.

    KERAS_BACKEND=jax python benchmarks/heldout.py [--seeds 0 1 2] [--settings defaults ...]

The split is `from_text`'s own: the last 10% of the non-blank lines are held out, and each
model's vocabulary is the words of the lines it trains on plus `[UNK]` (the defaults set the
last 10% of the other lines apart to stop on; the tutorial's recipe and the baselines use all
of them), so which targets count as known differs between them. Perplexity is exact (full
softmax) over every next-word prediction within the held-out lines (685), and over those
whose target is a known word (559). The package's settings choose their epoch count on
training lines only, so their figures are honest held-out results; the tutorial's recipe
has no such rule, so it is scored at its best epoch as picked on the held-out lines
themselves (flattering it) and after its 100 epochs. The add-one unigram and interpolated
Kneser-Ney 4-gram of `baselines.py` are computed in the same run on the same split.
Writes `heldout_<backend>.json`.
"""

import argparse
import json
import time
from pathlib import Path

import baselines
import keras
import numpy as np
import tensorflow as tf

from keras_nextword import TUTORIAL_RECIPE, NextWordLSTM
from keras_nextword.text import datasets, layouts, pipeline
from keras_nextword.text.data import read_lines, split_lines
from keras_nextword.text.ngram_vectorizer import OOV_ID

SETTINGS = {
    "defaults": {},
    "defaults, window mode (20 words)": {"mode": "window"},
    "defaults, batch 8": {"batch_size": 8},
    "defaults, no word dropout": {"word_dropout": False},
    "defaults, no weight averaging": {"ema_momentum": None},
    "defaults, untied output layer": {"tie_weights": False},
    # Short runs: averaged or not (`from_text`'s rule for a plain mean of too few steps).
    "defaults, 2 epochs": {"epochs": 2},
    "defaults, 4 epochs": {"epochs": 4},
    "defaults, 8 epochs": {"epochs": 8},
    "tutorial recipe": TUTORIAL_RECIPE,
}


def line_rows(preprocessor, lines):
    """`(inputs, targets, weights)` numpy arrays, one post-padded row per line of
    two or more words, in line order, each as wide as the longest line's
    predictions (`layouts.rows`): every word is scored from all the words before
    it in its line. `lines`: a list of strings (`data.listed` makes one of a
    dataset)."""
    flat, starts, lengths = pipeline.word_ids(preprocessor, tf.constant(lines))
    longest = max(int(tf.reduce_max(lengths)) - 1, 1)
    return tuple(np.asarray(t) for t in layouts.rows(flat, starts, lengths, longest))


def target_losses(model, lines, positions=4096):
    """Exact negative log-likelihood (log-softmax, no clip) of every held-out
    prediction, its target id and the log-probability the model gives `[UNK]` there,
    in line order. Each line is one row as long as the line (`line_rows`), not a row
    of the preprocessor's `sequence_length` restarting cold; rows are scored about
    `positions` at a time, so a large vocabulary's logits never fill memory."""
    x, y, w = line_rows(model.preprocessor, lines)
    widths = w.sum(axis=1).astype(int)
    nll, targets, log_unknown, start = [], [], [], 0
    while start < len(x):
        stop, width = start + 1, widths[start]
        while stop < len(x) and (stop + 1 - start) * max(width, widths[stop]) <= positions:
            stop, width = stop + 1, max(width, widths[stop])
        logits = model(x[start:stop, :width])
        logits = keras.ops.convert_to_numpy(logits).astype("float64")
        real = w[start:stop, :width] > 0
        logits, target = logits[real], y[start:stop, :width][real]
        top = logits.max(-1, keepdims=True)
        log_z = np.log(np.exp(logits - top).sum(-1)) + top[:, 0]
        nll.append(log_z - logits[np.arange(len(target)), target])
        targets.append(target)
        log_unknown.append(logits[:, OOV_ID] - log_z)
        start = stop
    return np.concatenate(nll), np.concatenate(targets), np.concatenate(log_unknown)


def heldout_perplexities(model, lines):
    """Exact perplexity over all held-out predictions and over known targets
    only (`target_losses`)."""
    nll, targets, _ = target_losses(model, lines)
    known = targets != OOV_ID
    return float(np.exp(nll.mean())), float(np.exp(nll[known].mean())), len(nll), int(known.sum())


class HeldOutCurve(keras.callbacks.Callback):
    """Held-out perplexities after every epoch (for the tutorial recipe only)."""

    def __init__(self, lines):
        super().__init__()
        self.lines, self.curve = lines, []

    def on_epoch_end(self, epoch, logs=None):
        self.curve.append(heldout_perplexities(self.model, self.lines)[:2])


def run(name, settings, seed, path, heldout, epochs):
    start = time.perf_counter()
    curve = HeldOutCurve(heldout)
    tutorial = settings is TUTORIAL_RECIPE
    model = NextWordLSTM.from_text(
        path,
        seed=seed,
        verbose=0,
        callbacks=[curve] if tutorial else None,
        **{"epochs": epochs if tutorial else 100, **settings},
    )
    all_ppl, known_ppl, n, n_known = heldout_perplexities(model, heldout)
    run = {
        "seed": seed,
        "perplexity_all": all_ppl,
        "perplexity_known": known_ppl,
        "epochs_trained": len(model.history.epoch),
        "seconds": time.perf_counter() - start,
    }
    if tutorial:
        best = int(np.argmin([c[0] for c in curve.curve]))
        run["best_epoch_on_heldout"] = best + 1
        run["perplexity_all_at_best_epoch"], run["perplexity_known_at_best_epoch"] = curve.curve[
            best
        ]
    print(
        f"{name:34s} seed {seed}: all {all_ppl:9.1f}  known {known_ppl:9.1f}  "
        f"{run['epochs_trained']:3d} epochs ({run['seconds']:.0f} s)"
        + (
            f"; best epoch on held-out: {best + 1}, all {curve.curve[best][0]:.1f} "
            f"known {curve.curve[best][1]:.1f}"
            if tutorial
            else ""
        ),
        flush=True,
    )
    return run, n, n_known


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["defaults"])
    parser.add_argument("--tutorial-epochs", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    path = datasets.load_final_problem()
    _, heldout = split_lines(read_lines(path), 0.1)
    counts = baselines.evaluate(path)
    results = {
        "backend": keras.config.backend(),
        "versions": {"keras": keras.__version__},
        "heldout_lines": len(heldout),
        "baselines": counts,
        "settings": {},
    }
    print(f"baselines: {json.dumps(counts)}")
    for name in args.settings:
        runs = []
        for seed in args.seeds:
            run_result, n, n_known = run(
                name, SETTINGS[name], seed, path, heldout, args.tutorial_epochs
            )
            runs.append(run_result)
        results["settings"][name] = {"config": SETTINGS[name], "runs": runs}
    results["predictions"], results["known_predictions"] = n, n_known
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"heldout_{keras.config.backend()}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
