"""Keyboard figures: `suggest` latency, top-1/top-3 and keystroke savings beside Kneser-Ney,
and the LiteRT model's int8 perplexity and size beside float, in one run.

    KERAS_BACKEND=jax python benchmarks/suggest.py [--model model.keras] [--seed 0]
        [--repeats 200] [--out benchmarks/results]

The model is `from_text`'s defaults on The Final Problem (seed 0), or `--model`. Its split
is `from_text`'s: the last 10% of the non-blank lines are held out, and the keyboard figures
are over every word after the first of a held-out line (685 words), typed after the words
before it in its line. The interpolated Kneser-Ney 4-gram of `baselines.py` is fit on the
training lines of the same split and scored with the same rule (`keras_nextword.layers.metrics.
keyboard_metrics`): its suggestions are its k likeliest vocabulary words that start with
what is typed. Keystroke savings take k = 3 suggestions; a word shown is taken at once.

Latency, after a warm-up call, median over `--repeats` calls timed in turns: `suggest` on
1 and 64 texts (string in, words out), `model.predict` and `model.predict_on_batch` on
the same rows of token ids (the model only), and the LiteRT interpreter on the same rows
(a float artifact with the fixed shape (1, sequence_length), invoked once per row, and one
with (64, sequence_length)). Perplexity of the float and int8 (dynamic-range) LiteRT
artifacts is over the held-out predictions. Writes `suggest_<backend>.json`.
"""

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import baselines
import keras
import numpy as np

import keras_nextword
from keras_nextword import NextWordLSTM
from keras_nextword.generation.suggest import suggest
from keras_nextword.io import saving
from keras_nextword.io.export import export
from keras_nextword.layers.metrics import evaluate_keyboard, keyboard_metrics, line_predictions
from keras_nextword.text import data, datasets, pipeline
from keras_nextword.text.ngram_vectorizer import python_split_words
from keras_nextword.training import recipe

TEXT = "It is with a heavy heart that I take up my pen to write these the last words in which I "


def median_times(fns, repeats):
    """Median milliseconds of each function, timed in turns after one warm-up call each."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path))
    runner.allocate_tensors()
    given, taken = runner.get_input_details()[0], runner.get_output_details()[0]

    def run(rows):
        outputs = []
        for start in range(0, len(rows), given["shape"][0]):
            runner.set_tensor(given["index"], rows[start : start + given["shape"][0]])
            runner.invoke()
            outputs.append(runner.get_tensor(taken["index"]))
        return np.concatenate(outputs)

    return run


def log_probabilities(outputs):
    """Next-word log-probabilities from the artifact's outputs (logits)."""
    logits = outputs.astype("float64")
    top = logits.max(-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


def perplexity(outputs, y, w):
    scores = np.take_along_axis(log_probabilities(outputs), y[..., None], -1)[..., 0]
    return math.exp(-(scores * w).sum() / w.sum())


def kneser_ney_metrics(train_lines, heldout_lines, vocabulary, k):
    """Kneser-Ney's keyboard metrics on the held-out predictions, over the model's vocabulary."""
    kn_vocabulary, train_pairs, _ = baselines.heldout_predictions(train_lines, heldout_lines)
    if kn_vocabulary != vocabulary[1:]:
        raise RuntimeError("Kneser-Ney's vocabulary is not the model's: not the same split.")
    model = baselines.KneserNey(kn_vocabulary).fit(train_pairs)
    contexts, words = line_predictions(heldout_lines)
    scores = np.full((len(words), len(vocabulary)), -np.inf)
    for row, context in zip(scores, contexts):
        row[1:] = [model.prob(word, context) for word in kn_vocabulary]
    return keyboard_metrics(vocabulary, words, scores, k=k)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras model (default: train from_text's defaults)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=3, help="suggestions for keystroke savings")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    results = {
        "backend": keras.config.backend(),
        "versions": {"keras": keras.__version__, "keras_nextword": keras_nextword.__version__},
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_start": os.getloadavg(),
        },
    }
    path = datasets.load_final_problem()
    # Kneser-Ney learns from the lines from_text trains on: not those it sets apart to stop on.
    parts = recipe.split(path)
    train_lines, heldout_lines = data.listed(parts.train), data.listed(parts.held_out)
    tic = time.perf_counter()
    if args.model:
        model = saving.load_model(args.model)
    else:
        model = NextWordLSTM.from_text(path, seed=args.seed, verbose=0)
    results["model"] = {
        "source": args.model or f"from_text defaults, seed {args.seed}",
        "config": {k: v for k, v in model.get_config().items() if k != "preprocessor"},
        "seconds": time.perf_counter() - tic,
    }
    vocabulary = model.preprocessor.get_vocabulary()

    # Keyboard metrics, ours and Kneser-Ney's, on the same held-out predictions.
    ours = evaluate_keyboard(model, heldout_lines, k=args.k)
    theirs = kneser_ney_metrics(train_lines, heldout_lines, vocabulary, args.k)
    results["keyboard"] = {"k": args.k, "lstm": ours, "kneser_ney_4gram": theirs}

    # The artifacts: LiteRT float (1 row and 64 rows) and int8.
    x, y, w = (np.asarray(t) for t in pipeline.layout(model.preprocessor, heldout_lines))
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = {
            "float": export(model, f"{tmp}/float", "litert"),
            "int8": export(model, f"{tmp}/int8", "litert", quantize=True),
            "float_64": export(model, f"{tmp}/float_64", "litert", batch_size=64),
        }
        runners = {name: interpreter(p) for name, p in artifacts.items()}
        sizes = {name: os.path.getsize(p) for name, p in artifacts.items()}
        keras_outputs = np.asarray(model.predict(x, verbose=0))
        litert = {"keras_float_perplexity": perplexity(keras_outputs, y, w)}
        for name in ("float", "int8"):
            outputs = runners[name](x)
            litert[name] = {
                "perplexity": perplexity(outputs, y, w),
                "bytes": sizes[name],
                "max_abs_difference_to_keras": float(np.abs(outputs - keras_outputs).max()),
            }
        litert["int8_perplexity_change"] = (
            litert["int8"]["perplexity"] / litert["float"]["perplexity"] - 1
        )
        results["litert"] = litert

        # Latency: string in, words out (suggest) beside the model alone on the same rows.
        latency = {}
        for n in (1, 64):
            texts = [TEXT] * n
            rows = np.zeros((n, model.preprocessor.sequence_length), "int32")
            ids = [model.preprocessor.token_to_id(word) for word in python_split_words(TEXT)]
            rows[:, : len(ids)] = ids[-rows.shape[1] :]
            runner = runners["float" if n == 1 else "float_64"]
            latency[f"{n}_texts"] = median_times(
                {
                    "suggest k=5": lambda texts=texts: suggest(model, texts, k=5),
                    "model.predict": lambda rows=rows: model.predict(rows, verbose=0),
                    "model.predict_on_batch": lambda rows=rows: model.predict_on_batch(rows),
                    "LiteRT interpreter": lambda rows=rows, run=runner: run(rows),
                },
                args.repeats,
            )
        results["latency_ms"] = latency
    results["machine"]["load_average_end"] = os.getloadavg()

    print(f"Backend {results['backend']}, load average {results['machine']['load_average_start']}")
    print(f"{'held-out words':24s} {'top-1':>7s} {'top-3':>7s} {'keystrokes saved':>17s}")
    for name, r in (("LSTM", ours), ("Kneser-Ney 4-gram", theirs)):
        print(
            f"{name:24s} {r['top1_accuracy']:7.1%} {r['top3_accuracy']:7.1%} "
            f"{r['keystroke_savings']:17.1%}"
        )
    for n, times in latency.items():
        print(f"latency, {n}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in times.items()))
    print(
        f"LiteRT perplexity float {litert['float']['perplexity']:.1f} "
        f"({litert['float']['bytes']:,} bytes), int8 {litert['int8']['perplexity']:.1f} "
        f"({litert['int8']['bytes']:,} bytes), Keras {litert['keras_float_perplexity']:.1f}"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    file = out / f"suggest_{results['backend']}.json"
    file.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {file}")


if __name__ == "__main__":
    main()
