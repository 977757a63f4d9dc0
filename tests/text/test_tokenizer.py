import keras
import keras_hub
import pytest

from conftest import LINES
from keras_nextword import NGramVectorizer
from keras_nextword.text.tokenizer import WordTokenizer


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = WordTokenizer()
    tokenizer.adapt(LINES)
    return tokenizer


def test_is_a_keras_hub_tokenizer_with_the_vectorizers_words(tokenizer):
    assert isinstance(tokenizer, keras_hub.tokenizers.Tokenizer)
    vectorizer = NGramVectorizer()
    vectorizer.adapt(LINES)
    assert tokenizer.get_vocabulary() == vectorizer.get_vocabulary()
    assert tokenizer(LINES).to_list() == vectorizer.tokenize(LINES).to_list()
    assert tokenizer.vocabulary_size() == vectorizer.vocabulary_size()


def test_round_trip_and_unknown_words(tokenizer):
    ids = tokenizer.tokenize("It is with a HEAVY heart, Zzyzx!")
    assert ids.shape.rank == 1 and int(ids[-1]) == tokenizer.oov_token_id == 1
    assert tokenizer.detokenize(ids) == "it is with a heavy heart [UNK]"
    assert tokenizer.detokenize([[2, 3, 0, 0], [4, 0, 0, 0]]) == [
        tokenizer.detokenize([2, 3]),
        tokenizer.id_to_token(4),
    ]
    assert tokenizer.token_to_id("heavy") == tokenizer.get_vocabulary().index("heavy")
    assert tokenizer.token_to_id("zzyzx") == 1
    with pytest.raises(ValueError, match="id"):
        tokenizer.id_to_token(tokenizer.vocabulary_size())


def test_config_and_preset_assets_round_trip(tokenizer, tmp_path):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tokenizer))
    assert restored.get_vocabulary() == tokenizer.get_vocabulary()
    tokenizer.save_assets(tmp_path)
    fresh = WordTokenizer()
    fresh.load_assets(tmp_path)
    assert fresh.get_vocabulary() == tokenizer.get_vocabulary()
    assert WordTokenizer(vocabulary=tmp_path / "vocabulary.txt").get_vocabulary() == (
        tokenizer.get_vocabulary()
    )


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="max_tokens"):
        WordTokenizer(max_tokens=2)
    with pytest.raises(ValueError, match="vocabulary"):
        WordTokenizer(vocabulary=["a", "b"])


def test_typographic_punctuation_splits_as_its_ascii_kin():
    from keras_nextword.text.tokenizer import python_split_words, split_words

    typeset = (
        "\u201cIt\u2019s\u00a0Holmes\u2014\u2018the\u2019 man\u2026\u201d \u00abvoil\u00e0\u00bb"
    )
    ascii_text = '"It\'s Holmes--\'the\' man..." "voil\u00e0"'
    expected = ["it's", "holmes", "'the'", "man", "voil\u00e0"]
    assert python_split_words(typeset) == python_split_words(ascii_text) == expected
    assert [w.decode() for w in split_words([typeset]).to_list()[0]] == expected
