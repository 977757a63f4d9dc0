"""The tutorial, end to end: train on "The Final Problem", plot, and generate.

The tutorial's model (`Embedding(100) -> LSTM(150) -> softmax`, Adam) trained
with the package's defaults: one LSTM pass per line, dropout and word dropout,
the epoch count chosen on the training lines (under a minute on 2 CPU cores
with JAX); it prints each setting it chose with its reason, then one line per
epoch with the time left. The last 10% of lines are held out and only reported: the plot shows
loss and perplexity on both sides. `--tutorial` trains the tutorial's own recipe
instead (prefix n-grams, no regularization, all 100 epochs: about 8 minutes),
whose plot shows held-out perplexity parting from training perplexity as the
model learns the story by heart. Saves the model and the plot, then continues a
few prompts greedily and with top-p sampling.

    python examples/final_problem.py
    python examples/final_problem.py --tutorial --epochs 20 --backend torch --out /tmp/fp.keras
"""

import argparse
import os
import time

# Words of the story: a word it never saw would read as [UNK] (and warn).
PROMPTS = ["It is with a heavy heart", "Holmes", "my dear Watson", "the professor"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100, help="at most (default: %(default)s)")
    parser.add_argument(
        "--tutorial",
        action="store_true",
        help="the tutorial's recipe: prefix n-grams, batch 32, no regularization, all epochs",
    )
    parser.add_argument(
        "--backend",
        choices=["jax", "tensorflow", "torch"],
        default=os.environ.get("KERAS_BACKEND", "jax"),
        help="default: $KERAS_BACKEND, else jax (the fastest on CPU here)",
    )
    parser.add_argument("--out", default="final_problem.keras", help="model path; plot beside it")
    parser.add_argument("--max-length", type=int, default=10, help="words to generate")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    import keras

    from keras_nextword import TUTORIAL_RECIPE, NextWordLSTM
    from keras_nextword.cli.plotting import plot_history
    from keras_nextword.text import datasets

    recipe = TUTORIAL_RECIPE if args.tutorial else {}
    print(f"Backend: {keras.config.backend()}; {'the tutorial recipe' if recipe else 'defaults'}")
    start = time.perf_counter()
    # verbose=2: what from_text chose and why, then each phase, one Keras line
    # and one line of time left per epoch.
    model = NextWordLSTM.from_text(
        datasets.load_final_problem(), epochs=args.epochs, seed=args.seed, verbose=2, **recipe
    )
    epochs = len(model.history.epoch)
    held_out = {name: model.history.history[f"val_{name}"][-1] for name in ("loss", "perplexity")}
    print(
        f"Trained {epochs} epochs; the last one's held-out loss {held_out['loss']:.3f}, "
        f"perplexity {held_out['perplexity']:.1f} (the model keeps its best epoch's weights)"
    )
    model.save(args.out)
    plot = plot_history(
        model.history,
        os.path.splitext(args.out)[0] + ".png",
        title=f'"The Final Problem", {epochs} epochs, '
        f"{'tutorial recipe' if recipe else 'defaults'}, {keras.config.backend()}",
    )
    print(f"Saved {args.out} and {plot}")

    for sampler, options in (("greedy", {}), ("top_p", {"p": 0.9})):
        print(f"\n{sampler}:")
        texts = model.generate(
            PROMPTS, max_length=args.max_length, sampler=sampler, seed=args.seed, **options
        )
        for text in texts:
            print(f"  {text}")
    print(f"\nDone in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
