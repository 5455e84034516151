"""The command line: atomic writes, drift detection and its exit codes, help and errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import output
from generator.cli import main
from generator.render import template_names

REPO = Path(__file__).resolve().parents[2]
FILES = len(template_names(REPO))  # every environment renders every template (backend included)


def run(root: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--root", str(root)], catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_committed_infra_matches_a_fresh_render():
    """The guard CI relies on: committed Terraform equals what the generator renders."""
    result = subprocess.run([sys.executable, "-m", "generator", "check", "--all"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [f"{e}: infra/{e} is up to date" for e in ("dev", "prod", "staging")]


def test_render_writes_every_environment_and_reports(root: Path):
    result = run(root, "render", "--all")
    assert result.exit_code == 0, result.stderr
    for env in ("dev", "staging", "prod"):
        assert f"{env}: {root / 'infra' / env}: {FILES} written, 0 unchanged" in result.stdout
        assert (root / "infra" / env / "ecs.tf.json").is_file()
    again = run(root, "render", "--all")
    assert f"0 written, {FILES} unchanged" in again.stdout


def test_out_overrides_the_folder(root: Path, tmp_path: Path):
    assert run(root, "render", "--env", "dev", "--out", str(tmp_path / "x")).exit_code == 0
    assert (tmp_path / "x" / "ecs.tf.json").is_file()
    assert run(root, "render", "--all", "--out", str(tmp_path / "y")).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == ["dev", "prod", "staging"]


def test_failed_render_leaves_previous_output_untouched(root: Path):
    assert run(root, "render", "--all").exit_code == 0
    before = {env: snapshot(root / "infra" / env) for env in ("dev", "staging", "prod")}
    # staging renders fine with this flag, prod does not: with --all, nothing may change anywhere.
    result = run(root, "render", "--all", "--set", "worker.desired_count=1")
    assert result.exit_code == 2
    assert "environments" not in result.stdout
    assert "worker.desired_count: 1 is outside the autoscaling bounds (min_count 2 to max_count 20)" in result.stderr
    assert "nothing was written" in result.stderr
    assert {env: snapshot(root / "infra" / env) for env in ("dev", "staging", "prod")} == before


def test_write_error_midway_changes_nothing_and_leaves_no_temp_files(root: Path, monkeypatch):
    assert run(root, "render", "--env", "dev").exit_code == 0
    folder = root / "infra" / "dev"
    before = snapshot(folder)
    real_fdopen = os.fdopen
    calls = []

    def failing_fdopen(fd, *args, **kwargs):
        calls.append(fd)
        if len(calls) == 3:
            os.close(fd)
            raise OSError(28, "No space left on device")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(output.os, "fdopen", failing_fdopen)
    result = run(root, "render", "--env", "dev", "--set", "worker.cpu=1024", "--set", "worker.memory=2048",
                 "--set", "logs.retention_days=14", "--set", "queue.max_receive_count=4", "--set-string", "tags.x=1")
    assert result.exit_code == 2  # never 1, which CI reads as drift
    assert result.stderr.count("\n") == 1 and "No space left on device; nothing was changed" in result.stderr
    assert len(calls) == 3
    assert snapshot(folder) == before


def test_check_exit_codes_clean_drifted_missing_extra_invalid(root: Path):
    assert run(root, "render", "--all").exit_code == 0
    folder = root / "infra" / "prod"

    clean = run(root, "check", "--all")
    assert clean.exit_code == 0 and clean.stderr == ""

    ecs = folder / "ecs.tf.json"
    original = ecs.read_text()
    ecs.write_text(original.replace('"desired_count": 2', '"desired_count": 3'))
    drifted = run(root, "check", "--env", "prod")
    assert drifted.exit_code == 1
    assert f"drift: {ecs} differs from a fresh render" in drifted.stderr
    assert "fix: run `cricksy-gen render --env prod`, review, commit" in drifted.stderr
    ecs.write_text(original)

    (folder / "queue.tf.json").unlink()
    missing = run(root, "check", "--all")
    assert missing.exit_code == 1
    assert f"drift: {folder / 'queue.tf.json'} is missing" in missing.stderr
    assert run(root, "render", "--env", "prod").exit_code == 0

    (folder / "old.tf.json").write_text("{}\n")
    extra = run(root, "check", "--env", "prod")
    assert extra.exit_code == 1
    assert f"drift: {folder / 'old.tf.json'} is no longer rendered" in extra.stderr
    assert "--prune" in extra.stderr

    invalid = run(root, "check", "--env", "prod")  # still drifted, but invalid input wins
    (root / "environments" / "prod.yaml").write_text("worker: {cpu: 3}\n")
    invalid = run(root, "check", "--env", "prod")
    assert invalid.exit_code == 2
    assert "environments/prod.yaml:1: worker.cpu: 3 is not a Fargate CPU size" in invalid.stderr


def test_hand_written_and_terraform_files_are_never_touched(root: Path):
    folder = root / "infra" / "dev"
    folder.mkdir(parents=True)
    (folder / "notes.tf").write_text("# mine\n")
    (folder / ".terraform.lock.hcl").write_text("# lock\n")
    (folder / "stale.tf.json").write_text("{}\n")
    result = run(root, "render", "--env", "dev")
    assert result.exit_code == 0
    assert f"warning: {folder / 'stale.tf.json'} is no longer rendered" in result.stderr
    assert (folder / "stale.tf.json").exists()
    pruned = run(root, "render", "--env", "dev", "--prune")
    assert "1 removed" in pruned.stdout
    assert not (folder / "stale.tf.json").exists()
    assert (folder / "notes.tf").read_text() == "# mine\n"
    assert (folder / ".terraform.lock.hcl").read_text() == "# lock\n"


def test_diff_shows_exactly_the_change(root: Path):
    assert run(root, "render", "--env", "prod").exit_code == 0
    assert run(root, "diff", "--env", "prod").stdout == ""
    result = run(root, "diff", "--env", "prod", "--set", "autoscaling.min_count=1")
    assert result.exit_code == 0
    changed = [line for line in result.stdout.splitlines()
               if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
    assert changed == ['-        "min_capacity": 2,', '+        "min_capacity": 1,']
    assert f"--- {root / 'infra' / 'prod' / 'autoscaling.tf.json'}" in result.stdout


def test_diff_of_a_missing_folder_creates_every_file(root: Path):
    result = run(root, "diff", "--env", "dev")
    assert result.stdout.count("--- /dev/null") == FILES


def test_values_yaml_json_and_explain(root: Path):
    as_json = json.loads(run(root, "values", "--env", "staging", "--format", "json").stdout)
    assert as_json["worker"]["cpu"] == 1024
    as_yaml = run(root, "values", "--env", "staging").stdout
    assert "cpu: 1024" in as_yaml
    explained = run(root, "values", "--env", "staging", "--set", "worker.memory=3072", "--explain").stdout
    lines = {line.split()[0]: line for line in explained.splitlines()}
    assert lines["worker.memory"].endswith("3072  # --set worker.memory=3072")
    assert lines["worker.cpu"].split("# ")[1].startswith("environments/staging.yaml:")
    assert lines["worker.max_job_seconds"].split("# ")[1].startswith("environments/defaults.yaml:")
    explained_json = json.loads(run(root, "values", "--env", "dev", "--explain", "--format", "json").stdout)
    line = (root / "environments" / "dev.yaml").read_text().splitlines().index("  cpu: 512") + 1
    assert {"path": "worker.cpu", "value": 512, "source": f"environments/dev.yaml:{line}"} in explained_json


def test_envs_lists_environment_files(root: Path):
    (root / "environments" / "qa.yaml").write_text("{}\n")
    assert run(root, "envs").stdout.splitlines() == ["dev", "prod", "qa", "staging"]


def test_lint_validates_without_writing(root: Path):
    result = run(root, "lint", "--all")
    assert result.exit_code == 0
    assert not (root / "infra").exists()
    bad = run(root, "lint", "--env", "dev", "--set", "logs.retention_days=31")
    assert bad.exit_code == 2


def test_usage_errors_exit_2(root: Path):
    assert run(root, "render").exit_code == 2
    assert run(root, "render", "--env", "dev", "--all").exit_code == 2
    missing_root = CliRunner().invoke(main, ["envs", "--root", str(root / "nowhere")])
    assert missing_root.exit_code == 2
    assert "environments: folder not found; run from the repository root or pass --root" in missing_root.stderr


@pytest.mark.parametrize("command", ["render", "values", "diff", "check", "lint", "envs"])
def test_every_command_has_help_with_an_example(command: str):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout and "cricksy-gen" in result.stdout


def test_lint_warns_about_example_values_until_they_are_replaced(root: Path, tmp_path: Path):
    result = run(root, "lint", "--env", "prod")
    assert result.exit_code == 0
    line = (root / "environments" / "prod.yaml").read_text().splitlines().index("  subnet_ids: [subnet-0f3b9d2a6c8e40301, subnet-0f3b9d2a6c8e40302, subnet-0f3b9d2a6c8e40303]") + 1
    assert (f"warning: environments/prod.yaml:{line}: shared.subnet_ids: subnet-0f3b9d2a6c8e40301 is an example "
            "value; replace it before the first apply (README: Before the first apply)") in result.stderr
    assert "alarms.subscriptions: cricksy-oncall@example.com is an example value" in result.stderr
    real = tmp_path / "real.yaml"
    real.write_text("shared:\n  subnet_ids: [subnet-0a1b2c3d4e5f60001]\n  security_group_ids: [sg-0a1b2c3d4e5f60002]\n"
                    "alarms:\n  subscriptions: [{protocol: email, endpoint: oncall@cricksy.ai}]\n")
    clean = run(root, "lint", "--env", "prod", "-f", str(real))
    assert clean.exit_code == 0 and "warning" not in clean.stderr
