"""Checks shared by the pose tests: the result schema, and the installed command."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

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


def cricksy_worker() -> list[str]:
    """The installed console script; the tests run it as a user would."""
    found = shutil.which("cricksy-worker", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("cricksy-worker is not installed in this environment: run `pip install -e . --no-deps`",
                    pytrace=False)
    return [found]
