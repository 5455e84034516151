"""The result schema carries the cricket block and the options exactly as their own schemas define them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _load(*parts: str) -> dict[str, Any]:
    return json.loads(ROOT.joinpath(*parts).read_text())


def _rebased(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {k: f"#/$defs/{prefix}{v[len('#/$defs/'):]}" if k == "$ref" and v.startswith("#/$defs/")
                else _rebased(v, prefix) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebased(v, prefix) for v in node]
    return node


def _merged_as(source: dict[str, Any], block: dict[str, Any], defs: dict[str, Any], prefix: str) -> None:
    skip = ("$schema", "$id", "title", "$defs", "description")
    assert {k: v for k, v in block.items() if k != "description"} == \
        _rebased({k: v for k, v in source.items() if k not in skip}, prefix)
    for name, definition in source.get("$defs", {}).items():
        assert defs[prefix + name] == _rebased(definition, prefix), name


def test_the_cricket_and_options_schemas_are_merged_unchanged() -> None:
    result = _load("worker", "analysis", "result.schema.json")
    assert {"cricket", "options"} <= set(result["required"])
    _merged_as(_load("worker", "analysis", "cricket.schema.json"), result["properties"]["cricket"], result["$defs"],
               "cricket_")
    _merged_as(_load("worker", "options.schema.json"), result["properties"]["options"], result["$defs"], "options_")
