"""The `keras-nextword` command: train, generate and evaluate from the shell.

Keras reads `KERAS_BACKEND` once, when it is first imported, so this module
imports neither Keras nor the rest of the package at its top: `main` parses the
command line, sets the backend, and only then imports.

Examples (shell):
    keras-nextword train final-problem --epochs 100 --out model.keras
    keras-nextword generate model.keras "What happens we do this" --max-length 10
    keras-nextword evaluate model.keras final-problem --json
    cat *.txt | keras-nextword train - --backend torch
"""

import argparse
import json
import os
import sys
import tempfile
import warnings

BACKENDS = ("jax", "tensorflow", "torch")
SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam")
# Sampler options beyond `temperature`, which every sampler takes.
SAMPLER_OPTIONS = {"top_k": ("k",), "top_p": ("p", "k")}
METRIC_ORDER = {"loss": 0, "accuracy": 1, "perplexity": 2}


class UsageError(Exception):
    """Bad input from the user: reported in one line with exit status 2."""


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
    except (UsageError, OSError, ValueError) as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        parser.exit(2, f"{parser.prog}: error: {message}\n")
    return 0


def build_parser():
    """Returns the `argparse` parser of the three subcommands."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND or Keras')"
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks")

    parser = _Parser(
        prog="keras-nextword", description="Word-level next-word LSTMs on any Keras 3 backend."
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", parents=[common], help="train a model on a corpus and save it"
    )
    _add_corpus_arguments(train)
    train.add_argument("--out", default="model.keras", help="model path (default: %(default)s)")
    train.add_argument(
        "--epochs",
        type=_integer(0),
        default=100,
        help="0 saves the untrained model (default: %(default)s)",
    )
    train.add_argument("--batch-size", type=_integer(1), help="default: from_text's (8)")
    train.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.1,
        help="share of lines held out, in [0, 1) (default: %(default)s)",
    )
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
        "--num-sampled",
        type=_integer(1),
        help="train with a sampled softmax over this many negative words (large vocabularies)",
    )
    train.add_argument(
        "--patience",
        type=_integer(0),
        default=5,
        help="choose the epoch count on the last 10%% of the training lines, stopping once "
        "their perplexity has not improved for this many epochs; 0 trains all epochs "
        "(default: %(default)s)",
    )
    train.add_argument(
        "--ema-momentum",
        type=_fraction,
        default=0.995,
        help="keep a moving average of the weights with this momentum, validate it and "
        "save it; 0 turns it off (default: %(default)s)",
    )
    train.add_argument("--seed", type=_integer(0))
    train.add_argument(
        "--checkpoint-dir",
        help="save training state there after every epoch; the same command resumes a "
        "killed run from its last finished epoch",
    )
    train.add_argument(
        "--data-parallel",
        action="store_true",
        help="split every batch across all local devices (JAX only; --batch-size is the "
        "global batch)",
    )
    train.add_argument(
        "--mixed-precision",
        choices=("bfloat16", "float16"),
        help="compute in 16 bits, weights in float32 (Keras' mixed_bfloat16 or "
        "mixed_float16 policy)",
    )
    train.set_defaults(command=_train)

    generate = commands.add_parser(
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
    generate.set_defaults(command=_generate)

    evaluate = commands.add_parser(
        "evaluate", parents=[common], help="loss, accuracy and perplexity on a corpus"
    )
    evaluate.add_argument("model", metavar="MODEL", help="a .keras file saved by `train`")
    _add_corpus_arguments(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(command=_evaluate)
    return parser


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


def _fraction(text):
    """An argparse type: a float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), not {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


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


def _device():
    """'GPU', 'TPU' or 'CPU': where a new tensor lands on the active backend."""
    import keras

    device = str(getattr(keras.ops.zeros(()), "device", "cpu")).lower()
    if any(name in device for name in ("gpu", "cuda", "rocm", "mps")):
        return "GPU"
    return "TPU" if "tpu" in device else "CPU"


def _corpus_paths(source):
    """The text files one CORPUS argument names ('-' stays '-')."""
    from keras_nextword import data, datasets

    if source == "-":
        return ["-"]
    if source == "final-problem":
        return [datasets.load_final_problem()]
    if source == "sherlock-canon":
        return [datasets.load_sherlock_canon()]
    return data.text_files(source)


def read_corpus(sources, errors="strict"):
    """Reads the lines of every CORPUS argument, in order.

    Every file is checked as `keras_nextword.data.read_lines` checks it; with
    `errors="replace"`, bytes that are not UTF-8 are read as U+FFFD and a
    one-line warning on standard error counts them.

    Args:
        sources: list of str: paths, directories of `.txt` files, `-` for
            standard input, or the demo names `final-problem`, `sherlock-canon`.
        errors: `"strict"` or `"replace"`, as in `read_lines`.

    Returns:
        A list of str, one per line (blank lines included).

    Example:
    >>> len(read_corpus(["final-problem"]))  # doctest: +SKIP
    818
    """
    from keras_nextword import data

    if sources.count("-") > 1:
        raise UsageError("standard input ('-') can be read only once")
    lines = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for source in sources:
            for path in _corpus_paths(source):
                if path == "-":
                    lines += data.decode_lines(sys.stdin.buffer.read(), "<stdin>", errors)
                else:
                    lines += data.read_lines(path, errors)
    for warning in caught:
        print(f"keras-nextword: warning: {warning.message}", file=sys.stderr)
    return lines


def _load_model(path):
    from keras_nextword import saving

    model = saving.load_model(path)
    if model.preprocessor is None:
        raise UsageError(f"{path}: the model has no preprocessor, so it cannot read text")
    return model


def _train(args):
    import keras

    from keras_nextword import NextWordLSTM, data, saving
    from keras_nextword.distribution import check_batch_size, data_parallel
    from keras_nextword.plotting import plot_history

    if not args.out.endswith(".keras"):
        raise UsageError(f"--out must end in .keras, not {args.out}")
    print(f"Backend: {keras.config.backend()} ({_device()})", flush=True)
    distribution = None
    if args.data_parallel:
        if keras.config.backend() != "jax":
            raise UsageError(
                f"--data-parallel needs --backend jax: keras.distribution does not run on "
                f"{keras.config.backend()}"
            )
        distribution = data_parallel()
        check_batch_size(distribution, args.batch_size)
        devices = distribution.device_mesh.devices.ravel()
        print(
            f"Data parallel on {devices.size} devices ({', '.join(devices)}), "
            f"{args.batch_size // devices.size} rows each per step",
            flush=True,
        )
    lines = read_corpus(args.corpus, args.encoding_errors)
    train_lines, _ = data.split_lines(lines, args.validation_split)
    data.check_next_words(train_lines, " ".join(args.corpus))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        model = NextWordLSTM.from_text(
            corpus,
            epochs=args.epochs,
            validation_split=args.validation_split,
            **({"batch_size": args.batch_size} if args.batch_size else {}),
            max_tokens=args.max_tokens,
            mode=args.mode,
            window_length=args.window_length,
            num_sampled=args.num_sampled,
            checkpoint_dir=args.checkpoint_dir,
            seed=args.seed,
            early_stopping_patience=args.patience or None,
            ema_momentum=args.ema_momentum or None,
            embedding_dim=args.embedding_dim,
            lstm_units=args.lstm_units,
            tie_weights=args.tie_weights,
            distribution=distribution,
            dtype_policy=args.mixed_precision and f"mixed_{args.mixed_precision}",
        )
    folder = os.path.dirname(args.out)
    if folder:
        os.makedirs(folder, exist_ok=True)
    model.save(args.out)
    if model.history is None:  # --epochs 0
        print(f"Saved {args.out}, untrained")
        return
    history = {name: [float(v) for v in values] for name, values in model.history.history.items()}
    history_path = os.path.join(folder, "history.json")
    with saving.atomic_write(history_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(history, f, indent=1)
    plot_path = os.path.join(folder, "history.png")
    with saving.atomic_write(plot_path) as tmp:
        plot_history(history, tmp, title=args.out)
    print(f"Saved {args.out}, {history_path} and {plot_path}")


def _generate(args):
    model = _load_model(args.model)
    options = {"temperature": args.temperature, "k": args.k, "p": args.p}
    for name in ("k", "p"):
        if options[name] is not None and name not in SAMPLER_OPTIONS.get(args.sampler, ()):
            raise UsageError(f"--{name} does not apply to the {args.sampler} sampler")
    options = {name: value for name, value in options.items() if value is not None}
    texts = model.generate(
        args.prompts, max_length=args.max_length, sampler=args.sampler, seed=args.seed, **options
    )
    for text in texts:
        print(text)


def _evaluate(args):
    model = _load_model(args.model)
    lines = [line for line in read_corpus(args.corpus, args.encoding_errors) if line.strip()]
    metrics = model.evaluate(lines, return_dict=True, verbose=0)
    metrics = {name: float(value) for name, value in metrics.items()}
    if args.json:
        print(json.dumps(metrics))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{args.model} on {' '.join(args.corpus)} ({len(lines)} lines)")
    table = Table("metric", "value")
    table.columns[1].justify = "right"
    for name in sorted(metrics, key=lambda name: METRIC_ORDER.get(name, len(METRIC_ORDER))):
        table.add_row(name, f"{metrics[name]:.4f}")
    console.print(table)
