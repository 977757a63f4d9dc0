"""Training speed and memory: the tutorial's pipeline against ours, same data, one process.

    KERAS_BACKEND=jax python benchmarks/training.py [--epochs 6] [--out benchmarks/results]
    KERAS_BACKEND=jax python benchmarks/training.py --corpus ../shared/data/complete_sherlock_holmes.txt

The tutorial's pipeline (Step 5-8): every prefix n-gram of every line pre-padded in
one NumPy array, one-hot targets, `Sequential(Embedding, LSTM, Dense(softmax))` with
categorical cross-entropy, batch 32. Ours: `NextWordLSTM.fit` on the lines, laid out
in `tf.data` (`--pipelines`: layout, `+bucket` for line batches of similar length, and
batch size, by default `from_text`'s), built and compiled with the settings `from_text`
chooses for these lines (`recipe.choose`; on The Final Problem: a tied output layer,
dropout 0.5, `WarmAveragedAdam` at 0.02 with its warmed-up average, batch 32), or with
the tutorial's untied `Dense` output layer (`+untied`). Both see the same training lines
(10% held out), the same vocabulary and the same model size; the line layouts
make the tutorial's next-word predictions, windows also those across line ends.
Reported per pipeline: seconds per epoch after the first
(which compiles), next-word predictions per second, peak RSS growth while it runs,
and exact held-out perplexity (line by line) after each epoch (ours: of the weight
average, as `from_text` validates). The tutorial's
pipeline is skipped, with the memory it would need, when its one-hot targets alone
exceed half of this machine's memory. Writes `training_<corpus>_<backend>.json`.
"""

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

import keras
import numpy as np

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.text import datasets
from keras_nextword.text.data import read_lines, split_lines
from keras_nextword.text.pipeline import layout, text_dataset
from keras_nextword.training import phases, recipe


class PeakRSS:
    """Samples this process's resident memory every 5 ms; `peak` is the growth
    over the value at `__enter__`, in MiB."""

    def __enter__(self):
        self.start = self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib()) - self.start


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class EpochClock(keras.callbacks.Callback):
    """Wall time of each epoch, and held-out perplexity after it."""

    def __init__(self, evaluate):
        super().__init__()
        self.evaluate, self.seconds, self.perplexity = evaluate, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)
        self.perplexity.append(self.evaluate())


def heldout_perplexity(model, vectorizer, lines, logits=False):
    """Exact perplexity of `model` (per-position or last-position output:
    probabilities, or `logits`) on every next-word prediction within the
    held-out lines."""
    x, y, w = (np.asarray(t) for t in layout(vectorizer, lines))
    total, count = 0.0, 0
    for start in range(0, len(x), 256):
        xs, ys, ws = x[start : start + 256], y[start : start + 256], w[start : start + 256] > 0
        out = model.predict_on_batch(xs)
        if logits:
            log_p = keras.ops.convert_to_numpy(keras.ops.log_softmax(out, axis=-1))
        else:
            log_p = np.log(np.maximum(keras.ops.convert_to_numpy(out), 1e-30))
        total -= log_p[ws, :][np.arange(ws.sum()), ys[ws]].sum()
        count += ws.sum()
    return float(np.exp(total / count))


def tutorial_model(vocabulary_size):
    model = keras.Sequential(
        [
            keras.layers.Embedding(vocabulary_size, 100),
            keras.layers.LSTM(150),
            keras.layers.Dense(vocabulary_size, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


class PrefixOnly:
    """Scores a last-position model on line layouts: the prefix of each position."""

    def __init__(self, model):
        self.model = model

    def predict_on_batch(self, x):
        probabilities = []
        for t in range(x.shape[1]):
            prefix = np.zeros_like(x)
            prefix[:, x.shape[1] - 1 - t :] = x[:, : t + 1]
            probabilities.append(keras.ops.convert_to_numpy(self.model.predict_on_batch(prefix)))
        return np.stack(probabilities, axis=1)


def run_tutorial(vectorizer, train, heldout, epochs, budget_mib):
    inputs, targets = (keras.ops.convert_to_numpy(t) for t in vectorizer(train))
    one_hot_mib = len(targets) * vectorizer.vocabulary_size() * 4 / 2**20
    if one_hot_mib > budget_mib:
        return {"skipped": f"one-hot targets need {one_hot_mib:,.0f} MiB", "predictions": 0}
    with PeakRSS() as rss:
        one_hot = keras.utils.to_categorical(targets, vectorizer.vocabulary_size())
        model = tutorial_model(vectorizer.vocabulary_size())
        clock = EpochClock(lambda: heldout_perplexity(PrefixOnly(model), vectorizer, heldout))
        model.fit(inputs, one_hot, batch_size=32, epochs=epochs, callbacks=[clock], verbose=0)
    return report(clock, rss, len(targets), one_hot_mib=one_hot_mib)


def run_ours(vectorizer, train, heldout, epochs, mode, bucket, tied, batch_size, settings):
    """`settings`: `recipe.choose`'s for these lines, as `from_text` compiles them."""
    steps = epochs * -(-len(train) // batch_size)
    optimizer, _ = phases.optimizer(settings, steps)  # from_text's
    averaged = optimizer.use_ema
    with PeakRSS() as rss:
        keras.utils.set_random_seed(0)
        model = NextWordLSTM.from_sizes(
            vectorizer.vocabulary_size(),
            preprocessor=vectorizer,
            dropout=settings["dropout"],
            tie_weights=tied,
        )
        model.compile(optimizer=optimizer)

        def scored_perplexity():  # of the average if any, as from_text validates
            if not averaged:
                return heldout_perplexity(model, vectorizer, heldout, logits=True)
            swap = keras.callbacks.SwapEMAWeights()
            swap.set_model(model)
            swap.on_test_begin()
            try:
                return heldout_perplexity(model, vectorizer, heldout, logits=True)
            finally:
                swap.on_test_end()

        clock = EpochClock(scored_perplexity)
        model.fit(
            train,
            epochs=epochs,
            batch_size=batch_size,
            mode=mode,
            bucket=bucket,
            num_sampled=settings["num_sampled"],
            callbacks=[clock],
            verbose=0,
        )
    batches = text_dataset(train, vectorizer, batch_size, mode, bucket=bucket)
    weights = [np.asarray(w) for _, _, w in batches]
    real, total = sum(w.sum() for w in weights), sum(w.size for w in weights)
    return report(clock, rss, int(real), padding=float(1 - real / total))


def report(clock, rss, predictions, **extra):
    seconds = float(np.median(clock.seconds[1:] or clock.seconds))
    return {
        "predictions": predictions,
        "seconds_per_epoch": seconds,
        "first_epoch_seconds": clock.seconds[0],
        "predictions_per_second": predictions / seconds,
        "peak_rss_growth_mib": rss.peak,
        "heldout_perplexity": clock.perplexity,
        **extra,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=datasets.load_final_problem())
    parser.add_argument("--epochs", type=int, default=6, help="epochs per pipeline")
    parser.add_argument(
        "--pipelines",
        nargs="+",
        default=["line+untied", "window+untied", "line", "line+bucket", "window"],
        help="LAYOUT[+bucket][+untied][:BATCH_SIZE]; +untied: the tutorial's Dense output "
        "layer, not from_text's default tied one; the batch size is from_text's unless given",
    )
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    train, heldout = split_lines(read_lines(args.corpus), 0.1)
    vectorizer = NGramVectorizer(word_dropout=True)  # from_text's; the tutorial's arrays have none
    vectorizer.adapt(train)
    counts = recipe.CorpusCounts(
        len(train), int(sum(vectorizer.word_counts)), vectorizer.vocabulary_size()
    )
    settings, _ = recipe.choose(counts)  # as from_text chooses for these lines
    budget = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**21
    results = {
        "corpus": Path(args.corpus).name,
        "backend": keras.config.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": {"keras": keras.__version__},
        "vocabulary": vectorizer.vocabulary_size(),
        "epochs": args.epochs,
        "settings": settings,
        "pipelines": {"tutorial (prefix n-grams, one-hot, batch 32)": None},
    }
    tutorial = run_tutorial(vectorizer, train, heldout, args.epochs, budget)
    results["pipelines"]["tutorial (prefix n-grams, one-hot, batch 32)"] = tutorial
    print_row("tutorial (prefix n-grams, one-hot, batch 32)", tutorial, tutorial)
    for pipeline in args.pipelines:
        layout, _, batch_size = pipeline.partition(":")
        batch_size = int(batch_size or settings["batch_size"])
        mode, *flags = layout.split("+")
        bucket, tied = "bucket" in flags, "untied" not in flags
        name = f"ours, {layout}, batch {batch_size}"
        ours = run_ours(
            vectorizer, train, heldout, args.epochs, mode, bucket, tied, batch_size, settings
        )
        if "predictions_per_second" in tutorial:
            ours["speedup"] = ours["predictions_per_second"] / tutorial["predictions_per_second"]
        results["pipelines"][name] = ours
        print_row(name, ours, tutorial)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"training_{Path(args.corpus).stem}_{keras.config.backend()}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


def print_row(name, result, tutorial):
    if "skipped" in result:
        print(f"{name:46s} skipped: {result['skipped']}")
        return
    ratio = result.get("speedup", 1.0)
    print(
        f"{name:46s} {result['seconds_per_epoch']:7.2f} s/epoch "
        f"{result['predictions_per_second']:9,.0f} predictions/s ({ratio:4.1f}x)  "
        f"peak RSS +{result['peak_rss_growth_mib']:6,.0f} MiB  held-out perplexity "
        + " ".join(f"{p:.0f}" for p in result["heldout_perplexity"]),
        flush=True,
    )


if __name__ == "__main__":
    main()
