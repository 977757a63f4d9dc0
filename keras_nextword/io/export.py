"""Export to TensorFlow SavedModel, ONNX and LiteRT, with the vocabulary.

`export(model, path, format)` writes a directory: the artifact (the SavedModel
itself, `model.onnx` or `model.tflite`), `vocabulary.txt` (line `i` is the
word of id `i`: line 0 is padding, empty; line 1 `[UNK]`) and `export.json`
(how to feed it). Every artifact computes what the model computes on token
ids: `(batch, length)` int32 ids padded with 0 in (post-padded, or pre-padded:
the same logits at the last word), the next-word logits at every position,
`(batch, length, vocabulary_size)`, out.

The SavedModel holds the vocabulary too (an asset) and a second signature,
`suggest`, that takes raw strings and returns the top `k` words and their
probabilities by `keras_nextword.generation.suggest`'s rule, tokenized by TensorFlow
ops, so TensorFlow Serving can answer a keyboard without Python.

Artifacts are always built on the TensorFlow backend: Keras exports LiteRT
only from TensorFlow (or PyTorch) and ONNX from JAX only with `jax2onnx`, and
the string signature puts the model in one TensorFlow graph with the text
ops. From another backend, `export` saves the model to a temporary `.keras`
file and exports it in a TensorFlow-backend subprocess; the weights, hence
the outputs, are the same.
"""

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np

from keras_nextword.generation.suggest import next_word_logits
from keras_nextword.text.tokenizer import (
    APOSTROPHES,
    FILTER_CLASS,
    FILTERS,
    OOV_ID,
    PAD_ID,
    TYPOGRAPHIC_FILTERS,
    split_words,
)

FORMATS = ("tf_saved_model", "onnx", "litert")
FILES = {"tf_saved_model": ".", "onnx": "model.onnx", "litert": "model.tflite"}
VOCABULARY = "vocabulary.txt"
# A text's last word is being typed when its last character is kept in a word.
_TYPING = "(?s).*[^ " + FILTER_CLASS + "]"


def export(model, path, format="tf_saved_model", quantize=False, k=5, batch_size=1):
    """Exports `model` for inference outside Keras, its vocabulary beside it.

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        path: str, the directory to write (created; files in it replaced).
        format: `"tf_saved_model"`, `"onnx"` or `"litert"`.
        quantize: bool, LiteRT only: int8 weights (dynamic-range
            quantization; activations stay float).
        k: int, suggestions returned by the SavedModel's `suggest` signature.
        batch_size: int, LiteRT only: the rows of its fixed input shape
            `(batch_size, sequence_length)` (a fixed shape lets the converter
            lower the LSTM's loop to builtin ops; with a free shape it needs
            TensorFlow's Flex ops, which the LiteRT interpreter lacks).

    Returns:
        str, the path of the artifact (the directory for a SavedModel).

    Example:
    >>> import tempfile
    >>> from keras_nextword import NextWordLSTM, NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> folder = tempfile.mkdtemp()
    >>> path = export(model, folder, format="onnx")
    >>> sorted(os.listdir(folder))
    ['export.json', 'model.onnx', 'vocabulary.txt']
    """
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}. Received: format={format!r}")
    if quantize and format != "litert":
        raise ValueError(f"`quantize` applies to the litert format only, not {format}.")
    if model.preprocessor is None:
        raise ValueError("Export needs a model with a `preprocessor` (its vocabulary).")
    options = {"format": format, "quantize": quantize, "k": k, "batch_size": batch_size}
    if keras.config.backend() != "tensorflow":
        return _export_in_tensorflow(model, path, options)
    os.makedirs(path, exist_ok=True)
    model(
        np.full((1, 1), OOV_ID, "int32")
    )  # a model loaded from .keras: ONNX export asks for a call
    artifact = os.path.join(path, FILES[format]) if format != "tf_saved_model" else path
    vocabulary = model.preprocessor.get_vocabulary()
    length = model.preprocessor.sequence_length
    if format == "tf_saved_model":
        _saved_model(model, path, vocabulary, length, k)
    elif format == "onnx":
        # Keras' own export, whatever the model class calls `export`.
        keras.Model.export(model, artifact, format="onnx", verbose=False)
    else:
        _litert(model, artifact, (batch_size, length), quantize)
    with open(os.path.join(path, VOCABULARY), "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")
    shape = [batch_size, length] if format == "litert" else [None, None]
    info = {
        "format": format,
        "artifact": FILES[format],
        "inputs": {"token_ids": {"dtype": "int32", "shape": shape, "padding": "post"}},
        "outputs": "float32 next-word logits at every position, (batch, length, vocabulary_size)",
        "vocabulary": VOCABULARY,
        "pad_id": PAD_ID,
        "oov_id": OOV_ID,
        "sequence_length": length,
        "lowercase": True,
        "filters": FILTERS,
        "typographic_filters": TYPOGRAPHIC_FILTERS,
        "apostrophes": APOSTROPHES,
        "quantized": quantize,
    }
    if format == "tf_saved_model":
        info["signatures"] = {"serving_default": "token_ids", "suggest": f"texts -> top {k}"}
    with open(os.path.join(path, "export.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return artifact


def _export_in_tensorflow(model, path, options):
    """Runs `export` in a subprocess on the TensorFlow backend, from a `.keras` copy."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "model.keras")
        model.save(saved)
        code = (
            "import json, sys; from keras_nextword.io import export, saving; "
            "print(export.export(saving.load_model(sys.argv[1]), sys.argv[2], **json.loads(sys.argv[3])))"
        )
        env = {
            **os.environ,
            "KERAS_BACKEND": "tensorflow",
            "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
        }
        result = subprocess.run(
            [sys.executable, "-c", code, saved, os.fspath(path), json.dumps(options)],
            capture_output=True,
            text=True,
            env=env,
        )
    if result.returncode:
        raise RuntimeError(
            f"Export to {options['format']} on the TensorFlow backend failed:\n"
            f"{result.stderr[-3000:]}"
        )
    return result.stdout.strip().splitlines()[-1]


def _litert(model, artifact, shape, quantize):
    import tensorflow as tf

    kwargs = {"optimizations": [tf.lite.Optimize.DEFAULT]} if quantize else {}
    keras.Model.export(
        model,
        artifact,
        format="litert",
        verbose=False,
        input_signature=[keras.InputSpec(shape=shape, dtype="int32")],
        **kwargs,
    )


def _saved_model(model, path, vocabulary, length, k):
    """The model's `serve` signature on token ids, and `suggest` on strings."""
    import tensorflow as tf

    # Constant tables: TextFileInitializer refuses the vocabulary file's empty padding line.
    tables = tf.Module()
    tables.ids = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocabulary[OOV_ID + 1 :]),
            tf.range(OOV_ID + 1, len(vocabulary), dtype=tf.int64),
        ),
        default_value=OOV_ID,
    )
    k = min(k, len(vocabulary) - 2)
    words = tf.constant(vocabulary)

    def serve(token_ids):
        return model(token_ids, training=False)

    def suggest(texts):
        token_ids, lengths, prefixes, has_context = _encode(texts, tables.ids, length)
        logits = next_word_logits(model, token_ids, lengths)
        log_probabilities = logits - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
        batch = tf.shape(texts)[0]
        vocabulary_words = tf.broadcast_to(words, [batch, len(vocabulary)])
        prefix_length = tf.broadcast_to(
            tf.strings.length(prefixes)[:, None], tf.shape(vocabulary_words)
        )
        starts = tf.equal(
            tf.strings.substr(vocabulary_words, tf.zeros_like(prefix_length), prefix_length),
            prefixes[:, None],
        )
        allowed = starts & (tf.range(len(vocabulary)) > OOV_ID)[None, :]
        allowed &= has_context[:, None]
        best, ids = tf.math.top_k(tf.where(allowed, log_probabilities, -float("inf")), k)
        shown = tf.range(k)[None, :] < tf.reduce_sum(tf.cast(allowed, "int32"), -1)[:, None]
        return {
            "words": tf.where(shown, tf.gather(words, ids), ""),
            "probabilities": tf.where(shown, tf.exp(best), 0.0),
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tables)
    archive.add_endpoint(
        "serve", serve, input_signature=[tf.TensorSpec([None, None], tf.int32, "token_ids")]
    )
    archive.add_endpoint(
        "suggest", suggest, input_signature=[tf.TensorSpec([None], tf.string, "texts")]
    )
    archive.write_out(path, verbose=False)


def _encode(texts, ids_table, length):
    """TensorFlow twin of `suggest.encode`: each text's last `length` words
    before the cursor's word as post-padded ids, their count (at least 1), the
    word being typed, and whether any word comes before it."""
    import tensorflow as tf

    words = split_words(texts)
    typing = tf.strings.regex_full_match(texts, _TYPING) & (words.row_lengths() > 0)
    count = tf.cast(words.row_lengths(), tf.int32) - tf.cast(typing, tf.int32)
    dense = words.to_tensor("")
    dense = tf.concat([dense, tf.fill([tf.shape(texts)[0], 1], "")], axis=1)
    last = tf.gather(dense, tf.maximum(count, 0), batch_dims=1)
    prefixes = tf.where(typing, last, "")
    ids = tf.cast(ids_table.lookup(dense), tf.int32)
    used = tf.minimum(count, length)
    position = (count - used)[:, None] + tf.range(length)[None, :]
    real = tf.range(length)[None, :] < used[:, None]
    position = tf.minimum(position, tf.shape(dense)[1] - 1)  # past the end: padding anyway
    token_ids = tf.where(real, tf.gather(ids, position, batch_dims=1), PAD_ID)
    return token_ids, tf.maximum(used, 1), prefixes, count > 0
