"""Padding and the backbone: held-out perplexity post- vs pre-padded, and the cost of the re-lay.

    KERAS_BACKEND=jax python benchmarks/padding.py [--rounds 9] [--steps 20]

Trains `from_text`'s model of The Final Problem (the bundled copy, `seed=0`) and scores its
own held-out lines (the last 10% of the non-blank lines) with exact perplexity, each line's
row post-padded and pre-padded to 16 positions (wider where a line is longer), three ways
over the same trained layers: the backbone as it is (`relaid`: `LeadingPadding` moves a
row's leading padding to its end before the LSTM and moves the hidden states back), the
same layers without the re-lay (`bare`: the backbone before it, which ran padding through
the LSTM first), and the LSTM masked on padding (`masked`: Keras skips masked steps; on a
GPU a mask rules out cuDNN). Then the train step (`train_on_batch`, Adam, the loss alone)
and `predict_on_batch` of the three, each compiled once, are timed in interleaved rounds on
one batch of the training rows; each figure is the median over rounds of a round's mean.
Writes `padding_the_final_problem.json` (with the load average: the machine may be shared).
"""

import argparse
import functools
import json
import os
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from keras_nextword import NextWordLSTM
from keras_nextword.layers.losses import NextWordCrossentropy
from keras_nextword.text import datasets, pipeline
from keras_nextword.text.data import read_lines, split_lines

WIDTH = 16


@keras.saving.register_keras_serializable(package="padding_benchmark")
class NonPadding(keras.layers.Layer):
    """`token_ids != 0`: the mask of the `masked` variant."""

    def call(self, token_ids):
        return keras.ops.not_equal(token_ids, 0)


def variants(model):
    """Token ids -> logits over `model`'s layers: `relaid`, `bare` and `masked`."""
    backbone = model.backbone
    lstm_dropout = model.get_layer("lstm_dropout")
    out = {}
    for name in ("relaid", "bare", "masked"):
        token_ids = keras.Input(shape=(None,), dtype="int32")
        if name == "relaid":
            hidden = backbone(token_ids)
        else:
            embedded = backbone.embedding_dropout(backbone.token_embedding(token_ids))
            mask = NonPadding()(token_ids) if name == "masked" else None
            hidden = backbone.lstm(embedded, mask=mask)
        out[name] = keras.Model(token_ids, model.output_logits(lstm_dropout(hidden)), name=name)
    return out


def padded(x, y, w, pre):
    """Each row's real positions at the start (post) or the end (pre) of `WIDTH`."""
    width = max(WIDTH, x.shape[1])
    rows = [np.zeros((len(x), width), t.dtype) for t in (x, y, w)]
    for i, length in enumerate((w > 0).sum(axis=1)):
        at = slice(width - length, width) if pre else slice(0, length)
        for new, old in zip(rows, (x, y, w)):
            new[i, at] = old[i, :length]
    return rows


def perplexity(net, x, y, w, rows=64):
    """Exact perplexity (log-softmax, no clip) over the positions of weight > 0."""
    nll = []
    for start in range(0, len(x), rows):
        logits = keras.ops.convert_to_numpy(net(x[start : start + rows])).astype("float64")
        real = w[start : start + rows] > 0
        logits, target = logits[real], y[start : start + rows][real]
        top = logits.max(-1, keepdims=True)
        log_z = np.log(np.exp(logits - top).sum(-1)) + top[:, 0]
        nll.append(log_z - logits[np.arange(len(target)), target])
    return float(np.exp(np.concatenate(nll).mean()))


def timed(nets, batch, rounds, steps):
    """Median over `rounds` of each net's mean seconds per train step and predict call."""
    x, y, w = batch
    for net in nets.values():
        net.compile(optimizer=keras.optimizers.Adam(0.001), loss=NextWordCrossentropy())
        net.train_on_batch(x, y, sample_weight=w)  # compiles
        net.predict_on_batch(x)
    seconds = {name: {"train_step": [], "predict": []} for name in nets}
    for _ in range(rounds):
        for name, net in nets.items():
            for kind, call in (
                ("train_step", functools.partial(net.train_on_batch, x, y, sample_weight=w)),
                ("predict", functools.partial(net.predict_on_batch, x)),
            ):
                start = time.perf_counter()
                for _ in range(steps):
                    result = call()
                np.asarray(keras.tree.flatten(result)[0])  # wait for the last step
                seconds[name][kind].append((time.perf_counter() - start) / steps)
    return {
        name: {
            **{f"{kind}_ms": 1000 * statistics.median(s) for kind, s in by_kind.items()},
            **{f"{kind}_ms_rounds": [1000 * t for t in s] for kind, s in by_kind.items()},
        }
        for name, by_kind in seconds.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    path = datasets.load_final_problem()
    train_lines, heldout = split_lines(read_lines(path), 0.1)
    load_before = os.getloadavg()
    model = NextWordLSTM.from_text(path, seed=0, verbose=0)
    nets = variants(model)
    scored = [np.asarray(t) for t in pipeline.layout(model.preprocessor, heldout)]
    heldout_perplexity = {
        f"{name}_{side}": perplexity(net, *padded(*scored, pre=side == "pre"))
        for name, net in nets.items()
        for side in ("post", "pre")
    }
    print(json.dumps(heldout_perplexity, indent=1), flush=True)
    batch_size = model.training_settings.get("batch_size", 32)
    batch = [np.asarray(t)[:batch_size] for t in pipeline.layout(model.preprocessor, train_lines)]
    timings = timed(nets, batch, args.rounds, args.steps)
    print(json.dumps(timings, indent=1), flush=True)
    results = {
        "backend": keras.config.backend(),
        "versions": {"keras": keras.__version__},
        "command": "KERAS_BACKEND=jax python benchmarks/padding.py",
        "heldout_lines": len(heldout),
        "predictions": int((scored[2] > 0).sum()),
        "pre_padded_width": WIDTH,
        "heldout_perplexity": heldout_perplexity,
        "timed_batch_shape": list(batch[0].shape),
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "timings": timings,
        "load_average_before_after": [load_before, os.getloadavg()],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "padding_the_final_problem.json"
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
