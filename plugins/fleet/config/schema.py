"""The fleet config's JSON Schema (fleet/schemas/fleet.schema.json) and its errors in a person's words.

jsonschema finds what is wrong; this module says where (the key path, so the line can be found)
and what was expected, from the schema's own ``errorMessage`` (the keyword VS Code and
yaml-language-server show for the same mistake) or from the failing keyword.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from fleet.config.problems import Problems

SCHEMA_FILE = "fleet.schema.json"
# Keywords whose sub-schema describes a value below the current one (a new key path).
_INTO_VALUE = {"properties": 2, "patternProperties": 2, "prefixItems": 2, "items": 1, "additionalProperties": 1,
               "propertyNames": 1}
# Keywords whose sub-schema describes the same value.
_SAME_VALUE = {"anyOf": 2, "oneOf": 2, "allOf": 2, "not": 1, "if": 1, "then": 1, "else": 1,
               "dependentSchemas": 2}
# Keywords whose problem reads "<what was expected>, got <the value>".
_SHOW_VALUE = {"type", "pattern", "const", "not", "anyOf", "oneOf", "minimum", "maximum", "exclusiveMinimum",
               "exclusiveMaximum"}
_NOUNS = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
          "number": "a number", "boolean": "true or false", "null": "nothing"}


@cache
def fleet_schema() -> dict:
    """The published schema, as shipped in the fleet package."""
    return json.loads((resources.files("fleet") / "schemas" / SCHEMA_FILE).read_text(encoding="utf-8"))


@cache
def _validator(definition: str | None) -> Draft202012Validator:
    schema = fleet_schema()
    if definition is not None:  # one $defs entry, with the others it may refer to
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return Draft202012Validator(schema)


def check(data: Any, problems: Problems, definition: str | None = None, prefix: str = "") -> None:
    """Add a problem to ``problems`` for everything in ``data`` the schema refuses (the whole
    document, or the ``$defs`` entry ``definition``); ``prefix`` is the key path of ``data``."""
    validator = _validator(definition)
    for error in validator.iter_errors(data):
        for key, expected in _explain(error, validator.schema, prefix):
            problems.add(key, expected)


def _explain(error: ValidationError, root: dict, prefix: str) -> Iterator[tuple[str, str]]:
    keyword, value, schema = error.validator, error.instance, error.schema
    key = _key(prefix, error.absolute_path)
    if keyword == "required":
        for name in error.validator_value:
            if isinstance(value, dict) and name not in value:
                yield _join(key, name), f"{_noun(schema.get('properties', {}).get(name, {}))} (missing)"
        return
    if keyword == "additionalProperties" and schema.get("additionalProperties") is False:
        known = sorted(schema.get("properties", {}))
        for name in value:
            if name not in known:
                yield _join(key, name), f"one of the known keys {known}"
        return
    message = _message(error, root)
    if keyword in ("anyOf", "oneOf") and not message and error.context:
        yield from _explain(best_match(error.context), root, prefix)
        return
    if "propertyNames" in error.absolute_schema_path:
        yield _join(key, value), message or f"a key ({error.message})"
        return
    noun = message or _noun(schema)
    if value is None:
        yield key, f"{noun} (missing)"
    elif keyword == "enum":
        yield key, f"{_choices(error.validator_value)}, got {value!r}"
    elif keyword == "minItems":
        item = _noun(schema.get("items", {}))
        item = item.split(" ", 1)[1] if item.startswith(("a ", "an ")) else item
        yield key, f"at least {'one' if error.validator_value == 1 else error.validator_value} {item}"
    elif keyword in ("minLength", "maxLength"):
        yield key, noun
    elif keyword in ("maxItems", "maxProperties"):  # the count, not the (possibly huge) value
        what = message or schema.get("errorMessage") or f"at most {error.validator_value} {'items' if keyword == 'maxItems' else 'keys'}"
        yield key, f"{what}, got {len(value)}"
    elif keyword in _SHOW_VALUE:
        yield key, f"{noun}, got {_shown(value)}"
    else:  # jsonschema's message quotes the value whole: a bounded excerpt of it
        yield key, f"{noun} ({_bounded(error.message)})"


def _message(error: ValidationError, root: dict) -> str | None:
    """The ``errorMessage`` nearest the failing keyword, for the same value: the schema that names
    the value (``{"$ref": "#/$defs/name", "errorMessage": "an account name"}``) wins over the one
    it refers to; a schema of the enclosing mapping or list does not count."""
    node: Any = root
    found = node.get("errorMessage")
    path = list(error.absolute_schema_path)[:-1]  # the last step is the failing keyword itself
    i = 0
    while i < len(path) and isinstance(node, dict):
        step = path[i]
        while step not in node and "$ref" in node:  # jsonschema's path leaves out the $ref it followed
            node = _resolve(node["$ref"])
        if step in _INTO_VALUE or step in _SAME_VALUE:
            width = _INTO_VALUE.get(step) or _SAME_VALUE[step]
            node = node[step] if width == 1 else node[step][path[i + 1]]
            i += width
            if step in _INTO_VALUE:
                found = None
        else:
            break
        if found is None and isinstance(node, dict):
            found = node.get("errorMessage")
    return found


def _resolve(ref: str) -> dict:
    """A reference within the fleet schema: ``#/$defs/x``."""
    node: Any = fleet_schema()
    for part in ref.split("#", 1)[1].strip("/").split("/"):
        if part:
            node = node[part]
    return node


def _noun(schema: dict) -> str:
    """What a value of ``schema`` is, in words: its errorMessage, else its type (with bounds)."""
    while "errorMessage" not in schema and "$ref" in schema:
        schema = _resolve(schema["$ref"])
    if "errorMessage" in schema:
        return schema["errorMessage"]
    if "enum" in schema:
        return _choices(schema["enum"])
    types = schema.get("type", [])
    types = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
    if types == ["integer"]:
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        if low is not None or high is not None:
            return f"a whole number at {'least' if low is not None else 'most'} {low if low is not None else high}"
    return " or ".join(_NOUNS.get(t, t) for t in types) or "a value"


def _choices(values: list) -> str:
    if len(values) == 2:
        return f"{values[0]} or {values[1]}"
    return f"one of {values}"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _key(prefix: str, path) -> str:
    key = prefix
    for part in path:
        key = f"{key}[{part}]" if isinstance(part, int) else _join(key, part)
    return key


def _join(key: str, name: Any) -> str:
    return f"{key}.{name}" if key else str(name)


def _bounded(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
