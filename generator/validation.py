"""Validation of merged values: the JSON Schema, the AWS rules, the worker's own rules.

Every problem is reported at once, each with the file and line (or flag) that set
the value, the key, the value and what is allowed. Integers are integers only:
JSON Schema would take 512.0 for an integer, the worker would not
(generator/schema.py validates).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from generator import rules, settings
from generator import schema as jsonschema_lite
from generator.errors import KeyPath, Problem, Source, ValuesError, kind
from generator.model import Values
from generator.schema import Error

SCHEMA_FILE = "values.schema.json"
# Environments whose alarms must reach somebody (values.schema.json, $defs.production).
PRODUCTION_ENVIRONMENTS = ("prod",)


def load_schema(root: Path) -> dict[str, Any]:
    path = root / "environments" / SCHEMA_FILE
    label = f"environments/{SCHEMA_FILE}"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        jsonschema_lite.check_keywords(schema)
    except FileNotFoundError:
        raise ValuesError([Problem((), "schema file not found", Source(label))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValuesError([Problem((), f"cannot read the schema: {exc}", Source(label))]) from None
    except json.JSONDecodeError as exc:
        raise ValuesError([Problem((), f"invalid JSON: {exc.msg}", Source(label, exc.lineno))]) from None
    except jsonschema_lite.SchemaKeywordError as exc:
        raise ValuesError([Problem((), f"invalid schema: {exc}", Source(label))]) from None
    return schema


def validate(values: Values, schema: dict[str, Any]) -> list[Problem]:
    """Schema first (shape, types, bounds, unknown keys), then the rules it cannot express.

    A rule runs only when the schema found nothing wrong with the keys it reads,
    so it may index them freely; an error inside a rule is a bug and propagates.
    """
    problems = [schema_problem(err, values) for err in jsonschema_lite.iter_errors(schema, values.data)]
    if values.env in PRODUCTION_ENVIRONMENTS and "production" in schema.get("$defs", {}):
        production = schema["$defs"]["production"]
        if not problems and not jsonschema_lite.is_valid(production, values.data):
            problems.append(Problem(("alarms",), f"{values.env} must notify somebody when an alarm fires: "
                                                 f"{production.get('description', 'see $defs.production')}",
                                    values.origin(("alarms", "subscriptions"))))
    blocked = [p.path for p in problems]

    def ready(reads: Iterable[KeyPath]) -> bool:
        return not any(_related(read, path) for read in reads for path in blocked)

    findings = rules.check(values.data, ready) + settings.check(values.data, values.env, ready)
    problems += [Problem(path, message, values.origin(path)) for path, message in findings]
    return sorted(set(problems), key=lambda p: (str(p.source or ""), p.path, p.message))


def _related(a: KeyPath, b: KeyPath) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def schema_problem(error: "Error", values: Values) -> Problem:
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _alternatives_problem(error, values)
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
        key = path + (extra[0],) if extra else path
        return Problem(key, f"unknown key {', '.join(map(repr, extra))} (allowed here: {allowed})",
                       values.origin(key))
    if "propertyNames" in error.relative_schema_path:
        key = path + (str(error.instance),)
        return Problem(key, f"key {error.instance!r} is not allowed: {_expected(error)}", values.origin(key))
    if error.validator == "required":
        return Problem(path, f"{error.message}", values.origin(path))
    return Problem(path, f"{_show(error.instance)} is not allowed: {_expected(error)}", values.origin(path))


def _alternatives_problem(error: "Error", values: Values) -> Problem:
    """Report the branch the value was meant for, at its deepest failing key, with its own source.

    A branch whose `type` the value does not have was not meant; among the others
    the deepest error is the one a person has to fix.
    """
    branches: dict[int, list[Error]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    meant = [errors for errors in branches.values()
             if not any(e.validator == "type" and e.absolute_path == error.absolute_path for e in errors)]
    if meant:
        deepest = max((e for errors in meant for e in errors), key=lambda e: len(e.absolute_path))
        return schema_problem(deepest, values)
    types = [_type_name(branch) for branch in error.validator_value]
    path = tuple(error.absolute_path)
    hint = error.schema.get("description")
    return Problem(path, f"{_show(error.instance)} is not allowed: expected {' or '.join(types)}"
                         + (f" ({hint})" if hint else ""), values.origin(path))


def _type_name(branch: dict[str, Any]) -> str:
    kind_name = branch.get("type", "a value")
    if branch.get("pattern"):
        return f"{kind_name} matching {branch['pattern']}"
    return str(kind_name)


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, (dict, list)) else kind(value)


def _expected(error: "Error") -> str:
    rule, arg = error.validator, error.validator_value
    texts = {
        "type": lambda: f"expected {arg if isinstance(arg, str) else ' or '.join(arg)}",
        "enum": lambda: "expected one of " + ", ".join(json.dumps(a) for a in arg),
        "const": lambda: f"expected {json.dumps(arg)}",
        "minimum": lambda: f"expected at least {arg}",
        "maximum": lambda: f"expected at most {arg}",
        "exclusiveMinimum": lambda: f"expected more than {arg}",
        "pattern": lambda: f"expected text matching {arg}",
        "minItems": lambda: f"expected at least {arg} item(s)",
        "maxItems": lambda: f"expected at most {arg} item(s)",
        "minLength": lambda: f"expected at least {arg} character(s)",
        "maxLength": lambda: f"expected at most {arg} character(s)",
        "uniqueItems": lambda: "expected no repeated items",
        "not": lambda: "this value is not allowed here",
    }
    describe = texts.get(rule)
    base = describe() if describe else error.message
    hint = error.schema.get("description") if isinstance(error.schema, dict) else None
    text = f"{base} ({hint})" if hint else base
    if rule == "type" and arg == "integer" and isinstance(error.instance, float):
        whole = error.instance.is_integer() and abs(error.instance) < 1e16
        text += (f"; write {int(error.instance)}, without a decimal point or exponent" if whole
                 else "; a whole number is required")
    return text
