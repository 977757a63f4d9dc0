"""Known targets on the same footing: ours and Kneser-Ney on the very targets ours knows,
as each model gives them and given that the next word is a known one.

    KERAS_BACKEND=jax python benchmarks/known.py --seeds 0 1 2
    KERAS_BACKEND=jax python benchmarks/known.py --corpus tiny_shakespeare

The suite's known-target figures (`suite.py`) score each model on the targets it knows, and
the two know different words: Kneser-Ney's vocabulary is every training word, the lines
`from_text` sets apart included. Nor do they spend the same share of their probability on
`[UNK]`: ours learns it (word dropout turns rare training words into `[UNK]`), where
Kneser-Ney, fit on lines whose words are all known, gives it almost nothing and so scores
badly on the `[UNK]` targets (its all-target figure) and well on the others. For each corpus
(prepared as `suite.py` prepares it), `from_text(path, seed=s)` in this process, and
`baselines.py`'s interpolated Kneser-Ney 4-gram fit as the suite fits it, both scored on the
held-out predictions whose target ours knows (each word after the first of its line, from
the words before it in that line):

- `as_is`: perplexity of P(target), as the suite's known-target figure;
- `given_known`: perplexity of P(target) / (1 - P(`[UNK]`)), the distribution over the
  known words alone: what a keyboard offers (`suggest` never offers `[UNK]`);
- `unknown_share`: the mean P(`[UNK]`) each model gives at those predictions, and at the
  predictions whose target is `[UNK]` to ours.

Writes `results/known/<corpus>.json`.
"""

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import baselines
import heldout
import numpy as np
import suite

from keras_nextword import NextWordLSTM
from keras_nextword.text import data
from keras_nextword.text.ngram_vectorizer import OOV_ID
from keras_nextword.training import recipe

HERE = Path(__file__).resolve().parent


def figures(nll, log_unknown, known):
    """Perplexity as is and given a known target, and the mean P([UNK]), over `known`
    predictions; the mean P([UNK]) over the others."""
    given = nll[known] + np.log1p(-np.exp(log_unknown[known]))
    return {
        "as_is": float(np.exp(nll[known].mean())),
        "given_known": float(np.exp(given.mean())),
        "unknown_share": float(np.exp(log_unknown[known]).mean()),
        "unknown_share_at_unknown_targets": float(np.exp(log_unknown[~known]).mean()),
    }


def kneser_ney_losses(path, words):
    """Kneser-Ney 4-gram (`baselines.evaluate`'s fit) on the held-out predictions:
    `-log P(target)` and `log P([UNK])` at each, and its vocabulary size. `words`: the
    held-out targets as ours names them, to check that both score the same predictions."""
    vocabulary, train, pairs = baselines.path_predictions(path)
    model = baselines.KneserNey(vocabulary).fit(train)
    if len(pairs) != len(words) or any(
        w is not None and w != target for w, (_, target) in zip(words, pairs)
    ):
        raise ValueError(f"Kneser-Ney's held-out predictions of {path} are not ours")
    nll = np.array([-math.log(model.prob(target, context)) for context, target in pairs])
    unknown = np.array([math.log(model.prob(baselines.UNK, context)) for context, _ in pairs])
    return nll, unknown, len(vocabulary)


def run(corpus, data_folder, slice_mb, max_minutes, seeds):
    """Ours with each seed and Kneser-Ney, on the targets ours knows."""
    limit = {} if max_minutes is None else {"max_minutes": max_minutes}
    results = {"machine": suite.machine(), "commit": suite.commit(), "runs": []}
    results["load_average_before"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        path, results["corpus"] = suite.prepare(corpus, data_folder, folder, slice_mb)
        held_out = data.listed(recipe.split(path).held_out)
        for seed in seeds:
            model = NextWordLSTM.from_text(path, seed=seed, verbose=0, **limit)
            nll, targets, log_unknown = heldout.target_losses(model, held_out)
            known = targets != OOV_ID
            vocabulary = np.asarray(model.preprocessor.get_vocabulary(), dtype=object)
            words = np.where(known, vocabulary[targets], None)
            ours = figures(nll, log_unknown, known)
            kn_nll, kn_unknown, kn_vocabulary = kneser_ney_losses(path, words)
            kneser_ney = figures(kn_nll, kn_unknown, known)
            run = {"seed": seed, "predictions": len(nll), "known_to_ours": int(known.sum())}
            run.update(ours=ours, kneser_ney=kneser_ney, vocabulary=len(vocabulary))
            run["kneser_ney_vocabulary"] = kn_vocabulary
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    results["load_average_after"] = os.getloadavg()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    suite.corpus_options(parser)
    parser.add_argument("--max-minutes", type=float, help="from_text's limit (default its own)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    results = run(args.corpus, args.data, args.slice, args.max_minutes, args.seeds)
    folder = HERE / "results" / "known"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{results['corpus']['name']}.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
