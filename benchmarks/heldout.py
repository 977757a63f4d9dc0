"""Held-out perplexity of `from_text` settings on The Final Problem's last 10% of lines.

    KERAS_BACKEND=jax python benchmarks/heldout.py [--seeds 0 1 2] [--out benchmarks/results]

The split is `from_text`'s own: the vocabulary is every word of the first 90% of the
non-blank lines plus `[UNK]`; perplexity is exact (full softmax) over all next-word
predictions of the held-out lines, and over those whose target is a known word. Each
setting reports its best epoch as chosen by early stopping on those same lines (the
model selection the defaults do), so compare settings with each other, not with a
baseline tuned elsewhere. Writes `heldout_<backend>.json`.
"""

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_nextword import NextWordLSTM, datasets
from keras_nextword.data import read_lines, split_lines
from keras_nextword.preprocessing import OOV_ID

SETTINGS = {
    "tutorial (no regularization)": {},
    "dropout 0.5": {"dropout": 0.5},
    "word dropout": {"word_dropout": True},
    "dropout 0.5 + word dropout": {"dropout": 0.5, "word_dropout": True},
    "dropout 0.5 + word dropout, batch 8": {"dropout": 0.5, "word_dropout": True, "batch_size": 8},
}


def heldout_perplexities(model, lines):
    """Exact perplexity over all held-out predictions and over known targets only."""
    x, y = model.preprocessor(lines)
    probabilities = model.predict(x, batch_size=512, verbose=0)
    y = keras.ops.convert_to_numpy(y)
    nll = -np.log(np.maximum(probabilities[np.arange(len(y)), y], 1e-30))
    known = y != OOV_ID
    return float(np.exp(nll.mean())), float(np.exp(nll[known].mean())), len(y), int(known.sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    path = datasets.load_final_problem()
    _, heldout = split_lines(read_lines(path), 0.1)
    results = {"backend": keras.config.backend(), "heldout_lines": len(heldout), "settings": {}}
    for name, settings in SETTINGS.items():
        runs = []
        for seed in args.seeds:
            start = time.perf_counter()
            model = NextWordLSTM.from_text(
                path, epochs=args.epochs, seed=seed, verbose=0, **settings
            )
            all_ppl, known_ppl, n, n_known = heldout_perplexities(model, heldout)
            history = model.history.history["val_perplexity"]
            runs.append(
                {
                    "seed": seed,
                    "perplexity_all": all_ppl,
                    "perplexity_known": known_ppl,
                    "best_epoch": int(np.argmin(history)) + 1,
                    "epochs_run": len(history),
                    "seconds": time.perf_counter() - start,
                }
            )
            print(
                f"{name:40s} seed {seed}: all {all_ppl:7.1f}  known {known_ppl:7.1f}  "
                f"best epoch {runs[-1]['best_epoch']:3d}  ({runs[-1]['seconds']:.0f} s)",
                flush=True,
            )
        results["settings"][name] = {"config": settings, "runs": runs}
    results["predictions"], results["known_predictions"] = n, n_known
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"heldout_{keras.config.backend()}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
