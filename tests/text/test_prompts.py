import pytest

from keras_nextword import NGramVectorizer
from keras_nextword.text.prompts import encode, stop_token_ids


@pytest.fixture(scope="module")
def vectorizer():
    return NGramVectorizer(vocabulary=["", "[UNK]", "a", "heavy", "heart"])


def test_whole_prompts_and_unknown_words(vectorizer):
    assert encode(vectorizer, ["A heavy heart, a heavy heart"]) == [[2, 3, 4, 2, 3, 4]]
    with pytest.warns(UserWarning, match="zzyzx") as record:
        assert encode(vectorizer, ["heavy zzyzx"]) == [[3, 1]]
    assert record[0].filename == __file__
    with pytest.raises(ValueError, match=r"Prompt 1 \('...'\) has no words"):
        encode(vectorizer, ["heart", "..."])


def test_stop_words(vectorizer):
    assert stop_token_ids(vectorizer, None) is None
    assert stop_token_ids(vectorizer, "heart") == (4,)
    assert stop_token_ids(vectorizer, ["a", "heart"]) == (2, 4)
    with pytest.raises(ValueError, match="zzyzx"):
        stop_token_ids(vectorizer, ["heart", "zzyzx"])
