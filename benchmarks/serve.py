"""`keras-nextword serve` on loopback: keystroke latency stateful against re-encoding, 32
concurrent clients, and the server's memory over 10,000 requests, in one run.

    KERAS_BACKEND=jax python benchmarks/serve.py [--model model.keras] [--epochs 5]
        [--out benchmarks/results]

The model is `from_text`'s default sizes on The Final Problem trained `--epochs` epochs
(seed 0), or `--model`. Each server is a subprocess on 127.0.0.1 (`create_app`, uvicorn),
started by this script, one at a time; its compile happens before it listens. The client
is a minimal asyncio HTTP/1.1 client with keep-alive connections (what a browser keeps),
so the figures are the server's, not a client library's.

- keystroke: one client types a 300-word text of the corpus letter by letter, sending the
  whole text on every keystroke (about 1,700 requests); round-trip p50/p99, against the
  stateful server and against the same server with its state off (every request encodes
  the whole text again; the context is the whole text in both).
- concurrent: 32 clients, each typing its own 300-word text letter by letter, 150
  keystrokes each (4,800 requests); suggestions/s, p50/p99, errors.
- memory: the server's RSS after a warm-up of 500 requests and after 10,000 more, from 16
  clients sending texts of 1 to 300 random corpus words (each a new text: the state cache
  fills to its bound).
Writes `serve.json`. The machine's load average is recorded before and after.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SERVER = """
import sys, uvicorn
from keras_nextword.io import saving
from keras_nextword.serve.app import create_app
app = create_app(saving.load_model(sys.argv[1]), stateful=sys.argv[3] == "1")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error")
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_path, stateful):
    """A server subprocess and its port, once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(model_path), str(port), "1" if stateful else "0"]
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the server exited") from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start in 300 s")


class Connection:
    """One keep-alive HTTP/1.1 connection posting JSON."""

    async def open(self, port):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        return self

    async def post(self, path, payload):
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self):
        self.writer.close()


def keystrokes(words):
    text = " ".join(words) + " "
    return [text[:i] for i in range(1, len(text) + 1)]


async def type_text(port, texts, latencies, errors):
    connection = await Connection().open(port)
    for text in texts:
        start = time.perf_counter()
        status, _ = await connection.post("/v1/suggest", {"text": text, "k": 5})
        latencies.append(time.perf_counter() - start)
        errors[0] += status != 200
    connection.close()


def summary(latencies, errors, seconds):
    ms = 1e3 * np.array(latencies)
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        "requests_per_s": round(len(latencies) / seconds, 1),
    }


async def clients(port, scripts):
    latencies, errors = [], [0]
    start = time.perf_counter()
    await asyncio.gather(*(type_text(port, s, latencies, errors) for s in scripts))
    return summary(latencies, errors[0], time.perf_counter() - start)


def stack():
    """The versions of the server's stack; uvicorn picks httptools and uvloop when present."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("starlette", "uvicorn", "httptools", "uvloop"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def model_path(args, folder):
    if args.model:
        return args.model
    from keras_nextword import NextWordLSTM
    from keras_nextword.text import datasets

    model = NextWordLSTM.from_text(
        datasets.load_final_problem(), epochs=args.epochs, seed=0, verbose=0
    )
    path = Path(folder) / "model.keras"
    model.save(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    from keras_nextword.io import saving
    from keras_nextword.text import data, datasets
    from keras_nextword.text.ngram_vectorizer import python_split_words

    words = python_split_words(" ".join(data.read_lines(datasets.load_final_problem())))
    load = {"before": os.getloadavg()}
    results = {"cpus": os.cpu_count(), "python": platform.python_version(), **stack()}
    with tempfile.TemporaryDirectory() as folder:
        path = model_path(args, folder)
        model = saving.load_model(path)
        results["model"] = {
            "path": str(args.model or "from_text, The Final Problem"),
            "epochs": None if args.model else args.epochs,
            "vocabulary_size": int(model.backbone.vocabulary_size),
            "embedding_dim": int(model.backbone.embedding_dim),
            "lstm_units": int(model.backbone.lstm_units),
        }
        text = keystrokes(words[1000:1300])
        for name, stateful in (("reencoding", False), ("stateful", True)):
            process, port = start_server(path, stateful)
            try:
                asyncio.run(clients(port, [text[:50]]))  # warm-up
                results[f"keystroke_{name}"] = asyncio.run(clients(port, [text]))
                if stateful:
                    starts = [(300 * i) % (len(words) - 300) for i in range(32)]
                    scripts = [keystrokes(words[j : j + 300])[:150] for j in starts]
                    results["concurrent_32"] = asyncio.run(clients(port, scripts))
                    results["memory"] = memory(port, process.pid, words)
            finally:
                process.terminate()
                process.wait(30)
    load["after"] = os.getloadavg()
    results["load_average"] = load
    print(json.dumps(results, indent=1))
    out = Path(args.out) / "serve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"Wrote {out}")


def memory(port, pid, words):
    """RSS after 500 warm-up requests, and after 10,000 more, from 16 clients."""
    rng = random.Random(0)

    def texts(n):
        return [" ".join(rng.choices(words, k=rng.randint(1, 300))) for _ in range(n)]

    asyncio.run(clients(port, [texts(500 // 16) for _ in range(16)]))
    before = rss_mb(pid)
    run = asyncio.run(clients(port, [texts(10_000 // 16 + 1) for _ in range(16)]))
    after = rss_mb(pid)
    return {
        **run,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "rss_growth_mb": round(after - before, 1),
    }


if __name__ == "__main__":
    main()
