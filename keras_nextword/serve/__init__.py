"""`keras-nextword serve`: a page with suggestions as you type, and a JSON API.

Needs the `serve` extra (`pip install "keras-nextword[serve]"`: Starlette and
uvicorn). `create_app(model)` is the ASGI app; `state` keeps the LSTM state
per text, so each keystroke feeds only its new words; `fields` checks the
requests; `command` is the command line's body. Nothing else in the package
imports this subpackage but the command line.
"""
