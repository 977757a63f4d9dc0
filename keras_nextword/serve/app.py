"""The Starlette app: the page at `/` and the JSON API under `/v1/`.

Suggestion requests that arrive while a batch is computing wait and go
together in the next one (`Batcher`): one compiled call for all of them, in
one worker thread, while the event loop keeps reading requests. Generation
runs in the same thread. Every error is JSON, `{"error": {"field",
"message"}}`; the server reads no path from a request.
"""

import asyncio
import concurrent.futures
import contextlib
import importlib.resources
import json

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from keras_nextword.generation.generate import generate as generate_words
from keras_nextword.generation.streaming import stream
from keras_nextword.serve.fields import (
    GENERATE_FIELDS,
    MAX_BODY_BYTES,
    SAMPLER_FIELDS,
    BadRequest,
    parse,
    suggest_fields,
)
from keras_nextword.serve.openapi import openapi
from keras_nextword.serve.state import MAX_K, Suggester
from keras_nextword.text.tokenizer import python_split_words


class Batcher:
    """Runs `Suggester.suggest` on every request waiting, in one worker thread.

    Args:
        suggester: a `Suggester`.
    """

    def __init__(self, suggester):
        self.suggester = suggester
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "keras-nextword-serve")
        self._pending = []
        self._draining = False

    async def suggest(self, text, k):
        """The `Suggester` result of one `(text, k)`, computed with the others waiting."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append(((text, k), future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self):
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                requests = [request for request, _ in batch]
                try:
                    results = await loop.run_in_executor(
                        self.executor, self.suggester.suggest, requests
                    )
                except Exception as error:  # each waiting request reports it
                    results = [error] * len(batch)
                for (_, future), result in zip(batch, results):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._draining = False

    async def run(self, function, *args):
        """`function(*args)` in the worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)


def _error(field, message, status):
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status)


async def _body(request):
    """The request's bytes, refused past `MAX_BODY_BYTES` (field `body`)."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise BadRequest("body", f"the body must be at most {MAX_BODY_BYTES} bytes", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest("body", f"the body must be at most {MAX_BODY_BYTES} bytes", 413)
    return body


def _sampler_options(values, vocabulary_size):
    """The `generate` keyword arguments of a checked `/v1/generate` request."""
    sampler = values["sampler"]
    for name in ("p", "k"):
        if values[name] is not None and name not in SAMPLER_FIELDS[sampler]:
            raise BadRequest(name, f"`{name}` does not apply to the {sampler!r} sampler")
    if values["k"] is not None and values["k"] > vocabulary_size:
        raise BadRequest("k", f"`k` must be at most the vocabulary size, {vocabulary_size}")
    if not python_split_words(values["prompt"]):
        raise BadRequest("prompt", "`prompt` has no words to continue")
    options = {name: values[name] for name in SAMPLER_FIELDS[sampler] if name != "seed"}
    return {name: value for name, value in options.items() if value is not None}


def create_app(model, figures=None, stateful=True):
    """The server's ASGI app for `model`.

    Args:
        model: a `NextWordLSTM` with an adapted preprocessor.
        figures: dict of training figures to show (e.g. the last epoch of
            `MODEL.history.json`), or None.
        stateful: bool; False encodes every text in full (a baseline).

    Returns:
        A `starlette.applications.Starlette` app; its lifespan compiles the
        suggestion calls before the first request.

    Example:
    >>> from starlette.testclient import TestClient
    >>> from keras_nextword import NGramVectorizer
    >>> vectorizer = NGramVectorizer()
    >>> vectorizer.adapt(["a heavy heart", "a light heart"])
    >>> model = NextWordLSTM.from_sizes(vectorizer.vocabulary_size(), 8, 8, preprocessor=vectorizer)
    >>> client = TestClient(create_app(model))  # `with` would compile every shape first
    >>> answer = client.post("/v1/suggest", json={"text": "a light he", "k": 3}).json()
    >>> sorted(s["word"] for s in answer["suggestions"]), answer["replace"]
    (['heart', 'heavy'], 2)
    >>> client.post("/v1/suggest", json={"text": "a", "k": 0}).json()
    {'error': {'field': 'k', 'message': '`k` value must be in [1, 20]'}}
    """
    suggester = Suggester(model, stateful=stateful)
    batcher = Batcher(suggester)
    suggest_spec = suggest_fields(MAX_K)
    page = importlib.resources.files(__package__).joinpath("page.html").read_text("utf-8")
    info = _model_info(model, figures)

    async def suggest(request):
        values = parse(await _body(request), suggest_spec)
        result = await batcher.suggest(values["text"], values["k"])
        replace = _typed_characters(values["text"]) if result["prefix"] else 0
        words = [{"word": w, "probability": p} for w, p in result["suggestions"]]
        return JSONResponse({**result, "suggestions": words, "replace": replace})

    generate = _generate_endpoint(model, batcher)

    async def describe(request):
        return JSONResponse(info)

    async def index(request):
        return HTMLResponse(page)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/v1/suggest", suggest, methods=["POST"]),
        Route("/v1/generate", generate, methods=["POST"]),
        Route("/v1/model", describe, methods=["GET"]),
    ]
    schema = openapi(routes, suggest_spec, GENERATE_FIELDS)
    routes.append(Route("/openapi.json", lambda request: JSONResponse(schema), methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.run(suggester.warm_up)
        yield
        batcher.executor.shutdown(wait=False)

    handlers = {
        BadRequest: lambda request, e: _error(e.field, e.message, e.status),
        HTTPException: lambda request, e: _error(None, e.detail, e.status_code),
    }
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


def _generate_endpoint(model, batcher):
    """`POST /v1/generate`: `generate` on the checked request, in the worker
    thread; streamed, one compiled step per word (`stream`), each word sent
    as soon as it is drawn."""

    async def generate(request):
        values = parse(await _body(request), GENERATE_FIELDS)
        options = _sampler_options(values, model.backbone.vocabulary_size)
        run = stream if values["stream"] else generate_words
        arguments = (model, values["prompt"], values["max_length"], values["sampler"])
        try:
            result = await batcher.run(lambda: run(*arguments, seed=values["seed"], **options))
        except ValueError as error:  # what the checks above let through, if anything
            raise BadRequest("prompt", str(error)) from None
        if not values["stream"]:
            return JSONResponse({"text": result, "words": result[len(values["prompt"]) :].split()})

        async def lines():
            while (word := await batcher.run(next, result, None)) is not None:
                yield json.dumps({"word": word}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return generate


def _typed_characters(text):
    """How many characters end `text` as the word being typed (what accepting
    a suggestion replaces): the trailing characters the tokenizer keeps."""
    end = len(text)
    while end and python_split_words(text[end - 1]):
        end -= 1
    return len(text) - end


def _model_info(model, figures):
    """`GET /v1/model`: the sizes, the training settings and figures."""
    settings = getattr(model, "training_settings", None)
    return {
        "vocabulary_size": int(model.backbone.vocabulary_size),
        "embedding_dim": int(model.backbone.embedding_dim),
        "lstm_units": int(model.backbone.lstm_units),
        "tie_weights": bool(model.backbone.tie_weights),
        "sequence_length": model.preprocessor.sequence_length,
        "max_k": MAX_K,
        "training_settings": json.loads(json.dumps(settings, default=str)),
        "figures": figures,
    }
