"""The JSON API's request fields: one table checks each request and writes the OpenAPI schema.

A request body is read with a size limit, decoded as strict UTF-8 and parsed
as a JSON object; each field is then checked against its `Field`. Every
failure is a `BadRequest` naming the field (`"body"` for the body itself), so
the server answers it with a 4xx, never a 500.
"""

import dataclasses
import json
import math

from keras_nextword.generation.samplers import SAMPLERS

MAX_BODY_BYTES = 256 * 1024
MAX_TEXT_CHARS = 20_000
MAX_NEW_WORDS = 500


class BadRequest(Exception):
    """A request the server refuses: `status`, the `field` at fault and a message."""

    def __init__(self, field, message, status=400):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


@dataclasses.dataclass(frozen=True)
class Field:
    """One request field: its JSON type, default and bounds.

    Args:
        kind: `"string"`, `"integer"`, `"number"` or `"boolean"`.
        description: str, for the OpenAPI schema.
        default: the value when the field is absent; `REQUIRED` makes it required.
        minimum, maximum: bounds of a number (inclusive), or of a string's length.
        exclusive_minimum: bool, `minimum` itself is refused.
        choices: tuple of the allowed values, or None.
        nullable: bool, `null` is allowed.
    """

    kind: str
    description: str
    default: object = None
    minimum: float = None
    maximum: float = None
    exclusive_minimum: bool = False
    choices: tuple = None
    nullable: bool = False

    def check(self, name, value):
        """Returns `value` if it is valid, else raises `BadRequest` naming `name`."""
        if value is None and self.nullable:
            return value
        types = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
        if not isinstance(value, types[self.kind]) or (
            isinstance(value, bool) and self.kind != "boolean"
        ):
            article = "an" if self.kind == "integer" else "a"
            raise BadRequest(name, f"`{name}` must be {article} {self.kind}")
        if self.kind == "number" and not math.isfinite(value):
            raise BadRequest(name, f"`{name}` must be a finite number")
        if self.choices is not None and value not in self.choices:
            raise BadRequest(name, f"`{name}` must be one of {list(self.choices)}")
        size = len(value) if self.kind == "string" else value
        if self.kind == "string" and not _encodable(value):
            raise BadRequest(name, f"`{name}` holds a lone surrogate, not text")
        too_low = self.minimum is not None and (
            size <= self.minimum if self.exclusive_minimum else size < self.minimum
        )
        if too_low or (self.maximum is not None and size > self.maximum):
            what = "length" if self.kind == "string" else "value"
            low = "(" if self.exclusive_minimum else "["
            raise BadRequest(
                name, f"`{name}` {what} must be in {low}{self.minimum}, {self.maximum}]"
            )
        return value

    def schema(self):
        """The field's JSON schema (OpenAPI 3.1)."""
        schema = {"type": [self.kind, "null"] if self.nullable else self.kind}
        schema["description"] = self.description
        if self.default is not REQUIRED:
            schema["default"] = self.default
        if self.choices is not None:
            schema["enum"] = list(self.choices)
        bounds = ("minLength", "maxLength") if self.kind == "string" else ("minimum", "maximum")
        if self.minimum is not None:
            key = "exclusiveMinimum" if self.exclusive_minimum else bounds[0]
            schema[key] = self.minimum
        if self.maximum is not None:
            schema[bounds[1]] = self.maximum
        return schema


REQUIRED = object()


def _encodable(text):
    """Whether `text` is valid Unicode (JSON's `\\ud800` escapes make lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def suggest_fields(max_k):
    """`POST /v1/suggest`'s fields."""
    return {
        "text": Field(
            "string",
            "the text typed so far: ending in a space asks for the next word, else the "
            "word being typed is completed",
            REQUIRED,
            maximum=MAX_TEXT_CHARS,
        ),
        "k": Field("integer", "the most suggestions", 5, minimum=1, maximum=max_k),
    }


GENERATE_FIELDS = {
    "prompt": Field("string", "the text to continue", REQUIRED, maximum=MAX_TEXT_CHARS),
    "max_length": Field("integer", "new words", 10, minimum=0, maximum=MAX_NEW_WORDS),
    "sampler": Field("string", "how each word is chosen", "greedy", choices=tuple(SAMPLERS)),
    "temperature": Field(
        "number", "logits divided by it", 1.0, minimum=0, exclusive_minimum=True, maximum=100
    ),
    "p": Field(
        "number", "top_p's probability mass", None, minimum=0, exclusive_minimum=True, maximum=1
    ),
    "k": Field("integer", "top_k's (and top_p's) cut-off", None, minimum=1, maximum=100_000),
    "seed": Field(
        "integer", "seeds the sampler", None, minimum=0, maximum=2**31 - 1, nullable=True
    ),
    "stream": Field("boolean", "newline-delimited JSON, one line per word", False),
}
# The fields each sampler reads beyond `prompt`, `max_length`, `sampler` and `stream`.
SAMPLER_FIELDS = {
    "greedy": ("temperature",),
    "random": ("temperature", "seed"),
    "top_k": ("temperature", "seed", "k"),
    "top_p": ("temperature", "seed", "p", "k"),
    "beam": ("temperature",),
}


def parse(body, fields):
    """Checks a request body against `fields`.

    Args:
        body: bytes.
        fields: dict of name -> `Field`.

    Returns:
        A dict with every field: its value, or its default when absent.

    Raises:
        BadRequest: bytes that are not UTF-8 or not a JSON object (field
            `"body"`), an unknown field, a missing or invalid one.

    Example:
    >>> parse(b'{"text": "It is with a "}', suggest_fields(20))
    {'text': 'It is with a ', 'k': 5}
    >>> parse(b'{"text": "a", "k": 0}', suggest_fields(20))
    Traceback (most recent call last):
    keras_nextword.serve.fields.BadRequest: `k` value must be in [1, 20]
    """
    try:
        request = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise BadRequest("body", f"the body is not UTF-8: {error.reason}") from None
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise BadRequest("body", f"the body is not JSON: {error}") from None
    if not isinstance(request, dict):
        raise BadRequest("body", "the body must be a JSON object")
    for name in request:
        if name not in fields:
            raise BadRequest(str(name)[:100], f"unknown field; the fields are {list(fields)}")
    values = {}
    for name, field in fields.items():
        if name not in request:
            if field.default is REQUIRED:
                raise BadRequest(name, f"`{name}` is required")
            values[name] = field.default
        else:
            values[name] = field.check(name, request[name])
    return values


def request_schema(fields):
    """The JSON schema of a request body made of `fields`."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [name for name, field in fields.items() if field.default is REQUIRED],
        "properties": {name: field.schema() for name, field in fields.items()},
    }
