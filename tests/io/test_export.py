"""Exported artifacts, each loaded in its own runtime (TensorFlow, onnxruntime,
the LiteRT interpreter) and compared with the model on the same rows.

Export always runs on the TensorFlow backend (in a subprocess from the
`.keras` file on the others), so on JAX and PyTorch these tests also check
that the artifact computes what the model computes on the running backend.
"""

import json
import math

import numpy as np
import pytest

from keras_nextword.generation.suggest import suggest
from keras_nextword.io.export import export
from keras_nextword.text import datasets
from keras_nextword.text.data import read_lines, split_lines
from keras_nextword.text.pipeline import layout

TEXTS = [
    "It is with a heavy ",
    "It is with a heavy he",
    "my friend mr sherlock holmes ",
    "the professor was",
    "xyzzy ",
    "a heavy heart.",
    "hea",
    "",
    "it is zzz",
]


@pytest.fixture(scope="module")
def heldout_rows(small_model):
    """Post-padded token ids of held-out lines, `sequence_length` wide."""
    _, lines = split_lines(read_lines(datasets.load_final_problem()), 0.1)
    x, y, w = layout(small_model.preprocessor, lines)
    return tuple(np.asarray(t) for t in (x, y, w))


@pytest.fixture(scope="module")
def exported(small_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    paths = {
        "tf_saved_model": export(small_model, folder / "saved_model", k=5),
        "onnx": export(small_model, folder / "onnx", format="onnx"),
        "litert": export(small_model, folder / "litert", format="litert"),
        "litert_int8": export(small_model, folder / "litert_int8", "litert", quantize=True),
    }
    return folder, paths


def litert_outputs(path, rows):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    given, taken = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for row in rows:  # the artifact's input shape is fixed: (1, sequence_length)
        interpreter.set_tensor(given["index"], row[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(taken["index"])[0])
    return np.stack(outputs)


def perplexity(outputs, y, w):
    logits = outputs.astype("float64")
    top = logits.max(-1, keepdims=True)
    log_probabilities = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    scores = np.take_along_axis(log_probabilities, y[..., None], axis=-1)[..., 0]
    return math.exp(-(scores * w).sum() / w.sum())


def test_saved_model_serves_what_the_model_computes(small_model, exported, heldout_rows):
    import tensorflow as tf

    x = heldout_rows[0][:32]
    loaded = tf.saved_model.load(str(exported[1]["tf_saved_model"]))
    expected = np.asarray(small_model.predict(x, verbose=0))
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, atol=1e-4)
    signature = loaded.signatures["serving_default"]
    (output,) = signature(token_ids=tf.constant(x)).values()
    np.testing.assert_allclose(output.numpy(), expected, atol=1e-4)


def test_saved_model_string_signature_equals_suggest(small_model, exported):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(exported[1]["tf_saved_model"]))
    outputs = loaded.signatures["suggest"](texts=tf.constant(TEXTS))
    words, probabilities = outputs["words"].numpy(), outputs["probabilities"].numpy()
    assert words.shape == probabilities.shape == (len(TEXTS), 5)
    for text, row_words, row_probabilities in zip(TEXTS, words, probabilities):
        expected = suggest(small_model, text, k=5)
        shown = [w.decode() for w in row_words if w]
        assert len(shown) == len(expected), text
        # Near-uniform probabilities may swap near-ties: compare word by word.
        by_word = dict(expected)
        for word, probability in zip(shown, row_probabilities):
            if word in by_word:
                assert probability == pytest.approx(by_word[word], abs=1e-4)
            else:  # a tie swapped across the k-th place
                assert probability == pytest.approx(expected[-1][1], abs=1e-4)
        assert np.all(row_probabilities[len(shown) :] == 0)


def test_onnx_runs_what_the_model_computes(small_model, exported, heldout_rows):
    import onnxruntime

    x = heldout_rows[0][:32]
    session = onnxruntime.InferenceSession(str(exported[1]["onnx"]))
    (name,) = [i.name for i in session.get_inputs()]
    (outputs,) = session.run(None, {name: x})
    np.testing.assert_allclose(outputs, small_model.predict(x, verbose=0), atol=1e-4)
    # The batch and length are free.
    (outputs,) = session.run(None, {name: x[:3, :5]})
    np.testing.assert_allclose(outputs, small_model.predict(x[:3, :5], verbose=0), atol=1e-4)


def test_litert_runs_what_the_model_computes(small_model, exported, heldout_rows):
    x = heldout_rows[0][:16]
    outputs = litert_outputs(exported[1]["litert"], x)
    np.testing.assert_allclose(outputs, small_model.predict(x, verbose=0), atol=1e-4)


def test_litert_int8_is_smaller_and_close(exported, heldout_rows):
    x, y, w = (t[:64] for t in heldout_rows)
    float_path, int8_path = exported[1]["litert"], exported[1]["litert_int8"]
    assert int8_path.endswith("model.tflite")
    float_perplexity = perplexity(litert_outputs(float_path, x), y, w)
    int8_perplexity = perplexity(litert_outputs(int8_path, x), y, w)
    assert int8_perplexity == pytest.approx(float_perplexity, rel=0.05)
    import os

    assert os.path.getsize(int8_path) < os.path.getsize(float_path)


@pytest.mark.parametrize("name", ["saved_model", "onnx", "litert"])
def test_vocabulary_and_description_travel_with_the_artifact(small_model, exported, name):
    folder = exported[0] / name
    lines = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    assert lines[:-1] == small_model.preprocessor.get_vocabulary()
    info = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert info["pad_id"] == 0 and info["oov_id"] == 1
    assert info["sequence_length"] == small_model.preprocessor.sequence_length
    length = small_model.preprocessor.sequence_length
    expected = [1, length] if name == "litert" else [None, None]
    assert info["inputs"]["token_ids"]["shape"] == expected


def test_bad_arguments_raise(small_model, tmp_path):
    with pytest.raises(ValueError, match="format"):
        export(small_model, tmp_path, format="coreml")
    with pytest.raises(ValueError, match="quantize"):
        export(small_model, tmp_path, format="onnx", quantize=True)


def test_cli_export_writes_the_artifact(small_model, tmp_path, capsys):
    import onnxruntime

    from keras_nextword.cli import main as cli

    model_path = tmp_path / "model.keras"
    small_model.save(model_path)
    out = tmp_path / "onnx"
    assert cli.main(["export", str(model_path), str(out), "--format", "onnx"]) == 0
    assert "model.onnx" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    x = np.array([[5, 9, 2, 0]], "int32")
    (outputs,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(outputs, small_model.predict(x, verbose=0), atol=1e-4)
    with pytest.raises(SystemExit) as exit:
        cli.main(["export", str(model_path), str(out), "--format", "onnx", "--quantize"])
    assert exit.value.code == 2 and "--quantize" in capsys.readouterr().err


def test_artifacts_read_pre_padded_rows_as_post_padded(exported, heldout_rows):
    """Pre-padded rows (`NGramVectorizer`'s, `pad_sequences`') give the
    post-padded rows' logits at the last word, in every artifact."""
    import onnxruntime
    import tensorflow as tf

    post = heldout_rows[0][:8]
    lengths = (post != 0).sum(axis=1)
    assert (lengths < post.shape[1]).any()
    pre = np.zeros_like(post)
    for i, length in enumerate(lengths):
        pre[i, post.shape[1] - length :] = post[i, :length]
    rows = np.arange(len(post))
    session = onnxruntime.InferenceSession(str(exported[1]["onnx"]))
    saved_model = tf.saved_model.load(str(exported[1]["tf_saved_model"]))
    runs = {
        "onnx": lambda x: session.run(None, {session.get_inputs()[0].name: x})[0],
        "tf_saved_model": lambda x: saved_model.serve(tf.constant(x)).numpy(),
        "litert": lambda x: litert_outputs(exported[1]["litert"], x),
    }
    for name, run in runs.items():
        expected = run(post)[rows, lengths - 1]
        np.testing.assert_allclose(run(pre)[:, -1], expected, atol=1e-4, err_msg=name)
