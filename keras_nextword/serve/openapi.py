"""`GET /openapi.json`: the API's OpenAPI 3.1 document, from the app's routes and field tables.

The request schemas are `keras_nextword.serve.fields`' tables, the same ones
that check each request, so the document cannot drift from what the server
accepts; the paths are the app's routes.
"""

from keras_nextword.serve.fields import request_schema

_ERROR = {
    "description": "a refused request; `field` names what is wrong (`body` for the body)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "field": {"type": ["string", "null"]},
                            "message": {"type": "string"},
                        },
                    }
                },
            }
        }
    },
}

_SUMMARIES = {
    ("/", "get"): ("the page: suggestions as you type", "text/html"),
    ("/v1/suggest", "post"): ("the top words after a text, as a keyboard shows them", None),
    ("/v1/generate", "post"): (
        "continues a prompt; with `stream`, newline-delimited JSON, one `{word}` a line",
        None,
    ),
    ("/v1/model", "get"): ("the model's sizes, training settings and figures", None),
}


def openapi(routes, suggest_fields, generate_fields):
    """The OpenAPI document of `routes`.

    Args:
        routes: list of `starlette.routing.Route`.
        suggest_fields: the `Field` table of `/v1/suggest`.
        generate_fields: the `Field` table of `/v1/generate`.

    Returns:
        A dict, the JSON document.

    Example:
    >>> from starlette.routing import Route
    >>> document = openapi([Route("/v1/model", None, methods=["GET"])], {}, {})
    >>> list(document["paths"])
    ['/v1/model']
    """
    bodies = {"/v1/suggest": suggest_fields, "/v1/generate": generate_fields}
    paths = {}
    for route in routes:
        for method in sorted(route.methods - {"HEAD"}):
            method = method.lower()
            summary, media = _SUMMARIES[route.path, method]
            operation = {
                "summary": summary,
                "responses": {
                    "200": {"description": "OK", "content": {media or "application/json": {}}}
                },
            }
            if route.path in bodies:
                schema = request_schema(bodies[route.path])
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                }
                operation["responses"]["4XX"] = _ERROR
            paths.setdefault(route.path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "keras-nextword serve", "version": "1"},
        "paths": paths,
    }
