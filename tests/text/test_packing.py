"""Short lines packed into rows (`bucket="pack"`, `from_text`'s layout where grouping
by length leaves much padding): the same predictions and loss as one row per line,
a tenth of the padding on The Final Problem, batches counted without a pass."""

import collections

import keras
import numpy as np
import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.text import buckets, data, datasets, packing, pipeline
from keras_nextword.text.pipeline import text_dataset


@pytest.fixture(scope="module")
def adapted():
    lines = data.read_lines(datasets.load_final_problem())
    vectorizer = NGramVectorizer()
    vectorizer.adapt(lines)
    return lines, vectorizer


def predictions(dataset):
    """Every weighted position of `dataset`'s batches as (context, target), the
    context read back from the start of its line (a negative id, or the row's start)."""
    found = collections.Counter()
    for x, y, w in dataset:
        for row, targets, weights in zip(np.asarray(x), np.asarray(y), np.asarray(w)):
            start = 0
            for i in np.flatnonzero(weights):
                start = i if row[i] < 0 else start
                found[(tuple(np.abs(row[start : i + 1])), int(targets[i]))] += 1
    return found


@pytest.mark.backend("jax")
def test_packed_rows_hold_each_prediction_once_with_little_padding(adapted):
    lines, vectorizer = adapted
    one_per_line = text_dataset(lines, vectorizer, 32)
    packed = text_dataset(lines, vectorizer, 32, bucket="pack", shuffle=True, seed=0)
    assert predictions(packed) == predictions(one_per_line)
    # One width (20 steps): 34.9% of the positions padded; packed 15 rows of 23 a step: 3.3%.
    grouped = buckets.padded_share(text_dataset(lines, vectorizer, 32, bucket="auto"))
    assert grouped == pytest.approx(0.3485, abs=1e-4)
    assert packing.plan_lines(vectorizer.tokenizer.line_lengths, 32, 16)[:3] == (23, 15, 291)
    assert buckets.padded_share(packed) == pytest.approx(0.0332, abs=1e-4)
    lengths = vectorizer.tokenizer.line_lengths
    counted = pipeline.batches_per_pass(lengths, 32, "line", vectorizer.sequence_length, "pack")
    assert counted == pipeline.count_batches(packed)


def test_best_fit_fills_rows_without_overflow():
    sizes = np.random.default_rng(0).integers(1, 17, size=500)
    row, offset = packing.best_fit(sizes, 24)
    ends = offset + sizes
    assert ends.max() <= 24
    for r in range(row.max() + 1):  # no two items of a row overlap
        spans = sorted(zip(offset[row == r], ends[row == r]))
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert row.max() + 1 <= int(np.ceil(sizes.sum() / 24 * 1.1))


def test_packing_is_chosen_only_where_grouping_leaves_padding(adapted):
    lines, vectorizer = adapted
    lengths = vectorizer.tokenizer.line_lengths
    pack, reason = packing.worth_packing(lengths, 32, vectorizer.sequence_length, len(lines))
    assert pack and "packed" in reason
    # Lines of one length: no padding to save.
    assert packing.worth_packing({11: 600}, 32, 10, 600) == (False, None)
    too_many = packing.worth_packing(lengths, 32, vectorizer.sequence_length, packing.GROUP + 1)
    assert too_many == (False, None)


def test_a_packed_batch_trains_the_loss_of_one_row_per_line():
    keras.utils.set_random_seed(0)
    vectorizer = NGramVectorizer(sequence_length=4)
    lines = ["a b c", "c b", "a a b c d", "d c"]
    vectorizer.adapt(lines)
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, line_starts=True)
    x, y, w = next(iter(text_dataset(lines, vectorizer, 4, bucket="pack")))
    assert int(np.asarray(x).min()) < 0  # lines share rows
    alone = next(iter(text_dataset(lines, vectorizer, 4)))
    model.compile()
    packed_loss = model.compute_loss(x=x, y=y, y_pred=model(x), sample_weight=w)
    alone_loss = model.compute_loss(
        x=alone[0], y=alone[1], y_pred=model(alone[0]), sample_weight=alone[2]
    )
    np.testing.assert_allclose(float(packed_loss), float(alone_loss), rtol=1e-5)
