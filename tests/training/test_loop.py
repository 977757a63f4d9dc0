"""keras_nextword.training.loop: the training batches `from_text` fits on."""

import keras
import pytest

from keras_nextword import NextWordLSTM, NGramVectorizer
from keras_nextword.runtime.environment import tf
from keras_nextword.text import data, pipeline
from keras_nextword.training import loop

pytestmark = pytest.mark.backend("jax")  # tf.data only: the same on every backend


def test_training_batches_keep_the_pipelines_options():
    # The resumable dataset is a new tf.data root: without the pipeline's options its
    # iterator autotuned again, and dropping it at the end of `fit` waited for the
    # tuning thread's next wake-up.
    vectorizer = NGramVectorizer()
    vectorizer.adapt(["a heavy heart", "a light heart"])
    model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    lines = tf.data.Dataset.from_tensor_slices(["a heavy heart", "a light heart"])
    dataset, steps, _ = loop.training_data(model, lines, 1, "line", 20, False, 0, None)
    assert steps == 2
    assert dataset.options().autotune.enabled is False


def fit_text_batches(model, path, **kwargs):
    """`model.fit_text(path, **kwargs)`'s layout (`bucket`), the batches its training
    dataset yields in a pass, and the steps of a pass it was given."""
    made, given = [], []
    text_dataset, training_data = pipeline.text_dataset, loop.training_data

    def keep(*args, **kwargs):
        dataset = text_dataset(*args, **kwargs)
        if kwargs.get("training"):
            made.append((kwargs["bucket"], dataset))
        return dataset

    def count(*args):
        given.append(training_data(*args))
        return given[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "text_dataset", keep)
        patch.setattr(loop, "training_data", count)
        model.fit_text(path, **kwargs)
    assert len(made) == len(given) == 1
    return made[0][0], pipeline.count_batches(made[0][1]), given[0][1]


def test_fit_text_on_a_loaded_model_trains_the_batches_it_counts(final_problem_path, tmp_path):
    # A loaded model's preprocessor keeps no line counts, and new text is not the text
    # it was adapted on: the rows must be laid out from the counts of the lines trained
    # on, the counts the steps per epoch come from, or an epoch ends inside a pass (or
    # after it, in the next one).
    lines = [line for line in data.read_lines(final_problem_path) if line.strip()]
    first, more = tmp_path / "first.txt", tmp_path / "more.txt"
    first.write_text("\n".join(lines[:300]), encoding="utf-8")
    more.write_text("\n".join(lines[300:]), encoding="utf-8")
    quick = dict(epochs=1, seed=0, verbose=0, max_minutes=None)
    # Batches of 4: steps enough for rows grouped in several widths.
    trained = NextWordLSTM.from_text(first, batch_size=4, embedding_dim=8, lstm_units=8, **quick)
    trained.save(tmp_path / "first.keras")
    model = keras.saving.load_model(tmp_path / "first.keras")
    assert not model.preprocessor.tokenizer.line_lengths
    bucket, batches, steps = fit_text_batches(model, more, **quick)
    assert batches == steps
    # Its rows were packed (`line_starts`): now on the new lines' plan too.
    assert model.backbone.line_starts and bucket == "pack"


def test_fit_text_packs_only_passes_it_can_count(final_problem_path, tmp_path):
    # A packed model (The Final Problem's) trained on more lines than a pass packs at
    # once (`packing.GROUP`): packed a group at a time, a pass's rows vary with the
    # shuffle (one more, some passes, than `packing.plan` counts), so they are grouped.
    quick = dict(epochs=1, seed=0, verbose=0, max_minutes=None)
    model = NextWordLSTM.from_text(final_problem_path, embedding_dim=8, lstm_units=8, **quick)
    assert model.backbone.line_starts
    lines = [line for line in data.read_lines(final_problem_path) if line.strip()]
    more = tmp_path / "more.txt"
    more.write_text("\n".join(lines * 10), encoding="utf-8")
    bucket, batches, steps = fit_text_batches(model, more, validation_split=0.0, **quick)
    assert bucket == "auto" and batches == steps
