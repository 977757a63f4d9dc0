"""`keras-nextword serve`: the JSON API on a live server, and the page in headless Chromium."""

import json
import shutil
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn

from keras_nextword.cli import main as cli
from keras_nextword.generation import generate as generation
from keras_nextword.generation.suggest import suggest
from keras_nextword.serve.app import create_app
from keras_nextword.serve.state import StateCache, Suggester

pytestmark = pytest.mark.backend("jax")  # HTTP and state handling, the same on every backend

TEXT = "It is with a heavy heart that I take up my pen to write these the last words"


@pytest.fixture(scope="module")
def server(small_model):
    """A live uvicorn server on 127.0.0.1 (a free port), in a thread."""
    config = uvicorn.Config(create_app(small_model), host="127.0.0.1", port=0, log_level="error")
    live = uvicorn.Server(config)
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not live.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.started
    port = live.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        yield client
    live.should_exit = True
    thread.join(30)


def typed(text):
    """Every keystroke's text, as a keyboard client sends it."""
    return [text[:i] for i in range(1, len(text) + 1)]


def test_each_keystroke_reuses_the_state_and_suggests_as_a_fresh_encode(server, small_model):
    fresh = Suggester(small_model, stateful=False)
    answers = [server.post("/v1/suggest", json={"text": t, "k": 5}).json() for t in typed(TEXT)]
    expected = fresh.suggest([(t, 5) for t in typed(TEXT)])
    for answer, want in zip(answers, expected):
        assert [s["word"] for s in answer["suggestions"]] == [w for w, _ in want["suggestions"]]
        np.testing.assert_allclose(
            [s["probability"] for s in answer["suggestions"]],
            [p for _, p in want["suggestions"]],
            rtol=1e-4,
        )
        assert answer["words"] == want["words"]
    # Past the first word, every keystroke starts from a cached state: all its
    # complete words but at most the one just finished.
    assert all(a["reused"] >= a["words"] - 1 for a in answers[3:])
    assert sum(a["reused"] for a in answers) > 0.9 * sum(a["words"] for a in answers)


def test_suggestions_match_suggest_within_the_sequence_length(server, small_model):
    for text in ("It is with a hea", "Sherlock ", "the singular gifts by which my fr"):
        answer = server.post("/v1/suggest", json={"text": text, "k": 5}).json()
        want = suggest(small_model, text, k=5)
        assert [s["word"] for s in answer["suggestions"]] == [w for w, _ in want]
        np.testing.assert_allclose(
            [s["probability"] for s in answer["suggestions"]], [p for _, p in want], rtol=1e-4
        )


def test_the_whole_text_is_the_context_and_an_edit_encodes_it_again(server, small_model):
    long = " ".join([TEXT] * 4) + " "  # 4 x 18 words, past the sequence length of 16
    first = server.post("/v1/suggest", json={"text": long}).json()
    assert first["words"] == 72 and small_model.preprocessor.sequence_length < 72
    edited = "And" + long[2:]  # the first word changed: no cached state applies
    answer = server.post("/v1/suggest", json={"text": edited}).json()
    assert answer["reused"] == 0
    fresh = Suggester(small_model, stateful=False).suggest([(edited, 5)])[0]
    assert [s["word"] for s in answer["suggestions"]] == [w for w, _ in fresh["suggestions"]]
    cut = Suggester(small_model, stateful=False).suggest([(" ".join(edited.split()[-16:]), 5)])
    assert fresh["suggestions"] != cut[0]["suggestions"]  # the words before count


def test_accepting_replaces_the_typed_characters(server):
    answer = server.post("/v1/suggest", json={"text": "Mr. Sherlock Hol"}).json()
    assert (answer["prefix"], answer["replace"]) == ("hol", 3)
    assert server.post("/v1/suggest", json={"text": "Mr. Sherlock "}).json()["replace"] == 0


BAD = [
    ("/v1/suggest", b'{"text": "' + b"a" * 20_001 + b'"}', "text", 400),
    ("/v1/suggest", b"x" * 300_000, "body", 413),
    ("/v1/suggest", b'{"text": "a", "k": 0}', "k", 400),
    ("/v1/suggest", b'{"text": "a", "k": 21}', "k", 400),
    ("/v1/suggest", b'{"text": "a", "k": "5"}', "k", 400),
    ("/v1/suggest", b'{"text": "a", "k": true}', "k", 400),
    ("/v1/suggest", b'{"text": 3}', "text", 400),
    ("/v1/suggest", b'{"text": "\\ud800"}', "text", 400),
    ("/v1/suggest", b"{}", "text", 400),
    ("/v1/suggest", b'{"text": "a", "path": "/etc/passwd"}', "path", 400),
    ("/v1/suggest", b'{"text": "a"', "body", 400),
    ("/v1/suggest", b'["a"]', "body", 400),
    ("/v1/suggest", b'{"text": "caf\xe9"}', "body", 400),
    ("/v1/generate", b'{"prompt": "a", "sampler": "nucleus"}', "sampler", 400),
    ("/v1/generate", b'{"prompt": "a", "sampler": "top_p", "p": 1.5}', "p", 400),
    ("/v1/generate", b'{"prompt": "a", "sampler": "greedy", "k": 5}', "k", 400),
    ("/v1/generate", b'{"prompt": "a", "temperature": 0}', "temperature", 400),
    ("/v1/generate", b'{"prompt": "a", "max_length": 501}', "max_length", 400),
    ("/v1/generate", b'{"prompt": "a", "seed": -1}', "seed", 400),
    ("/v1/generate", b'{"prompt": "..."}', "prompt", 400),
    ("/v1/suggest", b"[" * 100_000, "body", 400),
    ("/v1/generate", b'{"prompt": "a", "sampler": "top_p", "p": NaN}', "p", 400),
    ("/v1/generate", b'{"prompt": "a", "sampler": "top_k", "k": 100000}', "k", 400),
]


@pytest.mark.parametrize(
    "path, body, field, status", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)]
)
def test_a_bad_request_is_a_4xx_naming_the_field_and_the_server_goes_on(
    server, path, body, field, status
):
    response = server.post(path, content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]["field"]) == (status, field)
    assert server.post("/v1/suggest", json={"text": "It is "}).status_code == 200


def test_generate_as_generate_and_streamed_word_by_word(server, small_model):
    request = {"prompt": "It is with a", "max_length": 6, "sampler": "top_k", "k": 5, "seed": 3}
    answer = server.post("/v1/generate", json=request).json()
    assert answer["text"] == generation.generate(
        small_model, "It is with a", max_length=6, sampler="top_k", k=5, seed=3
    )
    streamed = server.post("/v1/generate", json={**request, "stream": True})
    assert streamed.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line)["word"] for line in streamed.text.splitlines()] == answer["words"]
    assert len(answer["words"]) == 6


def test_model_info_and_openapi_document_the_routes(server, small_model):
    info = server.get("/v1/model").json()
    assert info["vocabulary_size"] == small_model.backbone.vocabulary_size
    assert info["training_settings"]["epochs"] == 2
    document = server.get("/openapi.json").json()
    assert set(document["paths"]) == {"/", "/v1/suggest", "/v1/generate", "/v1/model"}
    body = document["paths"]["/v1/suggest"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["required"] == ["text"]
    assert server.get("/v1/suggest").status_code == 405


def test_the_state_cache_forgets_expired_and_least_used_states():
    cache = StateCache(max_entries=2, ttl=0.05)
    cache.put(b"a", 1)
    cache.put(b"b", 2)
    cache.get(b"a")
    cache.put(b"c", 3)  # b is the least recently used
    assert (cache.get(b"a"), cache.get(b"b"), cache.get(b"c")) == (1, None, 3)
    time.sleep(0.1)
    cache.put(b"d", 4)
    assert len(cache) == 1


def test_the_command_serves_the_model_with_its_figures_on_loopback(
    monkeypatch, small_model, tmp_path
):
    from starlette.testclient import TestClient

    path = tmp_path / "model.keras"
    small_model.save(path)
    (tmp_path / "model.history.json").write_text('{"loss": [6.0, 5.5], "perplexity": [400, 250]}')
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    assert cli.main(["serve", str(path)]) == 0
    assert (started["host"], started["port"]) == ("127.0.0.1", 8000)
    info = TestClient(started["app"]).get("/v1/model").json()
    assert info["figures"] == {"loss": 5.5, "perplexity": 250.0}


def test_serve_without_the_extra_names_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "uvicorn", None)  # import fails
    with pytest.raises(SystemExit) as exit:
        cli.main(["serve", str(tmp_path / "model.keras")])
    assert exit.value.code == 2
    assert 'pip install "keras-nextword[serve]"' in capsys.readouterr().err


def test_the_page_suggests_as_you_type_and_tab_accepts(server):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    service = webdriver.ChromeService(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(str(server.base_url))
        box = driver.find_element(By.ID, "text")
        box.send_keys("Mr. Sherlock Hol")
        wait = WebDriverWait(driver, 30)
        words = wait.until(lambda d: _suggested(d, "hol"))
        assert words and all(word.startswith("hol") for word in words)
        box.send_keys(Keys.TAB)
        wait.until(lambda d: box.get_attribute("value") != "Mr. Sherlock Hol")
        assert box.get_attribute("value") == f"Mr. Sherlock {words[0]} "
        assert "vocabulary" in wait.until(lambda d: d.find_element(By.ID, "model").text)
    finally:
        driver.quit()


def _suggested(driver, prefix):
    """The page's suggested words once they complete `prefix`, else None."""
    from selenium.webdriver.common.by import By

    words = [w.text for w in driver.find_elements(By.CSS_SELECTOR, "#suggestions .word")]
    return words if words and words[0].startswith(prefix) else None
