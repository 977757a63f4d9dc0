import keras
import pytest

from conftest import LINES
from keras_nextword import NextWordLSTM
from keras_nextword.training import recipe
from keras_nextword.training.refit import plan

pytestmark = pytest.mark.backend("jax")


class StopAfter(keras.callbacks.Callback):
    """Ends a run after `epochs` epochs, as the stopping rule does."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = self.model.stop_training or epoch + 1 >= self.epochs


def test_refit_trains_again_on_every_training_line_for_the_best_epoch_count(tmp_path):
    path = tmp_path / "corpus.txt"
    # The last training lines (set apart) hold words no other line has.
    lines = LINES * 4 + ["zebra quagga okapi"] * 2 + LINES[:2]  # 2 set apart, 2 held out
    path.write_text("\n".join(lines), encoding="utf-8")
    settings = dict(embedding_dim=4, lstm_units=4, dropout=0.2, seed=0, verbose=0, max_minutes=None)
    first = NextWordLSTM.from_text(path, epochs=6, callbacks=[StopAfter(3)], **settings)
    assert "zebra" not in first.preprocessor.get_vocabulary()
    model = NextWordLSTM.from_text(
        path, epochs=6, callbacks=[StopAfter(3)], refit="auto", **settings
    )
    parts = recipe.split(path)
    assert "zebra" in model.preprocessor.get_vocabulary()  # the lines set apart are back
    dev = first.history.history["dev_perplexity"]
    assert len(model.history.epoch) == dev.index(min(dev)) + 1
    assert "dev_perplexity" not in model.history.history
    assert model.training_settings["refit"] == {
        "first_run_epochs": 3,
        "lines_set_apart": parts.dev_lines,
    }
    assert model.training_settings["max_minutes"] is None
    assert model.training_settings["patience"] == 0
    assert model.training_settings["dropout"] == 0.2  # the user's, in the second run too


def test_no_refit_past_the_time_left_or_without_an_early_stop():
    history = {"dev_perplexity": [90.0, 80.0, 85.0, 86.0]}
    assert plan(history, 100, 8.0, None, 90, 100)[0] == 2
    epochs, reason = plan(history, 100, 40.0, 20.0, 90, 100)
    assert epochs is None and "about 28 s, 20 s left" in reason
    assert plan(history, 4, 8.0, None, 90, 100) == (None, None)  # every epoch ran
    assert plan({"loss": [1.0]}, 100, 8.0, None, 90, 90) == (None, None)  # none set apart


def test_refit_must_be_auto_or_false(final_problem_path):
    with pytest.raises(ValueError, match="refit=True"):
        NextWordLSTM.from_text(final_problem_path, epochs=0, refit=True)
