"""Proof 1: the real Terraform with the real AWS provider accepts every environment."""
import json
from pathlib import Path

import pytest

from tests.infra.conftest import REPO
from tests.support.terraform import terraform_copy


def test_terraform_validate(env: str, plugin_mirror: Path, tmp_path: Path):
    terraform = terraform_copy(REPO / "infra" / env, tmp_path, plugin_mirror)
    terraform.init(backend=False)
    report = terraform.validate()
    assert report["valid"] is True, json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)
    assert not (REPO / "infra" / env / "zz_override.tf.json").exists()


@pytest.mark.parametrize("change, expected", [
    (lambda doc: doc["resource"]["aws_cloudwatch_log_group"]["worker"].update(retenshun=1),
     'No argument or block type is named "retenshun"'),
    (lambda doc: doc["resource"]["aws_cloudwatch_log_group"]["worker"].update(retention_in_days=31),
     "expected retention_in_days to be one of [0 1 3 5 7 14 30"),
    (lambda doc: doc.update(output={"x": {"value": "${aws_sqs_queue.nope.arn}"}}),
     'A managed resource "aws_sqs_queue" "nope" has not been declared'),
])
def test_validate_catches_what_it_should(plugin_mirror: Path, tmp_path: Path, change, expected: str):
    """The harness itself can fail: a misspelled attribute, a bad enum, a dangling reference."""
    terraform = terraform_copy(REPO / "infra" / "dev", tmp_path, plugin_mirror)
    logs = tmp_path / "logs.tf.json"
    doc = json.loads(logs.read_text())
    change(doc)
    logs.write_text(json.dumps(doc))
    terraform.init(backend=False)
    report = terraform.validate()
    assert report["valid"] is False
    details = " | ".join(d["summary"] + ": " + d.get("detail", "") for d in report["diagnostics"])
    assert expected in details, details
