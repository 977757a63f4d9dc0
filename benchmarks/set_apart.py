"""What setting training lines apart costs a corpus, and what a refit on all of them regains.

    KERAS_BACKEND=jax python benchmarks/set_apart.py --corpus the_final_problem --seeds 0 1 2
    KERAS_BACKEND=jax python benchmarks/set_apart.py --corpus wikitext2_sentences --slice 0.33

`from_text` sets the last 10% of the training lines apart to stop on (`recipe.dev_lines`): they
are never trained on and their words are not in the vocabulary. For each corpus (prepared as
`suite.py` prepares it, `--slice` included), in fresh processes, on the same held-out lines:

- `from_text(path, seed=0)`, the default run (`default`);
- `from_text(path, seed=0, epochs=E, early_stopping_patience=0)`, E the epoch with the best
  set-apart perplexity in the default run: every training line trained on and in the
  vocabulary, as long as the stopping rule found (`refit`);
- the same with the default run's vocabulary size (`max_tokens`): the most frequent words of
  all the lines, so nearly the same words (`refit_same_size`);
- interpolated Kneser-Ney 4-gram on all the training lines (`baselines.py`).

Held-out perplexity is exact and scored as `suite.py` scores it, over all targets, over the
targets each model knows, and over the targets every model knows (the refit's vocabulary is
larger: its own known targets include rarer words, so only the shared ones compare).
Writes `results/set_apart/<corpus>.json`.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import heldout
import numpy as np
import suite

from keras_nextword import NextWordLSTM
from keras_nextword.text import data
from keras_nextword.text.ngram_vectorizer import OOV_ID
from keras_nextword.training import recipe

HERE = Path(__file__).resolve().parent


def target_losses(model, lines):
    """`heldout.target_losses`, with each target's word (None for `[UNK]`)."""
    nll, targets, _ = heldout.target_losses(model, lines)
    words = np.asarray(model.preprocessor.get_vocabulary(), dtype=object)[targets]
    return nll, np.where(targets == OOV_ID, None, words)


def scores(nll, words, shared):
    """Perplexity over all targets, known ones, and those every compared model knows."""
    known = words != None  # noqa: E711 (an object array)
    counts = {"known": int(known.sum())}
    both = np.array([w in shared for w in words])
    return {
        "perplexity_all": float(np.exp(nll.mean())),
        "perplexity_known": float(np.exp(nll[known].mean())),
        "perplexity_known_to_both": float(np.exp(nll[both].mean())),
        "known_to_both": int(both.sum()),
        **counts,
    }


def train(path, seed, **arguments):
    start = time.perf_counter()
    model = NextWordLSTM.from_text(path, seed=seed, verbose=0, **arguments)
    history = model.history.history
    return model, {
        "seconds": time.perf_counter() - start,
        "vocabulary": model.backbone.vocabulary_size,
        "training_words": sum(model.preprocessor.word_counts),
        "epochs": len(history["loss"]),
        "dev_perplexity": history.get("dev_perplexity"),
    }


def compare(path, held_out, seed, limit):
    """The default run and the refit with one seed, scored on the held-out lines."""
    results = {"seed": seed}
    default, results["default"] = train(path, seed, **limit)
    dev = results["default"]["dev_perplexity"]
    epochs = results["best_epoch"] = dev.index(min(dev)) + 1
    again = dict(epochs=epochs, early_stopping_patience=0, **limit)
    models = {"default": default}
    models["refit"], results["refit"] = train(path, seed, **again)
    size = default.backbone.vocabulary_size
    models["refit_same_size"], results["refit_same_size"] = train(
        path, seed, max_tokens=size, **again
    )
    shared = set.intersection(
        *(set(m.preprocessor.get_vocabulary()[OOV_ID + 1 :]) for m in models.values())
    )
    default_figure = None
    for name, model in models.items():
        results[name].update(scores(*target_losses(model, held_out), shared))
        figure = results[name]["perplexity_known_to_both"]
        default_figure = default_figure or figure
        results[f"{name}_over_default_known_to_both"] = figure / default_figure
    print(json.dumps({k: v for k, v in results.items() if k != "default"}), flush=True)
    return results


def run(corpus, data_folder, slice_mb, max_minutes, seeds):
    import baselines

    limit = {} if max_minutes is None else {"max_minutes": max_minutes}
    results = {"machine": suite.machine(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as folder:
        path, results["corpus"] = suite.prepare(corpus, data_folder, folder, slice_mb)
        held_out = data.listed(recipe.split(path).held_out)
        results["runs"] = [compare(path, held_out, seed, limit) for seed in seeds]
        kneser_ney = baselines.evaluate(path)["models"]["Kneser-Ney 4-gram"]
    results["kneser_ney"] = {k: kneser_ney[k] for k in ("perplexity_all", "perplexity_known")}
    for name in ("refit", "refit_same_size"):
        key = f"{name}_over_default_known_to_both"
        results[f"{key}_mean"] = float(np.mean([r[key] for r in results["runs"]]))
    results["load_average_after"] = os.getloadavg()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    suite.corpus_options(parser)
    parser.add_argument("--max-minutes", type=float, help="from_text's limit (default its own)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    results = run(args.corpus, args.data, args.slice, args.max_minutes, args.seeds)
    folder = HERE / "results" / "set_apart"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{results['corpus']['name']}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(
        json.dumps({k: results[k] for k in ("kneser_ney", "refit_over_default_known_to_both_mean")})
    )


if __name__ == "__main__":
    main()
