"""Values: load the YAML layers of one environment, parse `--set` flags, merge them.

Precedence, lowest first: environments/defaults.yaml, environments/<env>.yaml,
each -f FILE, each --set, each --set-string. Maps merge key by key; scalars,
null and lists replace whole; a map meeting a scalar is an error. Every node
keeps its origin (file and line, or flag) so that errors and `values --explain`
can point at it. Validation of the merged result lives in generator.validation.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from generator import validation, yamlio
from generator.errors import KeyPath, Problem, Source, ValuesError, kind
from generator.model import Layer, SetFlag, Values

__all__ = ["Layer", "SetFlag", "Values", "environments", "load_file", "load_values", "merge", "parse_set"]

DEFAULTS_FILE = "defaults.yaml"
# Environment names end up in resource names, metric dimensions and folder names.
ENV_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
ENV_NAME_MAX = 16
ENV_NAME_RULE = (f"lowercase letters and digits, single dashes between them, starting with a letter, "
                 f"at most {ENV_NAME_MAX} characters")


# --- loading ---------------------------------------------------------------

def load_file(path: Path, label: str, cache: dict[tuple[str, str], Layer] | None = None) -> Layer:
    """Read one YAML values file; its top level must be a map (or empty).

    With a `cache` (one per run), a file read again (defaults.yaml under --all) is parsed once.
    """
    key = (str(path), label)
    if cache is not None and key in cache:
        return cache[key]
    layer = _load_file(path, label)
    if cache is not None:
        cache[key] = layer
    return layer


def _load_file(path: Path, label: str) -> Layer:
    try:
        with path.open("rb") as handle:
            raw = handle.read(yamlio.MAX_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ValuesError([Problem((), "values file not found", Source(label))]) from None
    except UnicodeDecodeError as exc:
        raise ValuesError([Problem((), f"cannot read values file: not UTF-8 text ({exc.reason} at byte "
                                       f"{exc.start})", Source(label))]) from None
    except OSError as exc:
        raise ValuesError([Problem((), f"cannot read values file: {exc.strerror or exc}", Source(label))]) from None
    doc = yamlio.load(text, label)
    if doc is None:
        return Layer({}, {})
    if not isinstance(doc, dict):
        raise ValuesError([Problem((), f"the top level must be a map of keys, got {kind(doc)}",
                                   Source(label, 1))])
    layer = Layer({}, {})
    problems: list[Problem] = []
    layer.data = yamlio.plain(doc, (), label, None, layer.origins.__setitem__, problems)
    if problems:
        raise ValuesError(problems)
    return layer


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
    if len(keys) > yamlio.MAX_DEPTH:
        raise ValuesError([Problem((), f"the path has {len(keys)} parts; at most {yamlio.MAX_DEPTH} are "
                                       "allowed", source)])
    if flag.as_string or raw == "":
        value: Any = raw
    else:
        from ruamel.yaml.error import YAMLError

        try:
            value = yamlio.load_value(raw)
        except ValuesError as exc:
            raise ValuesError([Problem(tuple(keys), p.message, source) for p in exc.problems]) from None
        except YAMLError as exc:
            raise ValuesError([Problem(tuple(keys), f"value is not valid YAML ({exc.__class__.__name__}); "
                                                    f"use --set-string for a plain string", source)]) from None
        problems: list[Problem] = []
        value = _plain_value(value, tuple(keys), source, problems)
        if problems:
            raise ValuesError(problems)
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


def _plain_value(value: Any, path: KeyPath, source: Source, problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            if not isinstance(key, str):
                problems.append(Problem(path, f"key {key!r} must be a string (quote it)", source))
                continue
            out[key] = _plain_value(child, path + (key,), source, problems)
        return out
    if isinstance(value, list):
        return [_plain_value(item, path + (str(i),), source, problems) for i, item in enumerate(value)]
    return yamlio.scalar(value, path, source, problems)


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
                f"{kind(value)} cannot replace {kind(base[key])}"
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

def check_env_name(name: str, source: Source) -> None:
    """Refuse an environment name that could not safely become resource names and folders."""
    if not (ENV_NAME.match(name) and len(name) <= ENV_NAME_MAX):
        raise ValuesError([Problem((), f"environment name {name!r} is not allowed: expected {ENV_NAME_RULE}",
                                   source)])


def environments(root: Path) -> list[str]:
    """The environments found: every `environments/*.yaml` except the defaults; each name checked."""
    folder = root / "environments"
    if not folder.is_dir():
        raise ValuesError([Problem((), "folder not found; run from the repository root or pass --root",
                                   Source(str(folder)))])
    names = sorted(p.stem for p in folder.glob("*.yaml") if p.name != DEFAULTS_FILE)
    problems: list[Problem] = []
    for name in names:
        try:
            check_env_name(name, Source(f"environments/{name}.yaml"))
        except ValuesError as exc:
            problems.extend(p for p in exc.problems)
    if problems:
        raise ValuesError([Problem(p.path, p.message + "; rename the file", p.source) for p in problems])
    return names


def load_values(root: Path, env: str, files: Sequence[Path] = (), sets: Sequence[SetFlag] = (),
                cache: dict[tuple[str, str], Layer] | None = None) -> Values:
    """Merge every layer for `env` and validate the result; raise ValuesError listing all problems.

    `cache` lets one run share the files it reads for several environments.
    """
    check_env_name(env, Source(f"--env {env}"))
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
            layers.append(load_file(path, label, cache))
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
    problems = validation.validate(values, validation.load_schema(root))
    if problems:
        raise ValuesError(problems)
    return values
