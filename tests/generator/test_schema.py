"""generator/schema.py against the `jsonschema` package: the same verdicts on the same inputs."""
import copy
import json
from pathlib import Path

import jsonschema
import pytest

from generator import schema as lite
from generator.values import load_values

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "environments" / "values.schema.json").read_text())


def strict_jsonschema(schema: dict):
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool))
    return jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)(schema)


def test_the_schema_file_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    lite.check_keywords(SCHEMA)


def test_an_unsupported_keyword_is_refused_not_ignored():
    with pytest.raises(lite.SchemaKeywordError, match="'dependentRequired' is not supported"):
        lite.check_keywords({"properties": {"a": {"dependentRequired": {"a": ["b"]}}}})


def mutations(data: dict):
    """The committed values, broken one way at a time."""
    edits = [
        ("worker", "cpu", 512.0), ("worker", "cpu", "big"), ("worker", "cpu", True), ("worker", "cpu", 10**25),
        ("worker", "log_level", "LOUD"), ("worker", "memroy", 1), ("terraform", "backend", {"bucket": 1}),
        ("terraform", "backend", "s3"), ("logs", "kms_key_arn", 5), ("logs", "kms_key_arn", "nope"),
        ("image", "tag", "latest"), ("shared", "subnet_ids", []), ("shared", "subnet_ids", ["x", "x"]),
        ("shared", "secrets", {}), ("shared", "secrets", {"db": "x"}), ("tags", "aws:x", "y"),
        ("alarms", "failure_rate_percent", 0), ("alarms", "subscriptions", [{"protocol": "fax", "endpoint": "1"}]),
        ("metrics", "namespace", "AWS/x"), ("autoscaling", "min_count", -1), ("queue", "delay_seconds", None),
    ]
    yield data
    for section, key, value in edits:
        broken = copy.deepcopy(data)
        broken[section][key] = value
        yield broken
    missing = copy.deepcopy(data)
    del missing["worker"]["cpu"]
    yield missing


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_same_errors_as_jsonschema(env: str):
    data = load_values(REPO, env).data
    for instance in mutations(data):
        theirs = {(tuple(e.absolute_path), e.validator) for e in strict_jsonschema(SCHEMA).iter_errors(instance)}
        ours = {(tuple(e.absolute_path), e.validator) for e in lite.iter_errors(SCHEMA, instance)}
        assert ours == theirs
        assert lite.is_valid(SCHEMA["$defs"]["production"], instance) == \
            strict_jsonschema(SCHEMA["$defs"]["production"]).is_valid(instance)
