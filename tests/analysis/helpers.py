"""Checks shared by the pose tests: the result schema, degree summaries, the installed command, and the
still photo clip whose every true angle is constant."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.support.media import Motion

MOVING = Motion(seconds=8.0, scale=(0.7, 1.0), angle=(-6.0, 6.0), shift_x=(-0.1, 0.1))  # a still photo zoomed,
# turned and moved: a camera's moves over 8 s, no joint's
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "worker" / "analysis" / "result.schema.json"


def assert_valid_result(result: dict, out_dir: Path | None = None) -> dict:
    """The result follows the shipped JSON Schema, is plain JSON, and its artifacts exist."""
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    errors = sorted(Draft202012Validator(schema).iter_errors(result), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    json.dumps(result, allow_nan=False)
    if out_dir is not None:
        for name, file_name in result["artifacts"].items():
            assert (out_dir / file_name).is_file(), f"artifact {name} ({file_name}) missing in {out_dir}"
    return result


def degree_summaries(block: dict, keys: tuple[str, ...] = ("mean", "value")) -> dict[str, float]:
    """Every mean (or single value) of a metric in degrees, by path.

    The extremes are compared apart, with the model's own frame-to-frame spread: after the seam the
    second segment's crops differ by a pixel or two from the single pass's, and a pose model answers
    a shifted crop with landmarks a few pixels off (measured: 0.1-0.6 % of the frame), which moves a
    one-frame minimum by up to 2 degrees but a mean by 0.2."""
    found = {}
    for name, metric in block.items():
        if not isinstance(metric, dict) or metric.get("units") != "deg" or metric.get("value") is None:
            continue
        value = metric["value"]
        for key, number in (value.items() if isinstance(value, dict) else [("value", value)]):
            if key in keys and isinstance(number, (int, float)):
                found[f"{name}.{key}"] = float(number)
    return found


def cricksy_worker() -> list[str]:
    """The installed console script; the tests run it as a user would."""
    found = shutil.which("cricksy-worker", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("cricksy-worker is not installed in this environment: run `pip install -e . --no-deps`",
                    pytrace=False)
    return [found]
