"""Demo corpora: the shipped copy, and the canon through a pre-seeded Keras cache."""

import shutil
import urllib.error
from pathlib import Path

import pytest
from keras.src.utils import file_utils

from keras_nextword.text import datasets

pytestmark = pytest.mark.backend("jax")  # files and hashes: the same on every backend


@pytest.fixture
def downloads(monkeypatch):
    """Records download attempts and fails each one, as if offline."""
    attempts = []

    def offline(url, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError("offline (tests never download)")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    return attempts


@pytest.fixture
def seeded_cache(tmp_path, canon_path):
    """A Keras cache dir holding the canon, copied from beside the repository."""
    (tmp_path / "datasets").mkdir()
    shutil.copyfile(canon_path, tmp_path / "datasets" / datasets.CANON_FILE)
    return tmp_path


def test_final_problem_is_shipped_and_pinned():
    assert datasets.sha256(datasets.load_final_problem()) == datasets.FINAL_PROBLEM_SHA256


def test_canon_from_cache_dir(seeded_cache, downloads):
    path = datasets.load_sherlock_canon(cache_dir=seeded_cache)
    assert Path(path) == seeded_cache / "datasets" / datasets.CANON_FILE
    assert datasets.sha256(path) == datasets.CANON_SHA256
    assert downloads == []


def test_canon_from_keras_home(seeded_cache, downloads, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(seeded_cache))
    path = datasets.load_sherlock_canon()
    assert Path(path).parent == seeded_cache / "datasets"
    with open(path, encoding="utf-8") as f:
        assert "Sherlock Holmes" in f.read(100_000)
    assert downloads == []


def test_canon_with_wrong_hash_is_refused(tmp_path, downloads):
    cached = tmp_path / "datasets" / datasets.CANON_FILE
    cached.parent.mkdir()
    cached.write_text("not the canon\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        datasets.load_sherlock_canon(cache_dir=tmp_path)
    assert str(cached) in str(error.value)
    assert datasets.sha256(cached) in str(error.value)
    assert cached.read_text(encoding="utf-8") == "not the canon\n"  # left for the user
    assert downloads == []


def test_canon_offline_without_cache_says_where_to_put_it(tmp_path, downloads):
    cache_dir = tmp_path / "fresh"
    with pytest.raises(OSError) as error:
        datasets.load_sherlock_canon(cache_dir=cache_dir)
    assert downloads == [datasets.CANON_URL]
    assert str(cache_dir / "datasets" / datasets.CANON_FILE) in str(error.value)
    assert not (cache_dir / "datasets" / datasets.CANON_FILE).exists()
