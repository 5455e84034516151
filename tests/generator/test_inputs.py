"""Bad inputs are a clean exit 2 naming file, line, key, value and what is allowed: never a traceback."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import yamlio
from generator.cli import main
from generator.errors import ValuesError
from generator.values import SetFlag, load_values

REPO = Path(__file__).resolve().parents[2]
INT32_MAX = 2**31 - 1


def run(root: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--root", str(root)], catch_exceptions=False)


def problems(root: Path, env: str = "prod", sets=(), files=()) -> list[str]:
    with pytest.raises(ValuesError) as err:
        load_values(root, env, files, [SetFlag(s) for s in sets])
    return [str(p) for p in err.value.problems]


# --- 1. integers are integers ---------------------------------------------------

def test_whole_number_floats_are_refused_with_the_fix(root: Path):
    result = run(root, "render", "--env", "dev", "--set", "worker.cpu=512.0", "--set", "worker.memory=1024.0",
                 "--set", "worker.visibility_extension_seconds=120.0")
    assert result.exit_code == 2
    assert ("--set worker.cpu=512.0: worker.cpu: 512.0 is not allowed: expected integer (Fargate CPU units); "
            "write 512, without a decimal point or exponent") in result.stderr
    assert "worker.memory: 1024.0 is not allowed: expected integer" in result.stderr
    assert "worker.visibility_extension_seconds: 120.0 is not allowed" in result.stderr
    assert not (root / "infra").exists()


def test_exponent_in_a_values_file_is_refused_with_its_line(root: Path, tmp_path: Path):
    extra = tmp_path / "big.yaml"
    extra.write_text("worker:\n  max_video_bytes: 5e8\n")
    found = problems(root, "dev", files=[extra])
    assert found == [f"{extra}:2: worker.max_video_bytes: 500000000.0 is not allowed: expected integer (an S3 "
                     "object is at most 5 TiB); write 500000000, without a decimal point or exponent"]


def test_a_fraction_is_refused_too(root: Path):
    assert any("worker.cpu: 512.5 is not allowed: expected integer" in p and "a whole number is required" in p
               for p in problems(root, sets=["worker.cpu=512.5"]))


# --- 8. every integer has an AWS-true maximum -------------------------------------

def _integers(node, path=()):
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield path, node
        for key, child in node.items():
            yield from _integers(child, path + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _integers(child, path + (index,))


def test_every_integer_in_the_schema_is_bounded():
    schema = json.loads((REPO / "environments" / "values.schema.json").read_text())
    found = list(_integers(schema))
    assert len(found) >= 30
    for path, node in found:
        assert "minimum" in node and "maximum" in node, path
        assert node["maximum"] <= INT32_MAX or path[-1] == "max_video_bytes", path


@pytest.mark.parametrize("value", [str(10**25), "3000000000", "5001"])
def test_max_count_beyond_what_ecs_runs_is_refused(root: Path, value: str):
    found = problems(root, sets=[f"autoscaling.max_count={value}"])
    assert any(f"autoscaling.max_count: {value} is not allowed: expected at most 5000" in p for p in found), found


def test_3e9_is_refused_as_a_float_and_as_too_large(root: Path):
    found = problems(root, sets=["autoscaling.max_count=3e9"])
    assert any("3000000000.0 is not allowed: expected integer" in p for p in found), found


@pytest.mark.parametrize("key", ["queue.delay_seconds", "worker.stop_timeout_seconds", "logs.retention_days",
                                 "worker.health_check.retries", "autoscaling.scale_in_cooldown_seconds"])
def test_huge_integers_never_reach_terraform(root: Path, key: str):
    found = problems(root, sets=[f"{key}={10**25}"])
    assert any(f"{key}: {10**25} is not allowed: expected at most" in p for p in found), found


# --- 5. YAML edge cases -----------------------------------------------------------

def test_anchored_boolean_stays_a_boolean(root: Path, tmp_path: Path):
    extra = tmp_path / "anchors.yaml"
    extra.write_text("terraform:\n  backend:\n    encrypt: &yes true\n    use_lockfile: *yes\n"
                     "worker:\n  desired_count: &dc true\n")
    found = problems(root, "dev", files=[extra])
    assert found == [f"{extra}:6: worker.desired_count: true is not allowed: expected integer (tasks at creation; "
                     "autoscaling owns it afterwards; ECS runs at most 5000 tasks per service)"]
    extra.write_text("terraform:\n  backend:\n    encrypt: &yes true\n    use_lockfile: *yes\n")
    backend = load_values(root, "dev", [extra]).data["terraform"]["backend"]
    assert backend["encrypt"] is True and backend["use_lockfile"] is True


def test_merge_keys_work_and_report_where_each_value_was_written(root: Path, tmp_path: Path):
    extra = tmp_path / "merge.yaml"
    extra.write_text("x-sizes: &big\n  cpu: 2048\n  memory: 8192\n"
                     "worker:\n  <<: *big\n  memory: 4096\n")
    result = run(root, "values", "--env", "dev", "-f", str(extra), "--explain", "--format", "json")
    assert result.exit_code == 2  # x-sizes is not a known key: merge sources must live somewhere allowed
    assert f"{extra}:1: x-sizes: unknown key 'x-sizes'" in result.stderr
    extra.write_text("tags:\n  team: &team video\n"
                     "worker:\n  <<: {cpu: 2048, memory: 8192}\n  memory: 4096\n")
    explained = json.loads(run(root, "values", "--env", "dev", "-f", str(extra), "--explain", "--format",
                               "json").stdout)
    rows = {row["path"]: row for row in explained}
    assert (rows["worker.cpu"]["value"], rows["worker.cpu"]["source"]) == (2048, f"{extra}:4")
    assert (rows["worker.memory"]["value"], rows["worker.memory"]["source"]) == (4096, f"{extra}:5")
    assert rows["tags.team"]["value"] == "video"


def test_alias_expansion_is_bounded(root: Path, tmp_path: Path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")  # 10^7 leaves once expanded
    found = problems(root, "dev", files=[bomb])
    assert len(found) == 1 and found[0].startswith(f"{bomb}:")
    assert f"expands to more than {yamlio.MAX_NODES} values" in found[0]


def test_deep_nesting_is_refused(root: Path, tmp_path: Path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("worker: " + "[" * 500 + "]" * 500 + "\n")
    assert problems(root, "dev", files=[deep]) == [f"{deep}:1: nested deeper than {yamlio.MAX_DEPTH} levels"]
    block = tmp_path / "block.yaml"
    block.write_text("".join("  " * i + f"k{i}:\n" for i in range(500)) + "  " * 500 + "v: 1\n")
    assert problems(root, "dev", files=[block]) == [f"{block}:33: nested deeper than {yamlio.MAX_DEPTH} levels"]


def test_deep_set_value_and_long_set_path_are_refused(root: Path):
    result = run(root, "render", "--env", "dev", "--set", "tags.x=" + "[" * 500 + "]" * 500)
    assert result.exit_code == 2 and f"nested deeper than {yamlio.MAX_DEPTH} levels" in result.stderr
    path = ".".join(["a"] * 3000)
    result = run(root, "render", "--env", "dev", "--set", f"{path}=1")
    assert result.exit_code == 2
    assert f"the path has 3000 parts; at most {yamlio.MAX_DEPTH} are allowed" in result.stderr
    assert len(result.stderr) < 30000


def test_oversized_values_file_is_refused(root: Path, tmp_path: Path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("# padding\n" * (yamlio.MAX_BYTES // 10 + 1))
    assert problems(root, "dev", files=[huge]) == [f"{huge}: larger than {yamlio.MAX_BYTES} bytes; "
                                                   "values files are small by design"]


def test_values_file_that_is_not_utf8(root: Path, tmp_path: Path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"tags:\n  owner: J\xe9r\xf4me\n")
    (found,) = problems(root, "dev", files=[latin])
    assert found.startswith(f"{latin}: cannot read values file: not UTF-8 text")


# --- 7. oneOf errors name the deepest key, its own source, and what is allowed ---------

def test_one_of_reports_the_deepest_key_and_its_own_source(root: Path):
    found = problems(root, sets=["terraform.backend.encrypt=yes"])
    assert found == ['--set terraform.backend.encrypt=yes: terraform.backend.encrypt: "yes" is not allowed: '
                     "expected boolean"]
    found = problems(root, sets=["terraform.backend.colour=red"])
    assert found == ["--set terraform.backend.colour=red: terraform.backend.colour: unknown key 'colour' "
                     "(allowed here: bucket, encrypt, key, region, use_lockfile)"]


def test_one_of_with_no_branch_of_the_right_type_lists_the_choices(root: Path):
    assert problems(root, sets=["logs.kms_key_arn=5"]) == [
        "--set logs.kms_key_arn=5: logs.kms_key_arn: 5 is not allowed: expected null or string matching "
        "^arn:aws[a-z-]*:kms:"]
    assert problems(root, sets=["logs.kms_key_arn=key"]) == [
        '--set logs.kms_key_arn=key: logs.kms_key_arn: "key" is not allowed: expected text matching '
        "^arn:aws[a-z-]*:kms:"]


# --- 9. environment names -------------------------------------------------------

def test_environment_names_must_match_the_pattern(root: Path):
    (root / "environments" / "a b$(x).yaml").write_text("{}\n")
    for command in (["envs"], ["render", "--all"], ["check", "--all"]):
        result = run(root, *command)
        assert result.exit_code == 2, command
        assert ("environments/a b$(x).yaml: environment name 'a b$(x)' is not allowed: expected lowercase "
                "letters and digits, single dashes between them, starting with a letter, at most 16 "
                "characters; rename the file") in result.stderr
    (root / "environments" / "a b$(x).yaml").unlink()
    for name in ("../dev", "Prod", "dev-", "x" * 17):
        result = run(root, "values", "--env", name)
        assert result.exit_code == 2 and f"--env {name}: environment name {name!r} is not allowed" in result.stderr
    (root / "environments" / "qa-2.yaml").write_text("{}\n")
    assert "qa-2" in run(root, "envs").stdout.split()


# --- 12. prod notifies somebody -----------------------------------------------------

def test_prod_without_any_alarm_action_is_refused(root: Path):
    found = problems(root, "prod", sets=["alarms.subscriptions=[]"])
    assert found == ["--set alarms.subscriptions=[]: alarms: prod must notify somebody when an alarm fires: give "
                     "alarms.subscriptions at least one subscription, or alarms.actions at least one SNS topic ARN"]
    load_values(root, "prod", sets=[SetFlag("alarms.subscriptions=[]"),
                                    SetFlag("alarms.actions=[arn:aws:sns:us-east-2:123456789012:pager]")])
    load_values(root, "dev")  # dev may stay silent


# --- 11. start-up: only lint needs botocore ----------------------------------------

@pytest.mark.parametrize("command", [["envs"], ["check", "--all"], ["values", "--env", "prod"]])
def test_light_commands_import_no_aws_sdk_or_database_driver(command: list[str]):
    script = ("import sys\nfrom generator.cli import main\n"
              "try:\n    main(sys.argv[1:], standalone_mode=False)\n"
              "finally:\n    print(sorted(m for m in ('botocore', 'boto3', 'sqlalchemy', 'mediapipe', 'cv2')"
              " if m in sys.modules), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script, *command], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"
