"""A PyTorch peer beside `from_text`: an `nn.LSTM` language model of our size, trained
the way pytorch/examples `word_language_model` trains, scored as ours is.

    KERAS_BACKEND=jax python benchmarks/peer.py --corpus final-problem
    nohup python benchmarks/peer.py --corpus sherlock-canon --skip-ours > peer.log &
    KERAS_BACKEND=jax python benchmarks/peer.py --ours '{"batch_size": 8, "learning_rate": 0.003}'

The split and the vocabulary are `from_text`'s own (the last 10% of the non-blank lines
held out; every word of the other lines, `[UNK]` = 1). The peer is Embedding 100 -> LSTM
150 -> Linear to the vocabulary (`--tied`: a 150 -> 100 projection, then the embedding
matrix, as our tied default), dropout 0.2 after the embedding and after the LSTM. It
trains as the example does: the training lines' words as one stream cut into 20
columns, 35 positions a step (BPTT), the hidden state carried from step to step and
detached, plain SGD at learning rate 20 with gradients clipped to norm 0.25, the rate
divided by 4 after an epoch that did not improve, and the best weights kept. The
example's corpora mark rare words `<unk>`; ours are raw text, so words seen fewer than
`--unk-below` times in the training lines are `[UNK]` in the peer's stream (2: the
training lines' singletons), or the peer never learns the held-out lines' `[UNK]`.

Both are scored on the held-out lines as `fit` validates: each word after the first of
its line, from the words before it in that line only (the peer's state starts at zero on
each held-out line), over all targets and over targets that are not `[UNK]`. The peer's
rate and kept weights follow its perplexity on the training lines `from_text` sets apart
to stop on, as the example's validation split (on a corpus too short to set any apart,
the held-out lines, which flatters the peer).
`NextWordLSTM.from_text(path)` then trains in the same process with its defaults and the
same seed, its per-epoch `val_perplexity` being the same measure. Times are seconds from
the start of each model's run (reading the corpus included) to the end of each epoch's
validation; tokens/s are training words an epoch over its training seconds (validation
excluded), the median over epochs after the first (ours compiles in its first).
`--threads` sets PyTorch's threads: on a machine shared with other jobs, 2 threads on 2
cores trained the peer 5-7x slower than 1.
`--ours` sets `from_text` arguments that it would otherwise choose (to measure a choice).
`--compilation-cache DIR` keeps JAX's persistent compilation cache there (every compile;
`JAX_COMPILATION_CACHE_DIR` does the same for any program): run twice, the second run
loads ours' compiled steps instead of compiling them, as a user's rerun on the same
corpus and settings would; the JSON records the cache entries found before the run.
Writes `peer_<corpus file stem>[_tied][_threads<n>][_<argument>_<value>...][_cold_cache|_warm_cache].json`.
"""

import argparse
import copy
import inspect
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import heldout
import keras
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from keras_nextword import NextWordLSTM
from keras_nextword.text import data, datasets
from keras_nextword.text.ngram_vectorizer import OOV_ID, NGramVectorizer
from keras_nextword.training import recipe

# pytorch/examples word_language_model's recipe, at our model's size.
RECIPE = {
    "embedding_dim": 100,
    "lstm_units": 150,
    "dropout": 0.2,
    "bptt": 35,
    "batch_size": 20,
    "lr": 20.0,
    "clip": 0.25,
}
CORPORA = {
    "final-problem": datasets.load_final_problem,
    "sherlock-canon": datasets.load_sherlock_canon,
}


class PeerLSTM(nn.Module):
    """Embedding -> dropout -> LSTM -> dropout -> logits over the vocabulary, on `(time,
    batch)` ids; with `tied`, the logits are a projection of the LSTM output times the
    embedding matrix (no output bias), as our tied model's."""

    def __init__(self, vocabulary_size, embedding_dim=100, lstm_units=150, dropout=0.2, tied=False):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, embedding_dim)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embedding_dim, lstm_units)
        self.tied = tied
        if tied:
            self.projection = nn.Linear(lstm_units, embedding_dim)
        else:
            self.decoder = nn.Linear(lstm_units, vocabulary_size)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    def hidden(self, ids, state=None):
        """LSTM outputs `(time, batch, lstm_units)` and the final `(h, c)`."""
        return self.lstm(self.drop(self.embedding(ids)), state)

    def logits(self, hidden):
        hidden = self.drop(hidden)
        if self.tied:
            return F.linear(self.projection(hidden), self.embedding.weight)
        return self.decoder(hidden)


def corpus_path(corpus):
    return CORPORA[corpus]() if corpus in CORPORA else str(corpus)


def split(path):
    """`from_text`'s split: `(train_lines, dev_lines, heldout_lines)`, `tf.data.Dataset`s
    of strings; `dev_lines` are the training lines set apart to stop on
    (`recipe.dev_lines`), None when there are too few."""
    parts = recipe.split(path)
    return parts.train, parts.dev, parts.held_out


def load(path):
    """`split(path)` and `from_text`'s vocabulary, every word of the training lines."""
    train_lines, dev_lines, heldout_lines = split(path)
    preprocessor = NGramVectorizer()
    preprocessor.adapt(train_lines)
    return train_lines, dev_lines, heldout_lines, preprocessor


def token_stream(preprocessor, lines, unk_below=0):
    """The words of `lines` as one int64 vector; words seen fewer than `unk_below`
    times when the vocabulary was built become `[UNK]`."""
    ids = [preprocessor.tokenize(batch).flat_values.numpy() for batch in lines.batch(4096)]
    stream = np.concatenate(ids).astype(np.int64)
    rare = np.asarray(preprocessor.word_counts) < unk_below
    return torch.from_numpy(np.where(rare[stream], OOV_ID, stream))


def heldout_rows(preprocessor, lines):
    """`heldout.line_rows` of `lines` (a dataset of strings) sorted by length (a
    batch of rows is then about as long as its longest), as int64 ids."""
    x, y, w = heldout.line_rows(preprocessor, data.listed(lines))
    order = np.argsort(w.sum(axis=1), kind="stable")
    return x[order].astype(np.int64), y[order].astype(np.int64), w[order]


def batchify(stream, batch_size):
    """The stream cut into `batch_size` contiguous columns, `(time, batch_size)`; the
    remainder that does not fill a row is dropped."""
    rows = len(stream) // batch_size
    return stream[: rows * batch_size].view(batch_size, rows).t().contiguous()


@torch.no_grad()
def heldout_perplexity(model, rows, batch_size=256, positions=4096):
    """Perplexity over every weighted position of `rows`, each row from a zero state.

    Args:
        model: has `hidden(ids)` on `(time, batch)` ids and `logits(hidden)`.
        rows: `(inputs, targets, weights)` arrays of shape `(rows, length)`.
        batch_size: rows per LSTM pass.
        positions: real positions per softmax, which skips the padding.

    Returns:
        `(all, known, predictions, known_predictions)`: perplexity over every
        target and over those that are not `[UNK]`, and their counts.
    """
    model.eval()
    x, y, w = rows
    nll, targets = [], []
    for start in range(0, len(x), batch_size):
        real = w[start : start + batch_size] > 0
        length = max(int(real.sum(axis=1).max()), 1)  # rows are post-padded
        ids = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size, :length].T))
        hidden, _ = model.hidden(ids.long())
        mask = torch.from_numpy(np.ascontiguousarray(real[:, :length].T))
        hidden = hidden[mask]
        target = torch.from_numpy(np.ascontiguousarray(y[start : start + batch_size, :length].T))
        target = target[mask].long()
        for i in range(0, len(hidden), positions):
            logits = model.logits(hidden[i : i + positions])
            nll.append(F.cross_entropy(logits, target[i : i + positions], reduction="none"))
        targets.append(target)
    nll, targets = torch.cat(nll).double(), torch.cat(targets)
    known = targets != OOV_ID
    return (
        math.exp(nll.mean()),
        math.exp(nll[known].mean()),
        len(nll),
        int(known.sum()),
    )


def train_epoch(model, batches, lr, bptt=35, clip=0.25, deadline=math.inf):
    """One pass over `batches` (`(time, batch)`), the state carried between BPTT chunks
    and detached; plain SGD. Returns the positions trained and whether it finished."""
    model.train()
    state, trained = None, 0
    for i in range(0, len(batches) - 1, bptt):
        if time.perf_counter() > deadline:
            return trained, False
        x = batches[i : i + bptt]
        y = batches[i + 1 : i + 1 + len(x)]
        x = x[: len(y)]
        if state is not None:
            state = tuple(s.detach() for s in state)
        hidden, state = model.hidden(x, state)
        logits = model.logits(hidden)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.reshape(-1))
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
        trained += y.numel()
    return trained, True


def run_peer(path, epochs=40, max_minutes=math.inf, seed=0, tied=False, unk_below=2):
    """Trains the peer on `path`'s training lines; returns its curve and figures."""
    lr = RECIPE["lr"]
    start = time.perf_counter()
    deadline = start + max_minutes * 60
    torch.manual_seed(seed)
    train_lines, dev_lines, heldout_lines, preprocessor = load(path)
    stream = token_stream(preprocessor, train_lines, unk_below)
    batches = batchify(stream, RECIPE["batch_size"])
    rows = heldout_rows(preprocessor, heldout_lines)
    dev_rows = None if dev_lines is None else heldout_rows(preprocessor, dev_lines)
    sizes = {k: RECIPE[k] for k in ("embedding_dim", "lstm_units", "dropout")}
    model = PeerLSTM(preprocessor.vocabulary_size(), tied=tied, **sizes)
    curve, best, best_state = [], None, None
    print(f"peer: {len(stream):,} training words, vocabulary {preprocessor.vocabulary_size():,}")
    for epoch in range(1, epochs + 1):
        began = time.perf_counter()
        trained, finished = train_epoch(
            model, batches, lr, RECIPE["bptt"], RECIPE["clip"], deadline=deadline
        )
        train_seconds = time.perf_counter() - began
        ppl, known, n, n_known = heldout_perplexity(model, rows)
        point = {
            "epoch": epoch,
            "seconds": time.perf_counter() - start,
            "val_perplexity": ppl,
            "val_perplexity_known": known,
            "lr": lr,
            "train_seconds": train_seconds,
            "tokens_per_second": trained / train_seconds if train_seconds else None,
        }
        if dev_rows is not None:
            point["dev_perplexity"] = heldout_perplexity(model, dev_rows)[0]
        if not finished:
            point["partial"] = trained / batches[1:].numel()
        curve.append(point)
        print(
            f"peer epoch {epoch}: held-out {ppl:.1f} (known {known:.1f}), lr {lr:g}, "
            f"{train_seconds:.0f} s training, {point['seconds']:.0f} s in all",
            flush=True,
        )
        # The rate and the kept weights follow the dev lines where there are any.
        watched = "val_perplexity" if dev_rows is None else "dev_perplexity"
        if best is None or point[watched] < best[watched]:
            best, best_state = point, copy.deepcopy(model.state_dict())
        else:
            lr /= 4
        if not finished or time.perf_counter() > deadline:
            break
    model.load_state_dict(best_state)
    full = [p["tokens_per_second"] for p in curve if "partial" not in p]
    settings = {**RECIPE, "tied": tied, "unk_below": unk_below, "epochs": epochs}
    settings["chosen_on"] = "held-out lines" if dev_rows is None else "dev lines"
    return {
        "settings": settings | {"max_minutes": max_minutes if math.isfinite(max_minutes) else None},
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocabulary": preprocessor.vocabulary_size(),
        "training_words": len(stream),
        "dev_lines": None if dev_rows is None else len(dev_rows[0]),
        "predictions": n,
        "known_predictions": n_known,
        "curve": curve,
        "best": best,
        "seconds": time.perf_counter() - start,
        # Eager PyTorch compiles nothing, but the first epoch warms its allocator.
        "tokens_per_second": statistics.median(full[1:] or full) if full else None,
        "model": model,
    }


class EpochClock(keras.callbacks.Callback):
    """Seconds from `start` to each epoch's end (its validation included), the held-out
    perplexity then, each epoch's training seconds (to its last step's end, waited
    for: JAX dispatches steps ahead) and when its training ended; `phases`: when the
    first step began and ended (its compilation included). With `max_minutes`, stops
    after the epoch that ends past it."""

    def __init__(self, start, max_minutes=math.inf):
        super().__init__()
        self.start, self.deadline = start, start + max_minutes * 60
        self.curve, self.phases, self.began, self.trained = [], {}, None, None

    def on_epoch_begin(self, epoch, logs=None):
        self.began, self.trained = time.perf_counter(), None

    def on_train_batch_begin(self, batch, logs=None):
        self.phases.setdefault("first_step_begins", time.perf_counter() - self.start)

    def on_train_batch_end(self, batch, logs=None):
        if "first_step_ends" not in self.phases and logs and "loss" in logs:
            float(logs["loss"])
            self.phases["first_step_ends"] = time.perf_counter() - self.start
        if batch + 1 == self.params.get("steps") and logs and "loss" in logs:
            float(logs["loss"])  # the epoch's last step, computed
            self.trained = time.perf_counter() - self.began

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        trained = self.trained if self.trained is not None else now - self.began
        self.curve.append(
            {
                "epoch": epoch + 1,
                "seconds": now - self.start,
                "val_perplexity": (logs or {}).get("val_perplexity"),
                "train_seconds": trained,
                "training_ends": self.began + trained - self.start,
            }
        )
        if now > self.deadline:
            self.model.stop_training = True


@torch.no_grad()
def score_ours(model, rows, batch_size=32):
    """`heldout_perplexity` for a `NextWordLSTM` (its logits), in small batches."""
    x, y, w = rows
    nll, targets = [], []
    for start in range(0, len(x), batch_size):
        real = w[start : start + batch_size] > 0
        length = max(int(real.sum(axis=1).max()), 1)  # rows are post-padded
        real = real[:, :length]
        logits = model.predict_on_batch(x[start : start + batch_size, :length].astype("int32"))
        log_p = keras.ops.convert_to_numpy(keras.ops.log_softmax(logits, axis=-1))[real]
        target = y[start : start + batch_size, :length][real]
        nll.append(-log_p[np.arange(len(target)), target])
        targets.append(target)
    nll, targets = np.concatenate(nll).astype(np.float64), np.concatenate(targets)
    known = targets != OOV_ID
    return math.exp(nll.mean()), math.exp(nll[known].mean())


def run_ours(path, max_minutes=math.inf, seed=0, words=None, settings=None):
    """`NextWordLSTM.from_text(path)` with its defaults, or `settings` (a dict of
    its arguments) instead of them; returns its curve and figures."""
    start = time.perf_counter()
    clock = EpochClock(start, max_minutes)
    kwargs = {**(settings or {}), "seed": seed, "verbose": 2, "callbacks": [clock]}
    if (
        math.isfinite(max_minutes)
        and "max_minutes" in inspect.signature(NextWordLSTM.from_text).parameters
    ):
        kwargs["max_minutes"] = max_minutes
    model = NextWordLSTM.from_text(path, **kwargs)
    seconds = time.perf_counter() - start
    heldout_lines = split(path)[2]
    ppl, known = score_ours(model, heldout_rows(model.preprocessor, heldout_lines))
    curve = [p for p in clock.curve if p["val_perplexity"] is not None]
    for point in curve:
        point["tokens_per_second"] = words / point["train_seconds"] if words else None
    rates = [p["tokens_per_second"] for p in curve[1:]]  # the first epoch compiles
    return {
        "call": "NextWordLSTM.from_text(path, "
        + ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "callbacks")
        + ")",
        "config": {k: v for k, v in model.get_config().items() if k != "preprocessor"},
        "parameters": model.count_params(),
        "phases": clock.phases,
        "curve": curve,
        "best": min(curve, key=lambda p: p["val_perplexity"]) if curve else None,
        "final_val_perplexity": ppl,
        "final_val_perplexity_known": known,
        "seconds": seconds,
        "tokens_per_second": statistics.median(rates) if rates and words else None,
    }


def time_to_reach(curve, perplexity):
    """Seconds to the end of the first epoch at or below `perplexity`, else None."""
    return next((p["seconds"] for p in curve if p["val_perplexity"] <= perplexity), None)


def compilation_cache(folder):
    """Keeps every JAX compilation in `folder` (None: no cache); returns what the
    results record of it, or None."""
    if not folder:
        return None
    import jax

    folder = Path(folder)
    entries = len(list(folder.iterdir())) if folder.is_dir() else 0
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return {"folder": str(folder), "entries_before": entries}


def machine():
    import jax

    return {
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "keras_backend": keras.config.backend(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "keras": keras.__version__,
            "jax": jax.__version__,
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="final-problem", help=f"{' | '.join(CORPORA)} | PATH")
    parser.add_argument("--epochs", type=int, default=40, help="the peer's most epochs")
    parser.add_argument("--max-minutes", type=float, default=math.inf, help="for each model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tied", action="store_true", help="the peer ties its output layer")
    parser.add_argument("--unk-below", type=int, default=2)
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--ours",
        type=json.loads,
        default={},
        help="`from_text` arguments instead of its choices, as JSON: '{\"batch_size\": 8}'",
    )
    parser.add_argument(
        "--compilation-cache", metavar="DIR", help="JAX's persistent compilation cache, for ours"
    )
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    cache = compilation_cache(args.compilation_cache)
    torch.set_num_threads(args.threads)
    path = corpus_path(args.corpus)
    load_before = os.getloadavg()
    peer = run_peer(path, args.epochs, args.max_minutes, args.seed, args.tied, args.unk_below)
    peer.pop("model")
    best = peer["best"]["val_perplexity"]
    print(
        f"peer best held-out {best:.1f} at {peer['best']['seconds']:.0f} s; {peer['tokens_per_second']:,.0f} tokens/s"
    )
    results = {"corpus": Path(path).name, "machine": machine(), "load_average_before": load_before}
    if cache:
        results["compilation_cache"] = cache
    results["peer"] = peer
    if not args.skip_ours:
        ours = run_ours(path, args.max_minutes, args.seed, peer["training_words"], args.ours)
        ours["seconds_to_peer_best"] = time_to_reach(ours["curve"], best)
        results["ours"] = ours
        reached = ours["seconds_to_peer_best"]
        print(
            f"ours best held-out {ours['best']['val_perplexity']:.1f}, final {ours['final_val_perplexity']:.1f} "
            f"(known {ours['final_val_perplexity_known']:.1f}), {ours['seconds']:.0f} s; "
            f"peer's best {'not reached' if reached is None else f'reached at {reached:.0f} s'}; "
            f"first step ends {ours['phases'].get('first_step_ends', math.nan):.1f} s after the call"
        )
    results["peer"]["seconds_to_peer_best"] = time_to_reach(peer["curve"], best)
    results["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    variant = "_tied" * args.tied + f"_threads{args.threads}" * (args.threads != 2)
    variant += "".join(f"_{name}_{value}" for name, value in args.ours.items())
    variant += f"_{'warm' if cache['entries_before'] else 'cold'}_cache" if cache else ""
    target = out / f"peer_{Path(path).stem}{variant}.json"
    target.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
