"""Training curves as a PNG: loss and perplexity, training against validation.

matplotlib is an optional dependency (`pip install "keras-nextword[plot]"`),
imported only when a plot is drawn.
"""

PANELS = (("loss", "Loss (cross-entropy)"), ("perplexity", "Perplexity"))


def plot_history(history, path, title=None):
    """Draws loss and perplexity per epoch, training and validation, into a PNG.

    Args:
        history: a `keras.callbacks.History` or its `.history` dict of metric
            name to per-epoch values (`loss`, `val_loss`, `perplexity`, ...).
        path: where to write the PNG.
        title: str or None, a title over both panels.

    Returns:
        `path`.

    Example:
    >>> history = {"loss": [6.5, 5.9], "val_loss": [6.4, 6.3],
    ...            "perplexity": [665.1, 365.0], "val_perplexity": [601.8, 544.6]}
    >>> plot_history(history, "history.png")  # doctest: +SKIP
    'history.png'
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    from matplotlib.ticker import MaxNLocator

    history = getattr(history, "history", history)
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, (metric, label) in zip(figure.subplots(1, 2), PANELS):
        for prefix, name in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                epochs = range(1, len(values) + 1)
                axes.plot(epochs, values, marker="." if len(values) < 30 else None, label=name)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(label)
        if metric == "perplexity":
            axes.set_yscale("log")
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    figure.savefig(path, dpi=100)
    return path
