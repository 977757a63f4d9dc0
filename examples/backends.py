"""One model, two backends: train and save on one, load and generate on another.

Keras picks its backend once per process, so each side runs in its own
subprocess (this script again, with `KERAS_BACKEND` set). Both sides continue
the same prompts greedily and predict the next-word distribution; this process
compares them.

    python examples/backends.py
    python examples/backends.py --train-on torch --load-on tensorflow --epochs 10
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

BACKENDS = ["jax", "tensorflow", "torch"]
PROMPTS = ["It is with a heavy heart", "Holmes", "my dear Watson"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-on", choices=BACKENDS, default="jax")
    parser.add_argument("--load-on", choices=BACKENDS, default="torch")
    parser.add_argument("--epochs", type=int, default=5)
    # Internal: what a subprocess does ("train" or "load"), and with which file.
    parser.add_argument("--step", choices=["train", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    return parser.parse_args()


def step(args):
    """Trains and saves, or loads, then writes generations and predictions as JSON."""
    import keras

    from keras_nextword import NextWordLSTM
    from keras_nextword.text import datasets

    if args.step == "train":
        model = NextWordLSTM.from_text(
            datasets.load_final_problem(), epochs=args.epochs, seed=0, verbose=2
        )
        model.save(args.model)
    else:
        model = keras.saving.load_model(args.model)
    result = {
        "backend": keras.config.backend(),
        "texts": model.generate(PROMPTS, max_length=8),
        "probabilities": model.predict(PROMPTS, verbose=0).tolist(),
    }
    with open(f"{args.model}.{args.step}.json", "w", encoding="utf-8") as f:
        json.dump(result, f)


def run_step(name, backend, args, model):
    """Runs `step` in a fresh interpreter on `backend`; returns its JSON result."""
    print(f"--- {name} on {backend} ---", flush=True)
    command = [sys.executable, __file__, "--step", name, "--model", model]
    command += ["--epochs", str(args.epochs)]
    subprocess.run(command, env={**os.environ, "KERAS_BACKEND": backend}, check=True)
    with open(f"{model}.{name}.json", encoding="utf-8") as f:
        return json.load(f)


def main():
    args = parse_args()
    if args.step:
        return step(args)
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.keras")
        trained = run_step("train", args.train_on, args, model)
        loaded = run_step("load", args.load_on, args, model)
    for result in (trained, loaded):
        print(f"\n{result['backend']}:")
        for text in result["texts"]:
            print(f"  {text}")
    difference = max(
        abs(a - b)
        for row_a, row_b in zip(trained["probabilities"], loaded["probabilities"])
        for a, b in zip(row_a, row_b)
    )
    same = "the same" if trained["texts"] == loaded["texts"] else "DIFFERENT"
    print(f"\nGenerations are {same}; next-word probabilities differ by at most {difference:.2e}.")


if __name__ == "__main__":
    main()
