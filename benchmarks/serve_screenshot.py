"""The docs' screenshot of `keras-nextword serve`'s page (docs/serve.png), in headless Chromium.

    KERAS_BACKEND=jax python benchmarks/serve_screenshot.py [--model model.keras]
        [--epochs 20] [--out docs/serve.png]

The model is `from_text`'s defaults on The Final Problem trained `--epochs` epochs (seed
0), or `--model`. The server runs in a thread on 127.0.0.1; Chromium types a sentence of
the story and the screenshot is taken once the suggestions complete its last word.
"""

import argparse
import shutil
import threading
import time
from pathlib import Path

TYPED = "It is with a heavy heart that I take up my pen to write these the last words in wh"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "serve.png"))
    args = parser.parse_args()

    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from keras_nextword import NextWordLSTM
    from keras_nextword.io import saving
    from keras_nextword.serve.app import create_app
    from keras_nextword.text import datasets

    if args.model:
        model = saving.load_model(args.model)
    else:
        model = NextWordLSTM.from_text(
            datasets.load_final_problem(), epochs=args.epochs, seed=0, verbose=0
        )
    history = getattr(model, "history", None)
    figures = None
    if history is not None and history.history:
        figures = {name: float(values[-1]) for name, values in history.history.items()}
    server = uvicorn.Server(
        uvicorn.Config(create_app(model, figures), host="127.0.0.1", port=0, log_level="error")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    port = server.servers[0].sockets[0].getsockname()[1]

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--window-size=900,720"):
        options.add_argument(argument)
    service = webdriver.ChromeService(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "text").send_keys(TYPED)
        WebDriverWait(driver, 30).until(
            lambda d: (
                [w.text for w in d.find_elements(By.CSS_SELECTOR, "#suggestions .word")][:1]
                and d.find_element(By.CSS_SELECTOR, "#suggestions .word").text.startswith("wh")
                and d.find_element(By.ID, "model").text
            )
        )
        driver.save_screenshot(args.out)
    finally:
        driver.quit()
        server.should_exit = True
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
