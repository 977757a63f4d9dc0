"""Trains on the complete Sherlock Holmes canon (3.9 MB, about 660,000 words) with
`from_text`'s defaults: no setting is given.

The canon is downloaded once by `keras_nextword.datasets.load_sherlock_canon()`
and cached under `~/.keras/datasets/` (or pass `--corpus PATH` to a local
copy). The file streams from disk through `tf.data` on every pass, and
`from_text` chooses its settings from what it counts: for the canon a batch of
64, a sampled softmax over 1,024 negatives for its 19,000-word vocabulary
(held-out perplexity stays exact), dropout 0.2, and one run that stops on 5,000
lines set apart, within 15 minutes. Figures: docs/benchmarks.md.

    python examples/canon.py
    python examples/canon.py --corpus ../shared/data/complete_sherlock_holmes.txt --max-minutes 5
"""

import argparse
import os

PROMPTS = ["Sherlock Holmes", "It was a dark", "my dear Watson", "the body of the"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="a local copy of the canon (default: download once)")
    parser.add_argument("--epochs", type=int, default=100, help="at most (default: %(default)s)")
    parser.add_argument(
        "--max-minutes", type=float, default=15, help="time limit (default: %(default)s)"
    )
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
    from keras_nextword import NextWordLSTM
    from keras_nextword.cli.plotting import plot_history
    from keras_nextword.text import datasets

    path = args.corpus or datasets.load_sherlock_canon()
    model = NextWordLSTM.from_text(
        path,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        seed=args.seed,
        verbose=2,
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
