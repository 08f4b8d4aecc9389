"""A small Joi look-alike for request bodies.

The upstream validates with Joi and answers 400 with the detail messages joined by `; `
(UPSTREAM.md §2). Clients, and the portal's error mapping, see those exact strings, so this module
reproduces Joi's wording for the rules the sandbox needs and nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portal.sandbox.errors import bad_request
from portal.sandbox.store import JsonObject

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Field:
    kind: str = "any"  # string | integer | number | boolean | object | array | email | any
    required: bool = False
    nullable: bool = False
    allow_empty: bool = True
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    min_length: int | None = None
    choices: tuple[str, ...] | None = None
    schema: dict[str, Field] | None = None  # object keys; None means any keys
    items: Field | None = None  # array items


MESSAGE_TYPES = (
    "user",
    "bot",
    "reasoning",
    "context",
    "instruction",
    "backstory",
    "activity",
    "checkpoint",
)
STRING = Field("string")
OBJECT = Field("object")
ANY = Field("any")
NULLABLE_STRING = Field("string", nullable=True)


def validate(body: Any, schema: dict[str, Field]) -> JsonObject:
    """Check `body` against `schema`; raise a 400 with every problem, else return it."""
    problems: list[str] = []
    _check(body, Field("object", schema=schema), "value", problems)
    if problems:
        raise bad_request("; ".join(problems))
    result: JsonObject = body
    return result


def _type_error(value: Any, spec: Field) -> str | None:
    # bool is an int in Python; Joi keeps them apart, so check it first.
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    checks: dict[str, tuple[bool, str]] = {
        "string": (isinstance(value, str), "must be a string"),
        "email": (isinstance(value, str), "must be a string"),
        "integer": (is_number, "must be a number"),
        "number": (is_number, "must be a number"),
        "boolean": (isinstance(value, bool), "must be a boolean"),
        "object": (isinstance(value, dict), "must be of type object"),
        "array": (isinstance(value, list), "must be an array"),
    }
    ok, message = checks.get(spec.kind, (True, ""))
    return None if ok else message


def _check(value: Any, spec: Field, label: str, problems: list[str]) -> None:
    quoted = f'"{label}"'
    if value is None:
        if not spec.nullable and spec.kind != "any":
            problems.append(f"{quoted} {_type_error(object(), spec) or 'must not be null'}")
        return
    type_error = _type_error(value, spec)
    if type_error:
        problems.append(f"{quoted} {type_error}")
        return
    if spec.kind in ("string", "email"):
        _check_string(value, spec, quoted, problems)
    elif spec.kind in ("integer", "number"):
        _check_number(value, spec, quoted, problems)
    elif spec.kind == "object" and spec.schema is not None:
        prefix = "" if label == "value" else f"{label}."
        for key in value:
            if key not in spec.schema:
                problems.append(f'"{prefix}{key}" is not allowed')
        for key, child in spec.schema.items():
            if key in value:
                _check(value[key], child, f"{prefix}{key}", problems)
            elif child.required:
                problems.append(f'"{prefix}{key}" is required')
    elif spec.kind == "array":
        if spec.min_length is not None and len(value) < spec.min_length:
            problems.append(f"{quoted} must contain at least {spec.min_length} items")
        if spec.items is not None:
            for index, item in enumerate(value):
                _check(item, spec.items, f"{label}[{index}]", problems)


def _check_string(value: str, spec: Field, quoted: str, problems: list[str]) -> None:
    if value == "" and not spec.allow_empty:
        problems.append(f"{quoted} is not allowed to be empty")
    elif spec.kind == "email" and value and not _EMAIL.match(value):
        problems.append(f"{quoted} must be a valid email")
    elif spec.min_length is not None and len(value) < spec.min_length:
        problems.append(f"{quoted} length must be at least {spec.min_length} characters long")
    elif spec.choices is not None and value not in spec.choices:
        problems.append(f"{quoted} must be one of [{', '.join(spec.choices)}]")


def _check_number(value: float, spec: Field, quoted: str, problems: list[str]) -> None:
    if spec.kind == "integer" and value != int(value):
        problems.append(f"{quoted} must be an integer")
    elif spec.positive and value <= 0:
        problems.append(f"{quoted} must be a positive number")
    elif spec.minimum is not None and value < spec.minimum:
        problems.append(f"{quoted} must be greater than or equal to {spec.minimum:g}")
    elif spec.maximum is not None and value > spec.maximum:
        problems.append(f"{quoted} must be less than or equal to {spec.maximum:g}")


# Shapes reused by several modules.
LIMITS = Field(
    "object",
    nullable=True,
    schema={
        "tokens": Field("number", minimum=0),
        "conversations": Field("number", minimum=0),
        "messages": Field("number", minimum=0),
        "database": Field(
            "object",
            schema={
                name: Field("number", minimum=0)
                for name in ("datasets", "records", "skillsets", "abilities", "files", "bots")
            },
        ),
        "file": Field("object", schema={"maxFileSize": Field("number", minimum=0)}),
        "attachment": Field("object", schema={"maxFileSize": Field("number", minimum=0)}),
    },
)
MESSAGE = Field(
    "object",
    schema={
        "type": Field("string", required=True, choices=MESSAGE_TYPES),
        "text": Field("string", required=True),
        "meta": OBJECT,
        "entities": Field("array"),
    },
)
