"""The tutorial, end to end: train on "The Final Problem", plot, and generate.

The tutorial's defaults: `Embedding(100) -> LSTM(150) -> softmax`, Adam, batch
32 and all of 100 epochs (no early stopping). The last 10% of lines are held
out, so the plot shows validation perplexity parting from training perplexity
as the model learns the story by heart. Saves the model and the plot, then
continues a few prompts greedily and with top-p sampling. An epoch takes 2-5 s
on 2 CPU cores with JAX.

    python examples/final_problem.py
    python examples/final_problem.py --epochs 20 --backend torch --out /tmp/fp.keras
"""

import argparse
import os
import time

PROMPTS = ["What happens we do this", "It is with a heavy heart", "Holmes", "my dear Watson"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100, help="default: the tutorial's 100")
    parser.add_argument(
        "--backend",
        choices=["jax", "tensorflow", "torch"],
        default=os.environ.get("KERAS_BACKEND", "jax"),
        help="default: $KERAS_BACKEND, else jax (the fastest on CPU here)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        help="stop once held-out perplexity has not improved for this many epochs "
        "(default: never, as the tutorial, which lets the model learn the story by heart)",
    )
    parser.add_argument("--out", default="final_problem.keras", help="model path; plot beside it")
    parser.add_argument("--max-length", type=int, default=10, help="words to generate")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    import keras

    from keras_nextword import NextWordLSTM, datasets
    from keras_nextword.plotting import plot_history

    print(f"Backend: {keras.config.backend()}; training {args.epochs} epochs")
    start = time.perf_counter()

    def report(epoch, logs):
        if (epoch + 1) % 10 == 0 or epoch + 1 in (1, args.epochs):
            print(
                f"epoch {epoch + 1:3d}: loss {logs['loss']:.3f}, "
                f"perplexity {logs['perplexity']:8.1f}, "
                f"val_perplexity {logs['val_perplexity']:8.1f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )

    model = NextWordLSTM.from_text(
        datasets.load_final_problem(),
        epochs=args.epochs,
        seed=args.seed,
        early_stopping_patience=args.patience,
        word_dropout=False,  # the tutorial's recipe: no regularization
        dropout=0.0,
        verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=report)],
    )
    model.save(args.out)
    plot = plot_history(
        model.history,
        os.path.splitext(args.out)[0] + ".png",
        title=f'"The Final Problem", {args.epochs} epochs, {keras.config.backend()}',
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
