"""Line rows grouped by length (`bucket="auto"`, `from_text`'s layout): few padded positions,
the same predictions and loss as one row per line, batches counted without a pass."""

import keras
import numpy as np
import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.runtime.environment import tf
from keras_nextword.text import buckets, data, datasets, pipeline
from keras_nextword.text.pipeline import text_dataset

pytestmark = pytest.mark.backend("jax")


@pytest.fixture(scope="module")
def adapted():
    """The Final Problem's lines 4 times (2,620 lines: enough steps for several widths)."""
    lines = data.read_lines(datasets.load_final_problem()) * 4
    vectorizer = NGramVectorizer()
    vectorizer.adapt(lines)
    return lines, vectorizer


def test_auto_layout_cuts_padding_to_the_planned_share(adapted):
    lines, vectorizer = adapted
    plain = buckets.padded_share(text_dataset(lines, vectorizer, 8))
    auto = buckets.padded_share(text_dataset(lines, vectorizer, 8, bucket="auto"))
    # 16-wide rows for 10.5 predictions a row on average: 34.6% padding; 5 widths: 7.3%.
    assert plain == pytest.approx(0.3465, abs=1e-4)
    assert auto == pytest.approx(0.0730, abs=1e-4)
    chosen = buckets.plan(vectorizer.tokenizer.line_lengths, 8, vectorizer.sequence_length)
    rows = buckets.row_lengths(vectorizer.tokenizer.line_lengths, vectorizer.sequence_length)
    assert auto == pytest.approx(buckets.estimate(chosen, rows), abs=1e-6)


def test_auto_layout_batches_are_counted_from_line_lengths(adapted):
    lines, vectorizer = adapted
    dataset = text_dataset(lines, vectorizer, 8, bucket="auto", shuffle=True, seed=0)
    shapes = {tuple(x.shape) for x, _, _ in dataset}
    chosen = buckets.plan(vectorizer.tokenizer.line_lengths, 8, vectorizer.sequence_length)
    assert shapes == set(map(tuple, (reversed(c) for c in chosen)))
    assert pipeline.count_batches(dataset) == pipeline.batches_per_pass(
        vectorizer.tokenizer.line_lengths, 8, "line", vectorizer.sequence_length, "auto"
    )


@pytest.mark.parametrize("bucket", ["auto", "pack"])
def test_rows_are_planned_on_the_lengths_of_the_lines_laid_out(adapted, bucket):
    # Lines other than those the preprocessor adapted on (`fit_text`'s new text): their
    # rows are planned on their own lengths, which `batches_per_pass` counts from.
    lines, vectorizer = adapted
    short = [line for line in lines if 2 <= len(line.split()) <= 8]
    own = NGramVectorizer()
    own.adapt(short)  # their lengths, counted apart from the pipeline
    lengths, width = own.tokenizer.line_lengths, vectorizer.sequence_length
    counted = pipeline.batches_per_pass(lengths, 8, "line", width, bucket)
    stream = tf.data.Dataset.from_tensor_slices(short)
    given = text_dataset(
        stream, vectorizer, 8, bucket=bucket, shuffle=True, seed=0, line_lengths=lengths
    )
    in_memory = text_dataset(short, vectorizer, 8, bucket=bucket, shuffle=True, seed=0)  # counted
    assert pipeline.count_batches(given) == pipeline.count_batches(in_memory) == counted
    # A stream's lengths not given: planned on the adapted lines' (for `fit`'s own text).
    adapted_plan = text_dataset(stream, vectorizer, 8, bucket=bucket, shuffle=True, seed=0)
    assert pipeline.count_batches(adapted_plan) < counted


def test_auto_layout_keeps_each_prediction_and_the_loss(adapted):
    lines, vectorizer = adapted
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)

    def scored(dataset):
        """Every weighted position's (input row prefix, target, loss), sorted."""
        found = []
        for x, y, w in dataset:
            logits = model.predict_on_batch(np.asarray(x))
            nll = keras.ops.convert_to_numpy(
                keras.losses.sparse_categorical_crossentropy(np.asarray(y), logits, True)
            )
            for i, j in zip(*np.nonzero(np.asarray(w))):
                found.append((tuple(np.asarray(x)[i, : j + 1]), int(y[i, j]), float(nll[i, j])))
        return sorted(found)

    plain = scored(text_dataset(lines[:200], vectorizer, 8))
    auto = scored(text_dataset(lines[:200], vectorizer, 8, bucket="auto"))
    assert [p[:2] for p in plain] == [a[:2] for a in auto] and len(plain) == 1_669
    np.testing.assert_allclose([p[2] for p in plain], [a[2] for a in auto], rtol=1e-5)
