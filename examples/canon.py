"""Trains on the complete Sherlock Holmes canon (3.9 MB, about 670,000 words).

The canon is downloaded once by `keras_nextword.datasets.load_sherlock_canon()`
and cached under `~/.keras/datasets/` (or pass `--corpus PATH` to a local
copy). The n-grams stream: `tf.data` builds them batch by batch from the
lines, so memory holds the text but never its 600,000-odd training examples.
The vocabulary is capped (`--max-tokens`) to keep the softmax affordable on a
CPU; rarer words read as `[UNK]`. An epoch takes minutes on a laptop CPU.

    python examples/canon.py --epochs 1
    python examples/canon.py --corpus ../shared/data/complete_sherlock_holmes.txt --epochs 5
"""

import argparse
import os

PROMPTS = ["Sherlock Holmes", "It was a dark", "my dear Watson", "the body of the"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="a local copy of the canon (default: download once)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=10_000, help="vocabulary cap")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--backend",
        choices=["jax", "tensorflow", "torch"],
        default=os.environ.get("KERAS_BACKEND", "jax"),
    )
    parser.add_argument("--out", default="canon.keras", help="model path; plot beside it")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    from keras_nextword import NextWordLSTM, datasets
    from keras_nextword.plotting import plot_history

    path = args.corpus or datasets.load_sherlock_canon()
    model = NextWordLSTM.from_text(
        path,
        epochs=args.epochs,
        max_tokens=args.max_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    model.save(args.out)
    plot = plot_history(model.history, os.path.splitext(args.out)[0] + ".png", title=path)
    print(f"Saved {args.out} and {plot}")
    for sampler, options in (("greedy", {}), ("top_k", {"k": 10})):
        print(f"\n{sampler}:")
        for text in model.generate(PROMPTS, max_length=12, sampler=sampler, seed=0, **options):
            print(f"  {text}")


if __name__ == "__main__":
    main()
