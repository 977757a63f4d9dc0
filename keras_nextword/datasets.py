"""Demo corpora: The Final Problem ships with the package."""

from importlib import resources

FINAL_PROBLEM_SHA256 = "4381afb3272d8cf52ae541b8305377ca3bd9b9f9b13b06e23c3cfcee8cf8c727"


def load_final_problem():
    """Returns the path of Arthur Conan Doyle's "The Final Problem" (43 KB,
    public domain, CRLF), shipped with the package so it needs no network.

    Returns:
        str, a path to a UTF-8 text file.

    Example:
    >>> from keras_nextword import datasets
    >>> datasets.load_final_problem().endswith("the_final_problem.txt")
    True
    """
    return str(resources.files("keras_nextword") / "data" / "the_final_problem.txt")
