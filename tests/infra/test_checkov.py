"""Proof 4: checkov over each environment, with the repository's own skip list."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import REPO


def checkov_binary() -> str:
    candidates = [os.environ.get("CRICKSY_CHECKOV"), str(REPO / ".tools" / "checkov" / "bin" / "checkov"),
                  shutil.which("checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("checkov not found: run scripts/setup.sh (it installs checkov into .tools/checkov), "
                "or set CRICKSY_CHECKOV to a checkov executable")


def scan(folder: Path) -> dict:
    result = subprocess.run([checkov_binary(), "--config-file", str(REPO / ".checkov.yaml"), "-d", str(folder),
                             "--output", "json"], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_passes_every_environment(env: str):
    report = scan(REPO / "infra" / env)
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] >= 25, "checkov scanned far less than the stack holds"


def test_checkov_would_catch_a_public_ip(tmp_path: Path):
    for path in (REPO / "infra" / "prod").glob("*.tf.json"):
        shutil.copy(path, tmp_path / path.name)
    ecs = tmp_path / "ecs.tf.json"
    ecs.write_text(ecs.read_text().replace('"assign_public_ip": false', '"assign_public_ip": true'))
    failed = {c["check_id"] for c in scan(tmp_path)["results"]["failed_checks"]}
    assert "CKV_AWS_333" in failed


def test_every_skip_says_why():
    lines = (REPO / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    skips = [i for i in range(start + 1, len(lines)) if lines[i].startswith("  - ")]
    assert skips, "no skips listed"
    for index in skips:
        assert lines[index - 1].lstrip().startswith("#"), f"{lines[index]} has no comment above it"
