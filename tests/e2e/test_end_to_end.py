"""Render -> apply -> worker -> result, through scripts/e2e.py exactly as a person runs it.

The script starts the worker with what the applied task definition declares, so a
disagreement between templates and worker (queue, variable names, command, S3
prefixes the task role allows) fails here.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, postgres_admin) -> dict:
    path = tmp_path_factory.mktemp("e2e") / "report.json"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "e2e.py"), "--report", str(path)],
                            cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert path.exists(), result.stdout + result.stderr
    data = json.loads(path.read_text())
    data["exit_code"] = result.returncode
    return data


def test_every_check_of_the_script_holds(report: dict):
    failed = [name for name, ok in report["checks"].items() if not ok]
    assert failed == [] and report["ok"] and report["exit_code"] == 0, json.dumps(report, indent=2)
    assert len(report["checks"]) >= 15


def test_stack_applied_and_worker_started_as_declared(report: dict):
    assert report["terraform"] == {"apply_exit": 0, "plan_exit": 0}
    declared = report["task_definition"]
    assert declared["family"] == "cricksy-ai-worker-dev"
    assert declared["argv"] == ["cricksy-worker", "run"]


def test_real_video_completed_with_pictures_inside_the_allowed_prefix(report: dict):
    person = report["jobs"]["person"]
    assert person["status"] == "completed" and person["attempts"] == 1
    assert person["detection_rate"] >= 0.8 and person["frames_analyzed"] >= 50
    assert person["s3_key"].startswith("uploads/")
    bucket, may_write = report["s3"]["bucket"], report["iam"]["may_write"]
    assert may_write == f"{bucket}/results/*"
    for name in ("contact_sheet", "angle_chart", "landmarks"):
        assert person["artifacts"][name].startswith(f"results/{person['id']}/")
        assert report["s3"]["artifact_bytes"][name] > 1000


def test_broken_video_failed_with_a_reason(report: dict):
    broken = report["jobs"]["broken"]
    assert broken["status"] == "failed"
    assert "not a video" in broken["error"]


def test_nothing_left_behind_and_clean_shutdown(report: dict):
    assert report["queues"] == {"jobs": {"waiting": 0, "in_flight": 0}, "dead_letter": {"waiting": 0, "in_flight": 0}}
    assert report["shutdown"]["exit_code"] == 0
    assert report["shutdown"]["seconds"] < report["task_definition"]["stop_timeout"]
    assert report["logs"]["lines"] == report["logs"]["json_lines"] > 0
