"""The `keras-nextword` command: train, generate and evaluate from the shell.

Keras reads `KERAS_BACKEND` once, when it is first imported, so this module
imports neither Keras nor the rest of the package at its top: `main` parses the
command line, sets the backend, and only then runs the command, whose body
(in `keras_nextword.cli.commands`) imports what it needs.

Examples (shell):
    keras-nextword train final-problem --epochs 100 --out model.keras
    keras-nextword generate model.keras "What happens we do this" --max-length 10
    keras-nextword evaluate model.keras final-problem --json
    cat *.txt | keras-nextword train - --backend torch
    keras-nextword serve model.keras --port 8000
"""

import argparse
import os
import sys

from keras_nextword.cli import commands, keyboard_commands, serve_command
from keras_nextword.cli.commands import UsageError, read_corpus

__all__ = ["BACKENDS", "SAMPLERS", "UsageError", "build_parser", "main", "read_corpus"]

BACKENDS = ("jax", "tensorflow", "torch")
SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam")


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument in one line, as every other bad input."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv=None):
    """Runs the command line.

    Args:
        argv: list of str, the arguments after the program name; None reads
            `sys.argv`.

    Returns:
        int, the exit status (0 on success; 2 for bad input).

    Example:
    >>> main(["generate", "model.keras", "It is with a", "--max-length", "3"])  # doctest: +SKIP
    It is with a heavy heart that
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _use_backend(args.backend, reexec=argv is None)
        args.command(args)
    except commands.BAD_INPUT as error:
        if args.debug:
            raise
        parser.exit(2, f"{parser.prog}: error: {commands.one_line(error)}\n")
    return 0


def build_parser():
    """Returns the `argparse` parser of the `keras-nextword` commands."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND or Keras')"
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks")

    parser = _Parser(
        prog="keras-nextword", description="Word-level next-word LSTMs on any Keras 3 backend."
    )
    subcommands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    _add_train(subcommands, common)
    _add_generate(subcommands, common)
    _add_evaluate(subcommands, common)
    _add_suggest(subcommands, common)
    _add_export(subcommands, common)
    _add_serve(subcommands, common)
    return parser


def _add_train(subcommands, common):
    """`train`: the corpus, the model and every `from_text` setting."""
    train = subcommands.add_parser(
        "train", parents=[common], help="train a model on a corpus and save it"
    )
    _add_corpus_arguments(train)
    train.add_argument("--out", default="model.keras", help="model path (default: %(default)s)")
    train.add_argument(
        "--from",
        dest="from_model",
        metavar="MODEL",
        help="train this .keras model further on the corpus, on its own vocabulary and sizes "
        "(Python: model.fit_text)",
    )
    train.add_argument(
        "--epochs",
        type=_integer(0),
        default=100,
        help="0 saves the untrained model (default: %(default)s)",
    )
    train.add_argument(
        "--batch-size",
        type=_integer(1),
        help="default: chosen from the corpus by from_text; with --data-parallel, rounded "
        "up to a multiple of the number of devices",
    )
    train.add_argument(
        "--learning-rate",
        type=_positive,
        help="Adam's learning rate (default: chosen from the corpus by from_text)",
    )
    train.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.1,
        help="share of lines held out, in [0, 1) (default: %(default)s)",
    )
    _add_model_arguments(train)
    _add_run_arguments(train)
    _add_distribution_arguments(train)


def _add_model_arguments(train):
    """`train`'s model sizes, vocabulary, layout and regularization."""
    train.add_argument("--embedding-dim", type=_integer(1), default=100)
    train.add_argument("--lstm-units", type=_integer(1), default=150)
    train.add_argument(
        "--tie-weights",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the output layer reuses the embedding matrix, after a projection "
        "(default: %(default)s)",
    )
    train.add_argument("--max-tokens", type=_integer(3), help="vocabulary cap")
    train.add_argument(
        "--mode",
        choices=("line", "window", "prefix"),
        default="line",
        help="training layout: one row per line, the word stream in windows, or the "
        "tutorial's prefix n-grams (default: %(default)s)",
    )
    train.add_argument("--window-length", type=_integer(1), default=20)
    train.add_argument(
        "--pack",
        action=argparse.BooleanOptionalAction,
        help="pack short lines several a row, each with its own LSTM state (default: where "
        "rows grouped by length would be over 8%% padding, on one device)",
    )
    train.add_argument(
        "--bigram-weight",
        type=_bigram_weight,
        default="auto",
        help="the LSTM's share of its mix with a bigram count model, in (0, 1), or 'none' "
        "(default: %(default)s, chosen on the lines set apart, up to 4,096 words)",
    )
    train.add_argument(
        "--num-sampled",
        type=_integer(0),
        help="train with a sampled softmax over this many negative words; 0 for the full "
        "softmax (default: 1,024 from a vocabulary of 8,192 words, else 0)",
    )
    train.add_argument(
        "--dropout",
        type=_fraction,
        help="dropout after the embedding and the LSTM (default: chosen from the corpus size)",
    )


def _add_run_arguments(train):
    """`train`'s stopping, time limit, averaging, seed and checkpoints."""
    train.add_argument(
        "--patience",
        type=_integer(0),
        help="stop once validation perplexity has not improved for this many epochs (on lines "
        "set apart from the training lines); 0 trains all epochs (default: chosen from the "
        "corpus size)",
    )
    train.add_argument(
        "--refit",
        action="store_true",
        help="once the stopping rule has found the epoch count, train again on every training "
        "line (those set apart included) for that many epochs, if the time left allows",
    )
    train.add_argument(
        "--max-minutes",
        type=_nonnegative,
        default=15.0,
        help="time limit of the whole run; training ends with the best weights seen; 0 for "
        "none (default: %(default)s)",
    )
    train.add_argument(
        "--ema-momentum",
        type=_fraction,
        help="keep a moving average of the weights with this momentum, validate it and "
        "save it; 0 turns it off (default: chosen from the corpus)",
    )
    train.add_argument("--seed", type=_integer(0))
    train.add_argument(
        "--checkpoint-dir",
        help="save training state there after every epoch; the same command resumes a "
        "killed run from its last finished epoch",
    )


def _add_distribution_arguments(train):
    """`train`'s devices, processes and precision."""
    train.add_argument(
        "--data-parallel",
        action="store_true",
        help="split every batch across all local devices (JAX only; --batch-size is the "
        "global batch)",
    )
    group = train.add_argument_group(
        "several processes (--data-parallel on JAX; default: from the environment, "
        "see docs/distribution.md)"
    )
    group.add_argument("--coordinator-address", metavar="HOST:PORT", help="where process 0 listens")
    group.add_argument("--num-processes", type=_integer(1), metavar="N")
    group.add_argument("--process-id", type=_integer(0), metavar="I", help="0 to N - 1")
    group.add_argument(
        "--heartbeat-timeout",
        type=_integer(1),
        default=100,
        metavar="SECONDS",
        help="stop with an error once another process has been silent this long "
        "(default: %(default)s)",
    )
    train.add_argument(
        "--mixed-precision",
        choices=("bfloat16", "float16"),
        help="compute in 16 bits, weights in float32 (Keras' mixed_bfloat16 or "
        "mixed_float16 policy)",
    )
    train.set_defaults(command=commands.train)


def _add_generate(subcommands, common):
    """`generate`: continue prompts."""
    generate = subcommands.add_parser(
        "generate", parents=[common], help="continue prompts, one line each"
    )
    generate.add_argument("model", metavar="MODEL", help="a .keras file saved by `train`")
    generate.add_argument("prompts", nargs="+", metavar="PROMPT")
    generate.add_argument("--max-length", type=_integer(1), default=10, help="new words")
    generate.add_argument("--sampler", choices=SAMPLERS, default="greedy")
    generate.add_argument("--temperature", type=float)
    generate.add_argument("--k", type=_integer(1), help="top_k (and top_p) cut-off")
    generate.add_argument("--p", type=float, help="top_p probability mass")
    generate.add_argument("--seed", type=_integer(0))
    generate.set_defaults(command=commands.generate)


def _add_evaluate(subcommands, common):
    """`evaluate`: figures on a corpus."""
    evaluate = subcommands.add_parser(
        "evaluate", parents=[common], help="loss, accuracy and perplexity on a corpus"
    )
    evaluate.add_argument("model", metavar="MODEL", help="a .keras file saved by `train`")
    _add_corpus_arguments(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(command=commands.evaluate)


def _add_suggest(subcommands, common):
    """`suggest`: a keyboard's next words."""
    suggest = subcommands.add_parser(
        "suggest", parents=[common], help="the next word's suggestions, as a keyboard shows them"
    )
    suggest.add_argument("model", metavar="MODEL", help="a .keras file saved by `train`")
    suggest.add_argument(
        "texts",
        nargs="+",
        metavar="TEXT",
        help="typed text: ending in a space asks for the next word, else completes the last",
    )
    suggest.add_argument("-k", type=_integer(1), default=5, help="suggestions per text")
    suggest.add_argument("--json", action="store_true", help="print JSON")
    suggest.set_defaults(command=keyboard_commands.suggest)


def _add_export(subcommands, common):
    """`export`: an artifact for serving."""
    export = subcommands.add_parser(
        "export", parents=[common], help="export for TF Serving, onnxruntime or LiteRT"
    )
    export.add_argument("model", metavar="MODEL", help="a .keras file saved by `train`")
    export.add_argument("out", metavar="OUT", help="directory to write")
    export.add_argument("--format", choices=("tf_saved_model", "onnx", "litert"), required=True)
    export.add_argument("--quantize", action="store_true", help="int8 weights (litert)")
    export.add_argument(
        "-k", type=_integer(1), default=5, help="suggestions of the SavedModel's suggest signature"
    )
    export.set_defaults(command=keyboard_commands.export)


def _add_serve(subcommands, common):
    """`serve`: the page and the JSON API."""
    serve = subcommands.add_parser(
        "serve", parents=[common], help="a page with suggestions as you type, and a JSON API"
    )
    serve.add_argument("model", metavar="MODEL", help="a .keras file or a preset directory")
    serve.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    serve.add_argument("--port", type=_integer(0), default=8000, help="(default: %(default)s)")
    serve.set_defaults(command=serve_command.serve)


def _add_corpus_arguments(parser):
    parser.add_argument(
        "corpus",
        nargs="+",
        metavar="CORPUS",
        help="text files, directories of .txt files, '-' for standard input, "
        "or a demo corpus: final-problem, sherlock-canon",
    )
    parser.add_argument(
        "--encoding-errors",
        choices=("strict", "replace"),
        default="strict",
        help="bytes that are not UTF-8: refuse the file, or read them as U+FFFD with a "
        "warning (default: %(default)s)",
    )


def _integer(minimum):
    """An argparse type: an int >= `minimum`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, not {text}")
        return value

    return parse


def _number(accepts, wording):
    """An argparse type: a float for which `accepts(value)` holds, as `wording` says."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {wording}, not {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"must be {wording}, not {text}")
        return value

    return parse


_nonnegative = _number(lambda value: value >= 0, ">= 0")
_positive = _number(lambda value: value > 0, "> 0")
_fraction = _number(lambda value: 0 <= value < 1, "in [0, 1)")
_share = _number(lambda value: 0 < value < 1, "in (0, 1), 'auto' or 'none'")


def _bigram_weight(text):
    """An argparse type: `"auto"`, `"none"` (None) or a float in (0, 1)."""
    if text in ("auto", "none"):
        return None if text == "none" else text
    return _share(text)


def _use_backend(name, reexec):
    """Sets `KERAS_BACKEND`, which Keras reads when first imported."""
    if name is None:
        return
    keras = sys.modules.get("keras")
    if keras is not None and keras.config.backend() != name:
        if reexec:
            # Keras came in with the package; a fresh interpreter picks up the new backend.
            command = [sys.executable, "-m", "keras_nextword", *sys.argv[1:]]
            os.execve(sys.executable, command, {**os.environ, "KERAS_BACKEND": name})
        raise UsageError(
            f"--backend {name}: Keras already runs on {keras.config.backend()} in this "
            f"process; set KERAS_BACKEND={name} before Keras is imported"
        )
    os.environ["KERAS_BACKEND"] = name
