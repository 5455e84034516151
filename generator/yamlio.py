"""YAML in, plain JSON-like values out, within explicit bounds.

Values files are small and written by people, so anything far beyond that is
refused before it is built: a file over MAX_BYTES, nesting deeper than
MAX_DEPTH (the YAML composer and every later walk recurse), and a document
whose aliases would expand to more than MAX_NODES nodes (a few aliases can
stand for millions of leaves). The bounds are checked on the parser's event
stream, which needs neither recursion nor expansion.

Anchors, aliases and merge keys (`<<: *base`) are supported; a merged key
reports the line where its value was written.
"""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any, Callable

from generator.errors import KeyPath, Problem, Source, ValuesError

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 10_000


def _rt() -> "YAML":
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def check_bounds(text: str, label: str) -> None:
    """Refuse a document over the size, depth or alias-expansion bound, before composing it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ValuesError([Problem((), f"larger than {MAX_BYTES} bytes; values files are small by design",
                                   Source(label))])
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    sizes: dict[str, int] = {}
    frames: list[list[Any]] = [[None, 0]]
    try:
        for event in _rt().parse(io.StringIO(text)):
            if isinstance(event, CollectionStartEvent):
                if len(frames) > MAX_DEPTH:
                    raise ValuesError([Problem((), f"nested deeper than {MAX_DEPTH} levels",
                                               Source(label, _line(event)))])
                frames.append([event.anchor, 1])
                continue
            if isinstance(event, CollectionEndEvent):
                anchor, size = frames.pop()
            elif isinstance(event, AliasEvent):
                anchor, size = None, sizes.get(event.anchor, 1)
            elif isinstance(event, ScalarEvent):
                anchor, size = event.anchor, 1
            else:
                continue
            if anchor:
                sizes[anchor] = size
            frames[-1][1] += size
            if frames[-1][1] > MAX_NODES:
                raise ValuesError([Problem((), f"expands to more than {MAX_NODES} values (through aliases "
                                               "or sheer size); write the values out plainly",
                                           Source(label, _line(event)))])
    except MarkedYAMLError as exc:
        raise ValuesError([yaml_problem(exc, label)]) from None
    except YAMLError as exc:
        raise ValuesError([Problem((), f"invalid YAML: {exc}", Source(label))]) from None


def _line(event: Any) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


def load(text: str, label: str) -> Any:
    """The round-trip document of `text`, bounds checked; YAML errors as ValuesError."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    check_bounds(text, label)
    try:
        return _rt().load(text)
    except MarkedYAMLError as exc:
        raise ValuesError([yaml_problem(exc, label)]) from None
    except YAMLError as exc:
        raise ValuesError([Problem((), f"invalid YAML: {exc}", Source(label))]) from None


def load_value(text: str) -> Any:
    """One `--set` value as YAML 1.2 plain data (no line numbers to keep)."""
    from ruamel.yaml import YAML

    check_bounds(text, "--set")
    return YAML(typ="safe", pure=True).load(text)


def yaml_problem(exc: "MarkedYAMLError", label: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "invalid YAML"
    if "duplicate key" in problem and exc.context_mark is not None:
        problem = f"{problem}; each key may appear once in a map"
    return Problem((), problem, Source(label, line))


def _key_line(node: Any, key: Any) -> int | None:
    """The line a key was written on, following merge keys to the map that holds it."""
    lc = getattr(node, "lc", None)
    if lc is not None and key in lc.data:
        return lc.data[key][0] + 1
    for merged in getattr(node, "merge", None) or ():
        source = merged[1] if isinstance(merged, tuple) else merged
        if key in source:
            return _key_line(source, key)
    return None


def plain(node: Any, path: KeyPath, label: str, line: int | None,
          record: Callable[[KeyPath, Source], None], problems: list[Problem]) -> Any:
    """Turn ruamel's round-trip nodes into plain JSON-like values, recording where each key was set."""
    record(path, Source(label, line))
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            key_line = _key_line(node, key) or line
            if not isinstance(key, str):
                problems.append(Problem(path, f"key {key!r} must be a string (quote it)",
                                        Source(label, key_line)))
                continue
            out[key] = plain(value, path + (key,), label, key_line, record, problems)
        return out
    if isinstance(node, list):
        # Lists are leaves: they replace whole, so their items need no origins of their own.
        return [plain(item, path + (str(i),), label, line, lambda *_: None, problems)
                for i, item in enumerate(node)]
    return scalar(node, path, Source(label, line), problems)


def scalar(node: Any, path: KeyPath, source: Source, problems: list[Problem]) -> Any:
    """A YAML scalar as the plain Python value it means (an anchored `true` stays a boolean)."""
    if node is None:
        return None
    if isinstance(node, bool) or type(node).__name__ == "ScalarBoolean":
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float) and math.isfinite(node):
        return float(node)
    problems.append(Problem(path, f"unsupported YAML value {node!r} ({type(node).__name__}); "
                                  "quote it to make it a string", source))
    return None
