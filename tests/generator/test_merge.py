"""Layering and merge rules, on the pure functions and through the real files."""
from pathlib import Path

import pytest

from generator.errors import ValuesError
from generator.values import Layer, SetFlag, load_values, merge, parse_set


def layer(data, label):
    from generator.errors import Source
    origins = {}

    def walk(node, path):
        origins[path] = Source(label)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + (key,))
    walk(data, ())
    return Layer(data, origins)


def test_maps_merge_deeply_and_later_layers_win():
    merged = merge([layer({"a": {"x": 1, "y": {"p": 1, "q": 2}}}, "low"),
                    layer({"a": {"y": {"q": 3}, "z": 4}}, "high")])
    assert merged.data == {"a": {"x": 1, "y": {"p": 1, "q": 3}, "z": 4}}
    assert str(merged.origins[("a", "y", "q")]) == "high"
    assert str(merged.origins[("a", "y", "p")]) == "low"


def test_lists_replace_whole_never_merge():
    merged = merge([layer({"l": [1, 2, 3]}, "low"), layer({"l": [9]}, "high")])
    assert merged.data == {"l": [9]}


def test_null_is_a_value_that_replaces_a_map():
    merged = merge([layer({"backend": {"bucket": "b"}}, "low"), layer({"backend": None}, "high")])
    assert merged.data == {"backend": None}
    merged = merge([layer({"backend": None}, "low"), layer({"backend": {"bucket": "b"}}, "high")])
    assert merged.data == {"backend": {"bucket": "b"}}


def test_map_against_scalar_is_an_error_naming_both_sides():
    with pytest.raises(ValuesError) as err:
        merge([layer({"worker": {"cpu": 1}}, "defaults.yaml"), layer({"worker": 5}, "--set worker=5")])
    text = str(err.value)
    assert "--set worker=5: worker: a number cannot replace a map set in defaults.yaml" in text


def test_merge_does_not_mutate_its_inputs():
    low = layer({"a": {"b": [1]}}, "low")
    merge([low, layer({"a": {"c": 2}}, "high")])
    assert low.data == {"a": {"b": [1]}}


def test_precedence_defaults_env_files_set_set_string(root: Path, tmp_path: Path):
    first = tmp_path / "first.yaml"
    first.write_text("worker:\n  cpu: 4096\n  memory: 8192\n  desired_count: 3\n")
    second = tmp_path / "second.yaml"
    second.write_text("worker:\n  memory: 16384\n")
    values = load_values(root, "prod", [first, second],
                         [SetFlag("worker.desired_count=4"), SetFlag("image.tag=v2"),
                          SetFlag("image.tag=v3", as_string=True)])
    worker = values.data["worker"]
    assert (worker["cpu"], worker["memory"], worker["desired_count"]) == (4096, 16384, 4)
    assert values.data["image"]["tag"] == "v3"            # --set-string after --set
    assert values.data["worker"]["stop_timeout_seconds"] == 120     # from defaults
    assert values.data["shared"]["cluster_name"] == "cricksy-ai-cluster"  # from prod.yaml
    sources = {path: str(src) for path, _, src in values.leaves()}
    assert sources[("worker", "cpu")] == f"{first}:2"
    assert sources[("worker", "memory")] == f"{second}:2"
    assert sources[("worker", "desired_count")] == "--set worker.desired_count=4"
    assert sources[("image", "tag")] == "--set-string image.tag=v3"
    assert sources[("logs", "retention_days")].startswith("environments/prod.yaml:")
    assert sources[("worker", "stop_timeout_seconds")].startswith("environments/defaults.yaml:")


def test_environment_list_replaces_default_list(root: Path):
    staging = load_values(root, "staging")
    names = [p["name"] for p in staging.data["worker"]["capacity_providers"]]
    assert names == ["FARGATE", "FARGATE_SPOT"]
    dev = load_values(root, "dev")
    assert [p["name"] for p in dev.data["worker"]["capacity_providers"]] == ["FARGATE_SPOT"]


@pytest.mark.parametrize("expression, expected", [
    ("a.b=2048", 2048),
    ("a.b=1.5", 1.5),
    ("a.b=true", True),
    ("a.b=no", "no"),          # YAML 1.2: not a boolean
    ("a.b=null", None),
    ("a.b=", ""),
    ("a.b=0123", 123),
    ("a.b=[x, y]", ["x", "y"]),
    ("a.b=${x}", "${x}"),
    ("a.b=k=v", "k=v"),        # only the first = separates path and value
])
def test_set_values_are_typed_as_yaml(expression, expected):
    assert parse_set(SetFlag(expression)).data == {"a": {"b": expected}}


@pytest.mark.parametrize("expression, expected", [
    ("a.b=2048", "2048"), ("a.b=true", "true"), ("a.b=null", "null"), ("a.b=[x]", "[x]"),
])
def test_set_string_keeps_text(expression, expected):
    assert parse_set(SetFlag(expression, as_string=True)).data == {"a": {"b": expected}}


def test_escaped_dot_stays_in_the_key():
    assert parse_set(SetFlag(r"tags.team\.name=video")).data == {"tags": {"team.name": "video"}}


@pytest.mark.parametrize("expression", ["novalue", "=1", "a..b=1", ".a=1", "a.=1"])
def test_malformed_set_is_rejected(expression):
    with pytest.raises(ValuesError) as err:
        parse_set(SetFlag(expression))
    assert f"--set {expression}" in str(err.value)
    assert "PATH=VALUE" in str(err.value)


def test_set_number_where_string_expected_is_caught_and_set_string_fixes_it(root: Path):
    with pytest.raises(ValuesError) as err:
        load_values(root, "prod", sets=[SetFlag("image.tag=123")])
    assert '--set image.tag=123: image.tag: 123 is not allowed: expected string' in str(err.value)
    values = load_values(root, "prod", sets=[SetFlag("image.tag=123", as_string=True)])
    assert values.data["image"]["tag"] == "123"
