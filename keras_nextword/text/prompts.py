"""Prompts as `generate` and `predict` read them: whole, word ids, unknown words named."""

import os
import sys
import warnings

from keras_nextword.text.ngram_vectorizer import OOV_ID, python_split_words

__all__ = ["encode", "stop_token_ids"]


def stop_token_ids(preprocessor, stop):
    """The ids of `stop` (a word, a list of words or None), each in the vocabulary.

    Raises:
        ValueError: a stop word is out of the vocabulary; the message names it.
    """
    if stop is None:
        return None
    words = [stop] if isinstance(stop, str) else list(stop)
    ids = tuple(preprocessor.token_to_id(w) for w in words)
    unknown = [w for w, i in zip(words, ids) if i == OOV_ID]
    if unknown:
        raise ValueError(f"Stop words must be in the vocabulary. Received: stop={unknown}")
    return ids


def encode(preprocessor, prompts):
    """Word ids of each whole prompt, as `generate` and `predict` read them.

    Warns once per call about words out of the vocabulary (read as `[UNK]`)
    and about prompts with no known word.

    Args:
        preprocessor: an adapted `NGramVectorizer`.
        prompts: a list of strings.

    Returns:
        A list of lists of int ids, one per prompt.

    Raises:
        ValueError: a prompt has no words; the message names it.

    Example:
    >>> vectorizer = NGramVectorizer(vocabulary=["", "[UNK]", "a", "heavy", "heart"])
    >>> encode(vectorizer, ["A heavy heart", "heart"])
    [[2, 3, 4], [4]]
    """
    token_to_id = preprocessor.token_to_id
    rows, unknown, hopeless = [], {}, []
    for n, prompt in enumerate(prompts):
        words = python_split_words(prompt)
        if not words:
            raise ValueError(
                f"Prompt {n} ({prompt!r}) has no words to continue: the LSTM needs at "
                "least one word (a [UNK] counts) to start from."
            )
        ids = [token_to_id(w) for w in words]
        if OOV_ID in ids:
            unknown[prompt] = [w for w, i in zip(words, ids) if i == OOV_ID]
            if len(unknown[prompt]) == len(words):
                hopeless.append(prompt)
        rows.append(ids)
    if unknown:
        listed = "; ".join(f"{p!r}: {w}" for p, w in list(unknown.items())[:5])
        more = f"; and {len(unknown) - 5} more prompts" if len(unknown) > 5 else ""
        warnings.warn(
            f"Out-of-vocabulary words in prompts read as [UNK]: {listed}{more}",
            stacklevel=_caller_level(),
        )
    if hopeless:
        more = f" and {len(hopeless) - 5} more" if len(hopeless) > 5 else ""
        warnings.warn(
            f"Prompts with no word in the vocabulary continue from [UNK]s alone: "
            f"{hopeless[:5]}{more}",
            stacklevel=_caller_level(),
        )
    return rows


def _caller_level():
    """The `stacklevel` that makes a warning name the first line outside this
    package (the user's `generate` call, through `NextWordLSTM.generate` or not)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # keras_nextword/
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
