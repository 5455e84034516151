"""Values: load the layers, merge them, validate the result.

Layering, lowest to highest precedence (as Helm does it, minus its surprises):

    environments/defaults.yaml -> environments/<env>.yaml -> each -f FILE in order
    -> each --set PATH=VALUE in order -> each --set-string PATH=VALUE in order

Maps merge key by key, recursively. Everything else - scalars, null and lists -
replaces what was below it whole, so a list is never half-merged; null is a value
like any other (it unsets an optional map such as `terraform.backend`, it never
deletes keys). A map meeting a scalar or list, either way, is an error rather
than a silent winner. YAML is read as YAML 1.2, so
`no`, `on` and `off` stay strings, and a key written twice in one file is an error.

Every node remembers the file and line (or the flag) that set it, which is what
`cricksy-gen values --explain` prints and what every validation error points at.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from generator.errors import Problem, Source, ValuesError
from generator import rules

KeyPath = tuple[str, ...]

DEFAULTS_FILE = "defaults.yaml"
SCHEMA_FILE = "values.schema.json"


@dataclass
class Layer:
    """One source of values and where each of its nodes came from."""

    data: dict[str, Any]
    origins: dict[KeyPath, Source] = field(default_factory=dict)


@dataclass(frozen=True)
class SetFlag:
    """A `--set` or `--set-string` argument, kept whole so errors can quote it."""

    expression: str
    as_string: bool = False

    @property
    def flag(self) -> str:
        return "--set-string" if self.as_string else "--set"


@dataclass
class Values:
    """The merged values of one environment, with the origin of every node."""

    env: str
    data: dict[str, Any]
    origins: dict[KeyPath, Source]
    sources: list[str]

    def leaves(self) -> Iterator[tuple[KeyPath, Any, Source | None]]:
        """Every leaf (scalar, null or list) with the source that set it."""
        yield from _leaves(self.data, (), self.origins)


def _leaves(node: Any, path: KeyPath, origins: dict[KeyPath, Source]):
    if isinstance(node, dict) and node:
        for key in sorted(node):
            yield from _leaves(node[key], path + (key,), origins)
    else:
        yield path, node, origins.get(path)


def dotted(path: Sequence[str | int]) -> str:
    """Render a key path the way `--set` spells it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part).replace(".", "\\.")
            out += f".{text}" if out else text
    return out or "(root)"


# --- loading ---------------------------------------------------------------

def _yaml_rt() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load_file(path: Path, label: str) -> Layer:
    """Read one YAML values file; its top level must be a map (or empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValuesError([Problem((), "values file not found", Source(label))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValuesError([Problem((), f"cannot read values file: {exc}", Source(label))]) from None
    try:
        doc = _yaml_rt().load(text)
    except MarkedYAMLError as exc:
        raise ValuesError([_yaml_problem(exc, label)]) from None
    except YAMLError as exc:
        raise ValuesError([Problem((), f"invalid YAML: {exc}", Source(label))]) from None
    if doc is None:
        return Layer({}, {})
    if not isinstance(doc, dict):
        raise ValuesError([Problem((), f"the top level must be a map of keys, got {_kind(doc)}",
                                   Source(label, 1))])
    layer = Layer({}, {})
    problems: list[Problem] = []
    layer.data = _plain(doc, (), label, None, layer.origins, problems)
    if problems:
        raise ValuesError(problems)
    return layer


def _yaml_problem(exc: MarkedYAMLError, label: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "invalid YAML"
    if "duplicate key" in problem and exc.context_mark is not None:
        problem = f"{problem}; each key may appear once in a map"
    return Problem((), problem, Source(label, line))


def _plain(node: Any, path: KeyPath, label: str, line: int | None,
           origins: dict[KeyPath, Source], problems: list[Problem]) -> Any:
    """Turn ruamel's round-trip nodes into plain JSON-like values, recording lines."""
    origins[path] = Source(label, line)
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            key_line = node.lc.key(key)[0] + 1 if hasattr(node, "lc") else line
            if not isinstance(key, str):
                problems.append(Problem(path, f"key {key!r} must be a string (quote it)",
                                        Source(label, key_line)))
                continue
            out[key] = _plain(value, path + (key,), label, key_line, origins, problems)
        return out
    if isinstance(node, list):
        # Lists are leaves: they replace whole, so their items need no origins of their own.
        return [_plain(item, path + (str(i),), label, line, {}, problems) for i, item in enumerate(node)]
    if node is None or isinstance(node, (bool, str)):
        return node if not isinstance(node, str) else str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float) and math.isfinite(node):
        return float(node)
    problems.append(Problem(path, f"unsupported YAML value {node!r} ({type(node).__name__}); "
                                  "quote it to make it a string", Source(label, line)))
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"


def parse_set(flag: SetFlag) -> Layer:
    """Turn `a.b.c=value` into a one-branch layer.

    The value is read as a YAML 1.2 value (`2048` is a number, `true` a boolean,
    `null` null, `[a, b]` a list, an empty value an empty string); `--set-string`
    keeps it as written. A dot inside a key is written `\\.`.
    """
    source = Source(f"{flag.flag} {flag.expression}")
    path_text, sep, raw = flag.expression.partition("=")
    keys = _split_path(path_text)
    if not sep or not keys:
        raise ValuesError([Problem((), "expected PATH=VALUE, e.g. worker.cpu=2048", source)])
    if flag.as_string or raw == "":
        value: Any = raw
    else:
        try:
            value = YAML(typ="safe", pure=True).load(raw)
        except YAMLError as exc:
            raise ValuesError([Problem(tuple(keys), f"value is not valid YAML ({exc.__class__.__name__}); "
                                                    f"use --set-string for a plain string", source)]) from None
    data: dict[str, Any] = {}
    origins: dict[KeyPath, Source] = {(): source}
    node = data
    for depth, key in enumerate(keys[:-1]):
        node[key] = {}
        node = node[key]
        origins[tuple(keys[: depth + 1])] = source
    node[keys[-1]] = value
    _record(value, tuple(keys), source, origins)
    return Layer(data, origins)


def _split_path(text: str) -> list[str]:
    parts = re.split(r"(?<!\\)\.", text)
    if not all(parts):
        return []
    return [part.replace("\\.", ".") for part in parts]


def _record(value: Any, path: KeyPath, source: Source, origins: dict[KeyPath, Source]) -> None:
    origins[path] = source
    if isinstance(value, dict):
        for key, child in value.items():
            _record(child, path + (key,), source, origins)


# --- merging ---------------------------------------------------------------

def merge(layers: Sequence[Layer]) -> Layer:
    """Coalesce layers, later ones winning; see the module docstring for the rules."""
    result = Layer({}, {})
    problems: list[Problem] = []
    for layer in layers:
        _merge_into(result, layer, (), result.data, layer.data, problems)
    if problems:
        raise ValuesError(problems)
    return result


def _merge_into(result: Layer, layer: Layer, path: KeyPath, base: dict[str, Any],
                over: dict[str, Any], problems: list[Problem]) -> None:
    if path not in result.origins and path in layer.origins:
        result.origins[path] = layer.origins[path]
    for key, value in over.items():
        child = path + (key,)
        if key in base and isinstance(base[key], dict) and isinstance(value, dict):
            _merge_into(result, layer, child, base[key], value, problems)
            continue
        if key in base and value is not None and base[key] is not None \
                and isinstance(base[key], dict) != isinstance(value, dict):
            below = result.origins.get(child)
            problems.append(Problem(
                child,
                f"{_kind(value)} cannot replace {_kind(base[key])}"
                + (f" set in {below}" if below else "")
                + "; write the same kind of value",
                layer.origins.get(child)))
            continue
        for stale in [p for p in result.origins if p[: len(child)] == child]:
            del result.origins[stale]
        base[key] = _copy(value)
        for sub, source in layer.origins.items():
            if sub[: len(child)] == child:
                result.origins[sub] = source


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# --- the whole pipeline -----------------------------------------------------

def environments(root: Path) -> list[str]:
    """The environments found: every `environments/*.yaml` except the defaults."""
    folder = root / "environments"
    if not folder.is_dir():
        raise ValuesError([Problem((), "folder not found; run from the repository root or pass --root",
                                   Source(str(folder)))])
    return sorted(p.stem for p in folder.glob("*.yaml") if p.name != DEFAULTS_FILE)


def load_values(root: Path, env: str, files: Sequence[Path] = (),
                sets: Sequence[SetFlag] = ()) -> Values:
    """Merge every layer for `env` and validate the result; raise ValuesError listing all problems."""
    known = environments(root)
    if env not in known:
        raise ValuesError([Problem((), f"unknown environment {env!r}; found: {', '.join(known) or 'none'}",
                                   Source(f"environments/{env}.yaml"))])
    paths = [(root / "environments" / DEFAULTS_FILE, f"environments/{DEFAULTS_FILE}"),
             (root / "environments" / f"{env}.yaml", f"environments/{env}.yaml")]
    paths += [(Path(f), str(f)) for f in files]
    layers: list[Layer] = []
    problems: list[Problem] = []
    for path, label in paths:
        try:
            layers.append(load_file(path, label))
        except ValuesError as exc:
            problems.extend(exc.problems)
    for flag in sets:
        try:
            layers.append(parse_set(flag))
        except ValuesError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValuesError(problems)
    merged = merge(layers)
    values = Values(env, merged.data, merged.origins, [label for _, label in paths]
                    + [f"{f.flag} {f.expression}" for f in sets])
    problems = validate(values, load_schema(root))
    if problems:
        raise ValuesError(problems)
    return values


def load_schema(root: Path) -> dict[str, Any]:
    path = root / "environments" / SCHEMA_FILE
    label = f"environments/{SCHEMA_FILE}"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
    except FileNotFoundError:
        raise ValuesError([Problem((), "schema file not found", Source(label))]) from None
    except json.JSONDecodeError as exc:
        raise ValuesError([Problem((), f"invalid JSON: {exc.msg}", Source(label, exc.lineno))]) from None
    except jsonschema.SchemaError as exc:
        raise ValuesError([Problem(tuple(str(p) for p in exc.path), f"invalid JSON Schema: {exc.message}",
                                   Source(label))]) from None
    return schema


def validate(values: Values, schema: dict[str, Any]) -> list[Problem]:
    """Schema first (shape, types, unknown keys), then the AWS rules it cannot express."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = [_schema_problem(err, values) for err in validator.iter_errors(values.data)]
    problems += [Problem(path, message, _origin(values, path))
                 for path, message in rules.check(values.data)]
    return sorted(set(problems), key=lambda p: (str(p.source or ""), p.path, p.message))


def _origin(values: Values, path: Sequence[str | int]) -> Source | None:
    path = tuple(str(p) for p in path)
    while path not in values.origins and path:
        path = path[:-1]
    return values.origins.get(path)


def _schema_problem(error: jsonschema.ValidationError, values: Values) -> Problem:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
        key = path + (extra[0],) if extra else path
        return Problem(key, f"unknown key {', '.join(map(repr, extra))} (allowed here: {allowed})",
                       _origin(values, key))
    if "propertyNames" in error.relative_schema_path:
        key = path + (str(error.instance),)
        return Problem(key, f"key {error.instance!r} is not allowed: {_expected(error)}", _origin(values, key))
    if error.validator == "required":
        return Problem(path, f"{error.message}", _origin(values, path))
    return Problem(path, f"{_show(error.instance)} is not allowed: {_expected(error)}", _origin(values, path))


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, (dict, list)) else _kind(value)


def _expected(error: jsonschema.ValidationError) -> str:
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
    return f"{base} ({hint})" if hint else base
