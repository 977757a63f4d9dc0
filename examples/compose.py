"""A composite functional model: the language model and its backbone under a new head.

`NextWordLSTM.backbone` maps token ids to the LSTM's hidden states. Here the
composite keeps the trained language model's next-word output and adds a
`line_end` head, a probe that learns from the frozen hidden states, at every
position, whether the line ends after the words seen so far. Rows are lines,
post-padded (`keras_nextword.text.pipeline.text_dataset`'s `"line"` layout). The
language model's output layer is reused through `lm.output_logits`, whatever
it is (tied to the embeddings or not). The composite saves to `.keras` and
reloads with the same predictions.

    python examples/compose.py
    python examples/compose.py --lm-epochs 20 --backend tensorflow
"""

import argparse
import os
import tempfile


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lm-epochs", type=int, default=5, help="language model epochs")
    parser.add_argument("--probe-epochs", type=int, default=3, help="line-end head epochs")
    parser.add_argument(
        "--backend",
        choices=["jax", "tensorflow", "torch"],
        default=os.environ.get("KERAS_BACKEND", "jax"),
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def line_end_examples(preprocessor, lines):
    """One post-padded row per line, labelled 1 at its last predicting position
    (the next word ends the line) and 0 elsewhere.

    Returns:
        `(token_ids, labels, sample_weight)`: int32 `(rows, length)`, float32
        `(rows, length, 1)` and float32 `(rows, length)` (0 on padding).
    """
    import numpy as np

    from keras_nextword.text import pipeline

    batches = list(pipeline.text_dataset(lines, preprocessor, mode="line").as_numpy_iterator())
    x, _, w = (np.concatenate(parts) for parts in zip(*batches))
    labels = np.zeros(w.shape + (1,), "float32")
    real = w.sum(axis=1).astype(int)
    rows = np.flatnonzero(real)
    labels[rows, real[rows] - 1, 0] = 1.0
    return x, labels, w


def build_composite(lm):
    """Token ids -> `{"next_word": logits, "line_end": probability}` at
    every position, over `lm`'s backbone and output layer (both frozen).

    A `keras.Model` subclass built as a functional graph, as keras-hub's tasks
    are: it saves `lm` in its config and rebuilds the graph from it, so layers
    that `lm` uses twice (a tied embedding) load once, shared.
    """
    import keras

    @keras.saving.register_keras_serializable(package="compose_example")
    class LineEndComposite(keras.Model):
        def __init__(self, lm, **kwargs):
            token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
            hidden = lm.backbone(token_ids)
            next_word = keras.layers.Activation("linear", dtype="float32", name="next_word")(
                lm.output_logits(hidden)
            )
            line_end = keras.layers.Dense(1, activation="sigmoid", name="line_end")(hidden)
            super().__init__(token_ids, {"next_word": next_word, "line_end": line_end}, **kwargs)
            self.lm = lm

        def get_config(self):
            return {"name": self.name, "lm": keras.saving.serialize_keras_object(self.lm)}

        @classmethod
        def from_config(cls, config):
            config = dict(config, lm=keras.saving.deserialize_keras_object(config["lm"]))
            return cls(**config)

    lm.trainable = False
    return LineEndComposite(lm)


def run(lm, train_lines, validation_lines, probe_epochs=3, folder=None, verbose=0):
    """Builds the composite over `lm`, trains its line-end head, checks that its
    next-word output is `lm`'s and that a `.keras` round trip keeps every output.

    Returns:
        The composite `keras.Model`.
    """
    import keras
    import numpy as np

    x, y, w = line_end_examples(lm.preprocessor, train_lines)
    x_val, y_val, w_val = line_end_examples(lm.preprocessor, validation_lines)
    composite = build_composite(lm)
    if verbose:
        composite.summary()
    # Train the new head alone: a model over the same layers, so `composite` sees it.
    probe = keras.Model(composite.input, composite.output["line_end"])
    probe.compile(optimizer="adam", loss="binary_crossentropy", weighted_metrics=["accuracy"])
    probe.fit(
        x,
        y,
        sample_weight=w,
        epochs=probe_epochs,
        batch_size=64,
        validation_data=(x_val, y_val, w_val),
        verbose=verbose,
    )
    if verbose:
        share = float((y_val[..., 0] * w_val).sum() / w_val.sum())
        print(f"(answering 'no' every time scores {1 - share:.1%} on validation)")

    outputs = composite.predict(x_val, verbose=0)
    np.testing.assert_allclose(outputs["next_word"], lm.predict(x_val, verbose=0), atol=1e-5)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        composite.save(os.path.join(tmp, "composite.keras"))
        reloaded = keras.saving.load_model(os.path.join(tmp, "composite.keras"))
    for name, values in reloaded.predict(x_val, verbose=0).items():
        np.testing.assert_allclose(values, outputs[name], atol=1e-5)
    if verbose:
        print("next_word equals the language model's output; the reloaded composite agrees.")
    return composite


def main():
    args = parse_args()
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    from keras_nextword import NextWordLSTM
    from keras_nextword.text import data, datasets

    path = datasets.load_final_problem()
    # The LSTM's own logits (no bigram mix): `lm.output_logits` reuses its output layer.
    lm = NextWordLSTM.from_text(
        path, epochs=args.lm_epochs, seed=args.seed, verbose=2, bigram_weight=None
    )
    train_lines, validation_lines = data.split_lines(data.read_lines(path), 0.1)
    run(lm, train_lines, validation_lines, args.probe_epochs, verbose=2)


if __name__ == "__main__":
    main()
