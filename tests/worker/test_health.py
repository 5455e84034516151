"""`cricksy-worker health`: each state as a real process, and a real worker whose analysis hangs.

The health checks run with a database URL and AWS endpoint where nothing
listens: any connection attempt would turn a healthy answer into a failure.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aws import REPO_ROOT
from tests.worker.harness import STANDINS, Stack, TcpProxy, WorkerProcess, cli_path, run_cli, wait_until
from worker.analysis import model
from worker.config import load_settings, pose_model_path
from worker.health import HEARTBEAT_FILE, liveness_threshold

StartWorker = Callable[[dict[str, str]], WorkerProcess]
NOWHERE = "127.0.0.1:9"  # the discard port: nothing answers


@pytest.fixture(scope="module")
def verified_model() -> Path:
    """The pinned pose model, as `cricksy-worker fetch-model` installs it (scripts/setup.sh)."""
    try:
        model.load_verified_model(pose_model_path())
    except model.ModelError as exc:
        pytest.fail(f"{exc} -- the health check of the real analyzer needs the model", pytrace=False)
    return pose_model_path()


def health_env(scratch: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": REPO_ROOT,  # health loads the configured analyzer to ask what it needs
        "DATABASE_URL": f"postgresql://cricksy:pw@{NOWHERE}/cricksy",
        "SQS_VIDEO_ANALYSIS_QUEUE_URL": f"http://{NOWHERE}/123456789012/cricksy-video-analysis-test",
        "S3_COACH_VIDEOS_BUCKET": "cricksy-coach-videos",
        "AWS_REGION": "us-east-2",
        "AWS_ENDPOINT_URL": f"http://{NOWHERE}",
        "WORKER_TMP_DIR": str(scratch),
        "WORKER_ANALYZER": f"{STANDINS}:count_frames",
    }
    return {key: value for key, value in {**env, **overrides}.items() if value is not None}


def beat(scratch: Path, age: float = 0.0) -> Path:
    """A heartbeat file last touched `age` seconds ago."""
    path = scratch / HEARTBEAT_FILE
    path.touch()
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def unhealthy(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("unhealthy: "), result.stderr
    return result.stderr.strip()


def test_a_fresh_heartbeat_is_healthy(tmp_path: Path) -> None:
    beat(tmp_path, age=2)
    result = run_cli("health", env=health_env(tmp_path))
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"healthy: heartbeat (\d+\.\d) s old \(threshold 60 s\)\n", result.stdout)
    assert match, result.stdout
    assert 2.0 <= float(match[1]) < 60, result.stdout  # the age read is the file's, however slow the start
    assert result.stderr == ""


@pytest.mark.parametrize("age, overrides, threshold", [
    (61, {}, 60),  # default: WORKER_POLL_WAIT_SECONDS 20 + 40
    (50, {"WORKER_POLL_WAIT_SECONDS": "5"}, 45),
    (10, {"WORKER_LIVENESS_SECONDS": "7.5"}, 7.5),
])
def test_a_stale_heartbeat_is_unhealthy_and_says_how_old_it_is(
        tmp_path: Path, age: float, overrides: dict[str, str], threshold: float) -> None:
    path = beat(tmp_path, age=age)
    line = unhealthy(run_cli("health", env=health_env(tmp_path, **overrides)))
    match = re.fullmatch(rf"unhealthy: heartbeat {re.escape(str(path))} is (\d+\.\d) s old, over the {threshold:g} s "
                         r"liveness threshold: the worker loop is stuck \(.*\)", line)
    assert match, line
    assert age <= float(match[1]) < age + 10, line  # the age read is the file's, however slow the start


def test_the_liveness_override_can_also_widen_the_threshold(tmp_path: Path) -> None:
    beat(tmp_path, age=90)
    assert run_cli("health", env=health_env(tmp_path, WORKER_LIVENESS_SECONDS="120")).returncode == 0


def test_no_heartbeat_yet_is_unhealthy(tmp_path: Path) -> None:
    line = unhealthy(run_cli("health", env=health_env(tmp_path)))
    assert line == f"unhealthy: no heartbeat at {tmp_path / HEARTBEAT_FILE}: the worker loop has not started"


def test_the_real_analyzer_with_its_verified_model_is_healthy(tmp_path: Path, verified_model: Path) -> None:
    beat(tmp_path)
    env = health_env(tmp_path, WORKER_ANALYZER=None, POSE_MODEL_PATH=str(verified_model))
    result = run_cli("health", env=env)
    assert result.returncode == 0, result.stderr


def test_a_missing_model_is_unhealthy_and_says_how_to_fetch_it(tmp_path: Path) -> None:
    beat(tmp_path)
    missing = tmp_path / "models" / model.MODEL_NAME
    line = unhealthy(run_cli("health", env=health_env(tmp_path, WORKER_ANALYZER=None, POSE_MODEL_PATH=str(missing))))
    assert line == f"unhealthy: pose model not found at {missing}; {model.FETCH_HINT}"


def test_a_model_that_is_not_the_pinned_file_is_unhealthy(tmp_path: Path) -> None:
    beat(tmp_path)
    wrong = tmp_path / model.MODEL_NAME
    wrong.write_bytes(b"truncated")
    line = unhealthy(run_cli("health", env=health_env(tmp_path, POSE_MODEL_PATH=str(wrong),
                                                      WORKER_ANALYZER="worker.analysis:analyze")))
    assert f"pose model at {wrong} has sha256 " in line and f"expected {model.MODEL_SHA256}" in line
    assert "cricksy-worker fetch-model" in line


def test_a_stand_in_analyzer_needs_no_model(tmp_path: Path) -> None:
    beat(tmp_path)
    env = health_env(tmp_path, POSE_MODEL_PATH=str(tmp_path / "nope.task"))
    assert run_cli("health", env=env).returncode == 0


def test_an_invalid_configuration_is_unhealthy_with_the_first_problem_and_a_count(tmp_path: Path) -> None:
    beat(tmp_path)
    env = health_env(tmp_path, DATABASE_URL=None, WORKER_POLL_WAIT_SECONDS="99", METRICS_NAMESPACE="AWS/ECS")
    line = unhealthy(run_cli("health", env=env))
    assert line.startswith("unhealthy: configuration invalid: DATABASE_URL: missing; expected postgresql://")
    assert line.endswith(" (and 2 more)")


def test_health_imports_nothing_heavy_and_touches_no_service(tmp_path: Path, verified_model: Path) -> None:
    beat(tmp_path)
    env = {**health_env(tmp_path, WORKER_ANALYZER=None, POSE_MODEL_PATH=str(verified_model)),
           "PYTHONPATH": REPO_ROOT}
    result = subprocess.run([sys.executable, "-X", "importtime", cli_path(), "health"], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert {"worker.health", "worker.config", "worker.analysis.model"} <= imported  # the check ran, model included
    heavy = {"mediapipe", "cv2", "numpy", "scipy", "matplotlib", "boto3", "botocore", "s3transfer", "psycopg",
             "alembic", "worker.analysis.pipeline", "worker.analysis.pose", "worker.service", "worker.jobs", "worker.clients",
             "tests.support.standins"}
    assert not {name for name in imported if name.split(".")[0] in heavy or name in heavy}, sorted(imported)
    assert not any(name.startswith("sqlalchemy.dialects.") for name in imported)  # no database driver or engine


def test_the_default_threshold_is_the_poll_wait_plus_forty_seconds() -> None:
    base = {"DATABASE_URL": "sqlite:////tmp/x.db"}
    assert liveness_threshold(load_settings(base, aws=False)) == 60
    assert liveness_threshold(load_settings({**base, "WORKER_POLL_WAIT_SECONDS": "1"}, aws=False)) == 41
    assert liveness_threshold(load_settings({**base, "WORKER_LIVENESS_SECONDS": "90"}, aws=False)) == 90


# -- real workers ------------------------------------------------------------------------------

def healthy_throughout(env: dict[str, str], seconds: float) -> None:
    """`health` passes on every check for `seconds` (longer than the threshold, so freshness is renewed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = run_cli("health", env=env)
        assert result.returncode == 0, result.stderr
        time.sleep(0.3)


def test_a_hung_analysis_fails_health_while_the_lease_heartbeat_keeps_the_job(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    env = pg_stack.env(WORKER_ANALYZER=f"{STANDINS}:hang", WORKER_POLL_WAIT_SECONDS="1", WORKER_LIVENESS_SECONDS="3",
                       WORKER_VISIBILITY_TIMEOUT_SECONDS="3")
    worker = start_worker(env)
    worker.wait_for("worker.started")
    healthy_throughout(env, 5)  # idle long polls keep it alive

    job_id = str(pg_stack.submit(clip))
    worker.wait_for("job.analysis_started", job_id=job_id)
    failed = wait_until(lambda: (r := run_cli("health", env=env)).returncode == 1 and r, 20, "health to fail")
    assert "s old, over the 3 s liveness threshold: the worker loop is stuck" in unhealthy(failed)

    # Stuck, but not dead: the background thread still extends the lease and hides the message,
    # and it never touches the heartbeat file.
    heartbeat = pg_stack.worker_tmp / HEARTBEAT_FILE
    stale_mtime = heartbeat.stat().st_mtime
    lease = pg_stack.row(job_id)["lease_expires_at"]
    wait_until(lambda: pg_stack.row(job_id)["lease_expires_at"] > lease, 10, "the lease to be extended again")
    time.sleep(3)  # one more visibility timeout: the message would be visible by now without the heartbeat
    row = pg_stack.row(job_id)
    assert (row["status"], row["attempts"]) == ("processing", 1)
    assert pg_stack.jobs.lease_remaining(job_id) > 0
    assert pg_stack.queues.counts() == (0, 1)
    assert heartbeat.stat().st_mtime == stale_mtime
    unhealthy(run_cli("health", env=env))
    assert worker.proc.poll() is None
    assert not worker.events("heartbeat.queue_failed") and not worker.events("heartbeat.database_failed")


@pytest.fixture
def dead_database(pg_stack: Stack) -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.cut()
    yield proxy
    proxy.cut()


def test_a_worker_waiting_for_its_database_stays_healthy(
        pg_stack: Stack, start_worker: StartWorker, dead_database: TcpProxy) -> None:
    url = pg_stack.database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{dead_database.port}/")
    env = pg_stack.env(DATABASE_URL=url, WORKER_LIVENESS_SECONDS="3")
    worker = start_worker(env)
    worker.wait_for("worker.start_retry")
    healthy_throughout(env, 6)
    assert len(worker.events("worker.start_retry")) >= 2  # still retrying, with backoff, all along
    assert not worker.events("worker.started")
