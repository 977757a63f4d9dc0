"""The body of `keras-nextword serve MODEL [--host 127.0.0.1] [--port 8000]`."""

import json
import os

from keras_nextword.cli.commands import UsageError, history_file, load_model

EXTRA = 'the serve command needs Starlette and uvicorn: pip install "keras-nextword[serve]"'


def last_epoch(model_path):
    """The last epoch's figures of the `MODEL.history.json` that `train` writes
    beside the model, or None when there is none.

    Args:
        model_path: str, the model's `.keras` file or preset directory.

    Returns:
        dict of metric name -> float, or None.

    Example:
    >>> last_epoch("no/such/model.keras") is None
    True
    """
    path = history_file(os.path.abspath(model_path))
    try:
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
        return {name: float(values[-1]) for name, values in history.items() if values}
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        return None


def serve(args):
    """`keras-nextword serve`: loads the model and serves it until interrupted."""
    try:
        import uvicorn

        from keras_nextword.serve.app import create_app
    except ImportError:
        raise UsageError(EXTRA) from None
    model = load_model(args.model)
    app = create_app(model, figures=last_epoch(args.model))
    print(f"Serving {args.model} on http://{args.host}:{args.port}/ (Ctrl+C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
