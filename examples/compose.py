"""A composite functional model: the language model's backbone under two heads.

`NextWordLSTM.backbone` maps token ids to the LSTM's hidden states. Here it
feeds both the trained next-word head and a new `line_end` head, a probe that
learns from the frozen hidden states whether the line ends after the words
seen so far. The composite saves to `.keras` and reloads with the same
predictions.

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
    """The language model's n-gram inputs of `lines`, each labelled 1 when its
    next word is the last of its line.

    Returns:
        `(inputs, labels)`: int32 array `(n, sequence_length)`, float32 `(n, 1)`.
    """
    import keras
    import numpy as np

    inputs, _ = preprocessor(lines)
    # A line of n words gives its n - 1 n-grams in a row; the last one ends the line.
    ngrams = np.maximum(preprocessor.tokenize(lines).row_lengths().numpy() - 1, 0)
    labels = np.zeros((ngrams.sum(), 1), "float32")
    labels[np.cumsum(ngrams)[ngrams > 0] - 1] = 1.0
    return keras.ops.convert_to_numpy(inputs), labels


def build_composite(lm):
    """Token ids -> `{"next_word": probabilities, "line_end": probability}`,
    sharing `lm`'s backbone and head (both frozen)."""
    import keras

    lm.backbone.trainable = False
    lm.head.trainable = False
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    last_state = lm.backbone(token_ids)[:, -1, :]  # pre-padded: the last word's state
    next_word = keras.layers.Activation("softmax", dtype="float32", name="next_word")(
        lm.head(last_state)
    )
    line_end = keras.layers.Dense(1, activation="sigmoid", name="line_end")(last_state)
    return keras.Model(token_ids, {"next_word": next_word, "line_end": line_end})


def main():
    args = parse_args()
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    import keras
    import numpy as np

    from keras_nextword import NextWordLSTM, data, datasets

    path = datasets.load_final_problem()
    lm = NextWordLSTM.from_text(path, epochs=args.lm_epochs, seed=args.seed, verbose=2)
    train_lines, validation_lines = data.split_lines(data.read_lines(path), 0.1)
    x, y = line_end_examples(lm.preprocessor, train_lines)
    x_val, y_val = line_end_examples(lm.preprocessor, validation_lines)

    composite = build_composite(lm)
    composite.summary()
    # Train the new head alone: a model over the same layers, so `composite` sees it.
    probe = keras.Model(composite.input, composite.output["line_end"])
    probe.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    probe.fit(
        x, y, epochs=args.probe_epochs, batch_size=64, validation_data=(x_val, y_val), verbose=2
    )
    print(f"(answering 'no' every time scores {1 - float(y_val.mean()):.1%} on validation)")

    outputs = composite.predict(x_val, verbose=0)
    np.testing.assert_allclose(outputs["next_word"], lm.predict(x_val, verbose=0)[:, -1], atol=1e-6)
    with tempfile.TemporaryDirectory() as tmp:
        composite.save(os.path.join(tmp, "composite.keras"))
        reloaded = keras.saving.load_model(os.path.join(tmp, "composite.keras"))
    for name, values in reloaded.predict(x_val, verbose=0).items():
        np.testing.assert_allclose(values, outputs[name], atol=1e-6)
    print("next_word equals the language model's predictions; the reloaded composite agrees.")


if __name__ == "__main__":
    main()
