"""The bodies of the `keras-nextword` commands: `train`, `generate`, `evaluate`.

`keras_nextword.cli.main` parses the command line and sets the backend first; each
function here imports Keras and the rest of the package only when it runs.
"""

import importlib.util
import json
import os
import sys
import tempfile
import traceback
import warnings

# Sampler options beyond `temperature`, which every sampler takes.
SAMPLER_OPTIONS = {"top_k": ("k",), "top_p": ("p", "k")}
METRIC_ORDER = {"loss": 0, "accuracy": 1, "top1_accuracy": 2, "top3_accuracy": 3, "perplexity": 4}


class UsageError(Exception):
    """Bad input from the user: reported in one line with exit status 2."""


# What the command line reports in one line with exit status 2.
BAD_INPUT = (UsageError, OSError, ValueError)
# Optional modules, and the extra of `pyproject.toml` that installs each.
EXTRAS = {"matplotlib": "plot", "onnx": "export", "tf2onnx": "export"}


def missing_extra(module, what):
    """The line that tells how to get `module` when it is not installed, else None.

    Args:
        module: a module named in `EXTRAS`.
        what: what needs it, for the message.

    Returns:
        str or None.

    Example:
    >>> missing_extra("json", "nothing") is None
    True
    """
    if importlib.util.find_spec(module) is not None:
        return None
    return f'{what} needs {module}: pip install "keras-nextword[{EXTRAS.get(module, module)}]"'


def one_line(error):
    """`error`'s message on one line (its type's name when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def _device():
    """'GPU', 'TPU' or 'CPU': where a new tensor lands on the active backend."""
    import keras

    device = str(getattr(keras.ops.zeros(()), "device", "cpu")).lower()
    if any(name in device for name in ("gpu", "cuda", "rocm", "mps")):
        return "GPU"
    return "TPU" if "tpu" in device else "CPU"


def _corpus_paths(source):
    """The text files one CORPUS argument names ('-' stays '-')."""
    from keras_nextword.text import data, datasets

    if source == "-":
        return ["-"]
    if source == "final-problem":
        return [datasets.load_final_problem()]
    if source == "sherlock-canon":
        return [datasets.load_sherlock_canon()]
    return data.text_files(source)


def read_corpus(sources, errors="strict"):
    """Reads the lines of every CORPUS argument, in order.

    Every file is checked as `keras_nextword.text.data.read_lines` checks it; with
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
    from keras_nextword.text import data

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


def corpus_paths(sources, folder):
    """The text files of every CORPUS argument, in order, for `from_text` to stream:
    standard input (`-`) is copied to a file in `folder` in blocks, never held in memory.

    Args:
        sources: list of str, as `read_corpus`'s.
        folder: str, a temporary directory for standard input's copy.

    Returns:
        A list of str paths.

    Example:
    >>> corpus_paths(["final-problem"], "/tmp")  # doctest: +ELLIPSIS
    ['.../the_final_problem.txt']
    """
    import shutil

    if sources.count("-") > 1:
        raise UsageError("standard input ('-') can be read only once")
    paths = [path for source in sources for path in _corpus_paths(source)]
    if "-" in paths:
        with open(_spooled(folder), "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
    return [_spooled(folder) if path == "-" else path for path in paths]


def _spooled(folder):
    return os.path.join(folder, "stdin.txt")


def _show_warning(message, category, *args, **kwargs):
    """Warnings while training on one line of standard error, as `read_corpus` prints them."""
    print(f"keras-nextword: warning: {message}", file=sys.stderr, flush=True)


def history_file(model_path, extension=".json"):
    """Where `train` writes a model's history: beside it, named after it.

    Example:
    >>> history_file("runs/fp.keras"), history_file("runs/fp.keras", ".png")
    ('runs/fp.history.json', 'runs/fp.history.png')
    """
    return f"{os.path.splitext(model_path)[0]}.history{extension}"


def load_model(path):
    """The model saved at `path`, which must read text (have a preprocessor).

    Args:
        path: a `.keras` file.

    Returns:
        The model.

    Raises:
        UsageError: the model has no preprocessor.
    """
    from keras_nextword.io import saving

    model = saving.load_model(path)
    if model.preprocessor is None:
        raise UsageError(f"{path}: the model has no preprocessor, so it cannot read text")
    return model


def train(args):
    """`keras-nextword train`: trains on the corpus, saves the model, history and plot.

    In a group of processes, a process that fails stops at once: bad input
    in one line (exit status 2), another error with its traceback (1). It
    skips JAX's shutdown, whose barrier would wait for the other processes
    while they wait for this one, until its timeout aborted them all (5
    minutes). The others then stop too. One inside a step stops with a
    one-line error and exit status 1 when the step's collective fails; one
    outside a step (reading the corpus, saving a checkpoint) is ended by
    JAX's coordination service after `--heartbeat-timeout` seconds, an abort
    with JAX's own message. Either way, start every process again with the
    same command; with `--checkpoint-dir` they resume from the last
    finished epoch.
    """
    try:
        _train(args)
    except Exception as error:
        from keras_nextword.runtime import distribution

        if args.debug or distribution.process_count() == 1:
            raise
        _leave_group(error, distribution)


def _leave_group(error, distribution):
    """Reports `error` of a process of a group and ends the process (see `train`)."""
    where = f"process {distribution.process_index()} of {distribution.process_count()}"
    if distribution.lost_process(error):
        first = str(error).strip().splitlines()[0]
        message = (
            f"{where} stopped: another process of the group is gone ({first}). Start "
            "every process again with the same command; with --checkpoint-dir they "
            "resume from the last finished epoch."
        )
        status = 1
    elif isinstance(error, BAD_INPUT):
        message, status = f"{where}: {one_line(error)}", 2
    else:
        traceback.print_exc()
        message, status = f"{where} stopped on the error above.", 1
    print(f"keras-nextword: error: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(status)


def _train(args):
    if not args.out.endswith(".keras"):
        raise UsageError(f"--out must end in .keras, not {args.out}")
    distribution, batch_size = None, args.batch_size
    if args.data_parallel:
        distribution, batch_size = _data_parallel(args)
    import keras

    from keras_nextword.runtime.distribution import process_count, process_index

    print(f"Backend: {keras.config.backend()} ({_device()})", flush=True)
    if distribution is not None:
        devices = distribution.device_mesh.devices.ravel()
        print(
            f"Process {process_index()} of {process_count()}, {devices.size} devices in all",
            flush=True,
        )
        rows = f"{batch_size // devices.size}" if batch_size else "the batch split evenly,"
        print(
            f"Data parallel on {devices.size} devices ({', '.join(devices)}), "
            f"{rows} rows each per step",
            flush=True,
        )
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.showwarning = _show_warning
        paths = corpus_paths(args.corpus, tmp)
        try:
            model = _fit(args, paths[0] if len(paths) == 1 else paths, batch_size, distribution)
        except BAD_INPUT as error:
            if _spooled(tmp) not in str(error):
                raise
            # Named as standard input, not as its copy.
            raise UsageError(str(error).replace(_spooled(tmp), "<stdin>")) from None
    if process_index() != 0:
        print(f"Process {process_index()} done: process 0 saves {args.out}")
        return
    _save(model, args.out)


def _fit(args, path, batch_size, distribution):
    """`from_text` on the corpus, or `fit_text` of the model `--from` names."""
    from keras_nextword import NextWordLSTM

    shared = dict(
        epochs=args.epochs,
        validation_split=args.validation_split,
        mode=args.mode,
        window_length=args.window_length,
        checkpoint_dir=args.checkpoint_dir,
        seed=args.seed,
        learning_rate=args.learning_rate,
        early_stopping_patience=args.patience,
        max_minutes=args.max_minutes or None,
        encoding_errors=args.encoding_errors,
    )
    if args.from_model is not None:
        if distribution is not None:
            raise UsageError("--from trains on one process: drop --data-parallel")
        return load_model(args.from_model).fit_text(path, **shared)
    return NextWordLSTM.from_text(
        path,
        **shared,
        **({"batch_size": batch_size} if batch_size else {}),
        max_tokens=args.max_tokens,
        num_sampled=args.num_sampled,
        dropout=args.dropout,
        ema_momentum="auto" if args.ema_momentum is None else args.ema_momentum or None,
        embedding_dim=args.embedding_dim,
        lstm_units=args.lstm_units,
        tie_weights=args.tie_weights,
        **({} if args.pack is None else {"line_starts": args.pack}),
        bigram_weight=args.bigram_weight,
        distribution=distribution,
        dtype_policy=args.mixed_precision and f"mixed_{args.mixed_precision}",
        refit="auto" if args.refit else False,
    )


def _save(model, path):
    """Saves the model at `path`, and beside it its history and plot."""
    from keras_nextword.runtime import files

    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    model.save(path)
    if model.history is None:  # --epochs 0
        print(f"Saved {path}, untrained")
        return
    history = {name: [float(v) for v in values] for name, values in model.history.history.items()}
    history_path = history_file(path)
    with files.atomic_write(history_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(history, f, indent=1)
    missing = missing_extra("matplotlib", "the training curve")
    if missing:
        print(f"Saved {path} and {history_path}; {missing}")
        return
    from keras_nextword.cli.plotting import plot_history

    plot_path = history_file(path, ".png")
    with files.atomic_write(plot_path) as tmp:
        plot_history(history, tmp, title=path)
    print(f"Saved {path}, {history_path} and {plot_path}")


def _data_parallel(args):
    """`(distribution, global batch size)` for `--data-parallel`: joins the process
    group first when one is named, before Keras starts JAX's runtime."""
    import keras

    from keras_nextword.runtime import distribution

    if keras.config.backend() != "jax":
        raise UsageError(
            f"--data-parallel needs --backend jax: keras.distribution does not run on "
            f"{keras.config.backend()}"
        )
    group = (args.coordinator_address, args.num_processes, args.process_id)
    if any(value is not None for value in group) or distribution.launched_as_group():
        distribution.initialize(*group, heartbeat_timeout=args.heartbeat_timeout)
    parallel = distribution.data_parallel()
    # None: from_text chooses one from the corpus, rounded up to split evenly.
    if args.batch_size is not None:
        distribution.check_batch_size(parallel, args.batch_size)
    return parallel, args.batch_size


def generate(args):
    """`keras-nextword generate`: prints one continuation per prompt."""
    model = load_model(args.model)
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


def evaluate(args):
    """`keras-nextword evaluate`: prints loss, accuracy and perplexity on a corpus."""
    model = load_model(args.model)
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
