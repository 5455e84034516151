"""A JSON Schema (2020-12) validator for the keywords values.schema.json uses, and no others.

The `jsonschema` package costs more to import (about 0.14 s) than everything
else `cricksy-gen check` does before rendering, so the generator validates with
this instead; tests/generator/test_schema.py checks the schema file against the
official metaschema and this validator against `jsonschema` on many inputs. A
schema keyword not listed here is refused, never silently ignored. Integers are
strict: 512.0 is not an integer (the worker would refuse it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "default", "examples", "$comment"}
KEYWORDS = {"type", "enum", "const", "properties", "required", "additionalProperties", "propertyNames",
            "minProperties", "items", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
            "minimum", "maximum", "exclusiveMinimum", "oneOf", "anyOf", "not"}
_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


class SchemaKeywordError(ValueError):
    """The schema uses a keyword this validator does not implement."""


@dataclass
class Error:
    """One failed keyword, shaped like jsonschema's ValidationError where the messages read it."""

    validator: str
    validator_value: Any
    instance: Any
    schema: dict[str, Any]
    absolute_path: tuple[Any, ...]
    schema_path: tuple[Any, ...] = ()
    message: str = ""
    context: list["Error"] = field(default_factory=list)

    @property
    def relative_schema_path(self) -> tuple[Any, ...]:
        return self.schema_path


def check_keywords(schema: Any, where: tuple[str, ...] = ()) -> None:
    """Refuse any keyword this validator would not enforce."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in KEYWORDS | ANNOTATIONS:
            raise SchemaKeywordError(f"{'.'.join(where + (key,))}: keyword {key!r} is not supported by cricksy-gen")
        if key in ("properties", "$defs"):
            for name, sub in value.items():
                check_keywords(sub, where + (key, name))
        elif key in ("oneOf", "anyOf"):
            for index, sub in enumerate(value):
                check_keywords(sub, where + (key, str(index)))
        elif key in ("items", "not", "propertyNames") or (key == "additionalProperties" and isinstance(value, dict)):
            check_keywords(value, where + (key,))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def is_valid(schema: dict[str, Any], instance: Any) -> bool:
    return next(iter_errors(schema, instance), None) is None


def iter_errors(schema: dict[str, Any], instance: Any, path: tuple[Any, ...] = ()) -> Iterator[Error]:
    """Every failed keyword for `instance`, depth first, with its absolute instance path."""
    def error(keyword: str, message: str = "", **extra: Any) -> Error:
        return Error(keyword, schema[keyword], instance, schema, path, (keyword,), message, **extra)

    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](instance) for t in types):
            yield error("type")
            return
    if "enum" in schema and not any(_same(instance, option) for option in schema["enum"]):
        yield error("enum")
    if "const" in schema and not _same(instance, schema["const"]):
        yield error("const")
    if "not" in schema and is_valid(schema["not"], instance):
        yield error("not")
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            branches = [list(iter_errors(sub, instance, path)) for sub in schema[keyword]]
            valid = sum(1 for errors in branches if not errors)
            if valid == 0 or (keyword == "oneOf" and valid > 1):
                context = [] if valid else [_in_branch(e, index) for index, errors in enumerate(branches)
                                            for e in errors]
                yield error(keyword, f"is not valid under {'exactly one' if keyword == 'oneOf' else 'any'} "
                                     "of the given schemas", context=context)
    if isinstance(instance, dict):
        yield from _object(schema, instance, path, error)
    elif isinstance(instance, list):
        yield from _array(schema, instance, path, error)
    elif isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            yield error("minLength")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            yield error("maxLength")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            yield error("pattern")
    elif _TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            yield error("minimum")
        if "maximum" in schema and instance > schema["maximum"]:
            yield error("maximum")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            yield error("exclusiveMinimum")


def _in_branch(err: Error, index: int) -> Error:
    err.schema_path = (index,) + err.schema_path
    return err


def _object(schema: dict[str, Any], instance: dict[str, Any], path: tuple[Any, ...], error: Any) -> Iterator[Error]:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in instance:
            yield error("required", f"{name!r} is a required property")
    if "minProperties" in schema and len(instance) < schema["minProperties"]:
        yield error("minProperties", f"expected at least {schema['minProperties']} key(s)")
    if "propertyNames" in schema:
        for name in instance:
            for err in iter_errors(schema["propertyNames"], name, path):
                err.schema_path = ("propertyNames",) + err.schema_path
                yield err
    extra = schema.get("additionalProperties", True)
    for name, value in instance.items():
        if name in properties:
            yield from iter_errors(properties[name], value, path + (name,))
        elif isinstance(extra, dict):
            yield from iter_errors(extra, value, path + (name,))
    if extra is False and set(instance) - set(properties):
        yield error("additionalProperties")


def _array(schema: dict[str, Any], instance: list[Any], path: tuple[Any, ...], error: Any) -> Iterator[Error]:
    if "minItems" in schema and len(instance) < schema["minItems"]:
        yield error("minItems")
    if "maxItems" in schema and len(instance) > schema["maxItems"]:
        yield error("maxItems")
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in instance:
            if any(_same(item, other) for other in seen):
                yield error("uniqueItems")
                break
            seen.append(item)
    if "items" in schema:
        for index, item in enumerate(instance):
            yield from iter_errors(schema["items"], item, path + (index,))
