"""One training step on *The Final Problem*, part by part: ours (Keras on JAX) beside the
peer's PyTorch modules (`peer.py`), on the same shapes, in one run.

    KERAS_BACKEND=jax python benchmarks/step.py

Where the training words/s of `peer.py` come from. Each part is timed forward and backward
(the gradients of a scalar of its outputs, for its weights and its float inputs), with no optimizer:

- `lstm`: the LSTM layer alone, embedding 100 in, 150 units, every position's output;
- `output`: the tied output layer (150 -> 100 projection, times the embedding matrix) and
  the log-softmax cross-entropy over the vocabulary, at every position;
- `model`: the whole model's loss gradient as each trains: ours `NextWordLSTM` (tied,
  `from_text`'s dropout), the peer `PeerLSTM` (untied, dropout 0.2);
- `train_step`: one whole training step, the update included: ours `train_on_batch` of
  the model `from_text` builds and compiles for the corpus (its optimizer, weight average
  and metrics), the peer one step of `peer.train_epoch` (clipping, SGD).

An epoch of ours is `from_text`'s steps of its line rows, whose padding carries no word; the
peer's stream has none. The JSON records both epochs' positions and training words, and the
training words/s the `train_step` figures give (`peer.py` measures them in training).

Shapes: `from_text`'s on *The Final Problem* (its chosen batch size, rows of its
`sequence_length`) and the peer's (20 columns, 35 positions). Ours runs jitted
(`jax.jit(jax.value_and_grad(...))`, compiled before timing), the peer eagerly, as each
trains; torch on 2 threads as `peer.py`. Each figure is the median of 7 rounds of 50 calls,
the rounds interleaving every part, framework and shape, so that a slow minute of the
machine falls on all of them. Writes `benchmarks/results/step_the_final_problem.json`.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import numpy as np
import torch
import torch.nn.functional as F
from peer import PeerLSTM, machine, train_epoch

from keras_nextword import NextWordLSTM
from keras_nextword.text import datasets, pipeline


def ours(chosen, batch, length, rng):
    """Our parts, each a function of no argument; `chosen`: `from_text`'s compiled model."""
    vocabulary_size = chosen.vocabulary_size
    model = NextWordLSTM.from_sizes(vocabulary_size, dropout=chosen.dropout, tie_weights=True)
    ids = rng.integers(2, vocabulary_size, (batch, length)).astype("int32")
    targets = jnp.asarray(rng.integers(2, vocabulary_size, (batch, length)).astype("int32"))
    model(ids)
    weights = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]
    lstm = model.backbone.lstm
    embedded = jnp.asarray(rng.standard_normal((batch, length, 100)).astype("float32"))
    hidden = jnp.asarray(rng.standard_normal((batch, length, 150)).astype("float32"))
    lstm_weights = [v.value for v in lstm.trainable_variables]
    lstm_fixed = [v.value for v in lstm.non_trainable_variables]

    def crossentropy(logits):
        log_p = jax.nn.log_softmax(logits.astype("float32"), axis=-1)
        return -jnp.mean(jnp.take_along_axis(log_p, targets[..., None], axis=-1))

    def lstm_part(weights, inputs):
        outputs, _ = lstm.stateless_call(weights, lstm_fixed, inputs)
        return jnp.sum(outputs)

    def output_part(weights, hidden):
        # The tied output layer: NextWordLSTM.output_logits, its weights passed in.
        with keras.StatelessScope(state_mapping=zip(model.trainable_variables, weights)):
            return crossentropy(model.output_logits(hidden))

    def model_part(weights, ids):
        logits, _ = model.stateless_call(weights, fixed, ids, training=True)
        return crossentropy(logits)

    def jitted(function, *args, argnums=(0, 1)):
        step = jax.jit(jax.value_and_grad(function, argnums=argnums))
        jax.block_until_ready(step(*args))  # compiled here, not timed
        return lambda: jax.block_until_ready(step(*args))

    def train_step():
        chosen.train_on_batch(ids, targets, sample_weight=np.ones(ids.shape, "float32"))

    train_step()  # compiled here
    return {
        "lstm": jitted(lstm_part, lstm_weights, embedded),
        "output": jitted(output_part, weights, hidden),
        "model": jitted(model_part, weights, ids, argnums=0),  # ids are not differentiable
        "train_step": train_step,
    }


def peer(vocabulary_size, batch, length, rng):
    """The peer's parts, eager PyTorch, on `(time, batch)` inputs as it trains."""
    tied = PeerLSTM(vocabulary_size, tied=True)
    untied = PeerLSTM(vocabulary_size, dropout=0.2).train()
    ids = torch.from_numpy(rng.integers(2, vocabulary_size, (length, batch)))
    targets = torch.from_numpy(rng.integers(2, vocabulary_size, (length * batch,)))
    embedded = torch.randn(length, batch, 100, requires_grad=True)
    hidden = torch.randn(length, batch, 150, requires_grad=True)

    def lstm_part():
        outputs, _ = tied.lstm(embedded)
        outputs.sum().backward()

    def output_part():
        logits = F.linear(tied.projection(hidden), tied.embedding.weight)
        F.cross_entropy(logits.view(-1, vocabulary_size), targets).backward()

    def model_part():
        outputs, _ = untied.hidden(ids)
        F.cross_entropy(untied.logits(outputs).view(-1, vocabulary_size), targets).backward()

    stream = torch.from_numpy(rng.integers(2, vocabulary_size, (length + 1, batch)))

    def train_step():  # one BPTT chunk: one step
        train_epoch(untied, stream, lr=1.0, bptt=length)

    return {"lstm": lstm_part, "output": output_part, "model": model_part, "train_step": train_step}


def milliseconds(call, calls):
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    # Shapes, vocabulary, dropout and compiled model as `from_text` chooses them on the
    # corpus: one epoch, so that it sets apart the lines to stop on as a whole run does.
    chosen = NextWordLSTM.from_text(datasets.load_final_problem(), epochs=1, verbose=0, seed=0)
    vocabulary_size = chosen.vocabulary_size
    batch_size, length = chosen.training_settings["batch_size"], chosen.preprocessor.sequence_length
    shapes = {"from_text": (batch_size, length), "peer": (20, 35)}
    # One epoch of each: ours, from_text's line rows; the peer, the training words' stream.
    words = int(sum(chosen.preprocessor.word_counts))
    steps = pipeline.batches_per_pass(
        chosen.preprocessor.tokenizer.line_lengths, batch_size, "line", length
    )
    epochs = {
        "ours": {"steps": steps, "positions": steps * batch_size * length, "words": words},
        "peer": {"steps": words // (20 * 35), "positions": words, "words": words},
    }
    parts = {}
    for shape, (batch, length) in shapes.items():
        parts[("ours", shape)] = ours(chosen, batch, length, rng)
        parts[("peer", shape)] = peer(vocabulary_size, batch, length, rng)
    times = {key: {name: [] for name in functions} for key, functions in parts.items()}
    for _ in range(args.rounds):
        for key, functions in parts.items():
            for name, call in functions.items():
                milliseconds(call, 5)  # warm
                times[key][name].append(milliseconds(call, args.calls))
    results = {
        "corpus": "the_final_problem.txt",
        "machine": machine(),
        "vocabulary_size": vocabulary_size,
        "shapes": {name: {"batch": b, "positions": t} for name, (b, t) in shapes.items()},
        "dropout": {"ours": chosen.dropout, "peer": 0.2},
        "epoch": epochs,
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "load_average_after": os.getloadavg(),
        "parts": [],
    }
    for (framework, shape), named in times.items():
        batch, length = shapes[shape]
        for name, rounds in named.items():
            median = statistics.median(rounds)
            results["parts"].append(
                {
                    "framework": "keras_jax" if framework == "ours" else "torch",
                    "shape": shape,
                    "part": name,
                    "ms": median,
                    "positions_per_second": batch * length / median * 1e3,
                    "ms_rounds": rounds,
                }
            )
            print(
                f"{framework:5} {shape:9} {name:10} {median:6.2f} ms ({batch}x{length}), "
                f"{batch * length / median * 1e3:,.0f} positions/s"
            )
    for framework, shape in (("ours", "from_text"), ("peer", "peer")):
        step = next(
            p["ms"]
            for p in results["parts"]
            if (p["framework"] == "torch") == (framework == "peer")
            and p["shape"] == shape
            and p["part"] == "train_step"
        )
        epoch = epochs[framework]
        epoch["words_per_position"] = epoch["words"] / epoch["positions"]
        epoch["train_step_words_per_second"] = epoch["words"] / (epoch["steps"] * step) * 1e3
        print(
            f"{framework}: {epoch['positions']:,} positions an epoch for {words:,} words, "
            f"{epoch['train_step_words_per_second']:,.0f} words/s from its train_step"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "step_the_final_problem.json"
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
