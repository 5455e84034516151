"""The operator commands as real processes: init-db, submit, status, requeue."""
from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws import Queues, worker_environ
from tests.worker.harness import Stack, WorkerProcess, parse_events, run_cli, wait_until
from worker.config import load_settings
from worker.jobs import JobStore, create_engine


def test_init_db_twice_is_safe_and_keeps_rows(database_url: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url}  # needs nothing but the database
    first = run_cli("init-db", env=env)
    assert first.returncode == 0, first.stderr
    (migrated,) = [e for e in parse_events(first.stderr) if e["event"] == "db.migrated"]
    assert (migrated["from_revision"], migrated["to_revision"]) == (None, "0003")

    job_id = uuid.uuid4()
    store = JobStore(create_engine(load_settings(env, aws=False).database_url))
    store.create(job_id, "cricksy-coach-videos", f"uploads/{job_id}/a.mp4")

    second = run_cli("init-db", env=env)
    assert second.returncode == 0, second.stderr
    (migrated,) = [e for e in parse_events(second.stderr) if e["event"] == "db.migrated"]
    assert (migrated["from_revision"], migrated["to_revision"]) == ("0003", "0003")
    assert store.get(job_id)["status"] == "queued"
    store.engine.dispose()


def test_init_db_reports_an_unreachable_database_without_its_password() -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://cricksy:hunter2@127.0.0.1:9/cricksy"}
    result = run_cli("init-db", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: init-db failed: ")
    assert "127.0.0.1" in result.stderr and "hunter2" not in result.stderr


def test_submit_prints_only_the_job_id_and_queues_the_job(pg_stack: Stack, clip: Path) -> None:
    result = run_cli("submit", str(clip), env=pg_stack.env())
    assert result.returncode == 0, result.stderr
    job_id = uuid.UUID(result.stdout.strip())
    assert result.stdout == f"{job_id}\n"

    row = pg_stack.row(job_id)
    assert (row["status"], row["attempts"], row["s3_bucket"]) == ("queued", 0, pg_stack.bucket)
    assert row["s3_key"] == f"uploads/{job_id}/swing.mp4"
    assert pg_stack.object_body(row["s3_key"]) == clip.read_bytes()
    assert pg_stack.queues.receive_bodies() == [json.dumps({"job_id": str(job_id)})]
    assert [e["event"] for e in parse_events(result.stderr)] == ["job.submitted", "job.queued"]


def test_submit_stores_the_options_its_flags_give(pg_stack: Stack, clip: Path) -> None:
    result = run_cli("submit", str(clip), "--activity", "batting", "--handedness", "left", "--view", "side-on",
                     "--subject", "0.1,0.2,0.3,0.4", "--max-fps", "50", env=pg_stack.env())
    assert result.returncode == 0, result.stderr
    row = pg_stack.row(result.stdout.strip())
    assert row["options"] == {"activity": "batting", "handedness": "left", "view": "side-on", "max_fps": 50.0,
                              "subject": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}}


@pytest.mark.parametrize("flags, named", [
    (["--max-fps", "500"], "invalid option 'max_fps' at $.max_fps: got 500.0; allowed: 10 to 60"),
    (["--max-fps", "fast"], "invalid option 'max_fps' at --max-fps: 'fast' is not a number"),
    (["--subject", "0.9,0.9,0.5,0.5"], "invalid option 'subject' at $.subject: the box"),
])
def test_submit_refuses_a_bad_option_before_uploading_anything(pg_stack: Stack, clip: Path, flags: list[str],
                                                               named: str) -> None:
    result = run_cli("submit", str(clip), *flags, env=pg_stack.env())
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {named}"), result.stderr
    assert pg_stack.s3.list_objects_v2(Bucket=pg_stack.bucket).get("KeyCount", 0) == 0
    assert pg_stack.queues.counts() == (0, 0)


def test_submit_refuses_a_missing_file(pg_stack: Stack, tmp_path: Path) -> None:
    result = run_cli("submit", str(tmp_path / "nope.mp4"), env=pg_stack.env())
    assert result.returncode == 2
    assert "nope.mp4' does not exist" in result.stderr


def test_status_prints_the_row_as_json(pg_stack: Stack, clip: Path) -> None:
    job_id = pg_stack.submit(clip)
    result = run_cli("status", str(job_id), env={"PATH": "/usr/bin:/bin", "DATABASE_URL": pg_stack.database_url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == pg_stack.row(job_id)
    assert json.loads(result.stdout)["status"] == "queued"


@pytest.mark.parametrize("job_id, code, message", [
    ("3f2b8c1e-0000-4000-8000-000000000000", 1,
     "error: status failed: job 3f2b8c1e-0000-4000-8000-000000000000 does not exist in video_analysis_jobs"),
    ("not-a-uuid", 2, "'not-a-uuid' is not a job id"),
])
def test_status_of_an_unknown_or_malformed_id(pg_stack: Stack, job_id: str, code: int, message: str) -> None:
    result = run_cli("status", job_id, env=pg_stack.env())
    assert result.returncode == code
    assert message in result.stderr


def requeued(result: subprocess.CompletedProcess[str], job_id: uuid.UUID) -> dict:
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{job_id}\n"
    (event,) = [e for e in parse_events(result.stderr) if e["event"] == "job.requeued"]
    assert event["job_id"] == str(job_id)
    return event


def test_requeue_re_drives_a_failed_job(pg_stack: Stack, clip: Path) -> None:
    job_id = pg_stack.submit(clip)
    pg_stack.queues.receive_bodies()  # the submit's message, consumed
    claim = pg_stack.jobs.claim(job_id, 60, "test")
    pg_stack.jobs.fail(claim, "the video lasts 400 s, longer than the 300 s limit")
    event = requeued(run_cli("requeue", str(job_id), env=pg_stack.env()), job_id)
    assert event["previous_status"] == "failed"
    assert event["detail"] == "was failed: error cleared, back to queued, new message sent"
    row = pg_stack.row(job_id)
    assert (row["status"], row["error"], row["attempts"]) == ("queued", None, 1)
    assert pg_stack.queues.receive_bodies(wait=2) == [json.dumps({"job_id": str(job_id)})]


def test_requeue_refuses_a_completed_job_and_a_job_a_worker_holds(pg_stack: Stack, clip: Path) -> None:
    done, held = pg_stack.submit(clip), pg_stack.submit(clip)
    pg_stack.queues.receive_bodies()
    pg_stack.jobs.complete(pg_stack.jobs.claim(done, 60, "w1"), {"frames": 12})
    pg_stack.jobs.claim(held, 300, "w2")

    refused = run_cli("requeue", str(done), env=pg_stack.env())
    assert refused.returncode == 1
    assert f"error: requeue failed: job {done} is completed; a completed job is never run again" in refused.stderr
    refused = run_cli("requeue", str(held), env=pg_stack.env())
    assert refused.returncode == 1
    assert f"job {held} is processing and w2 holds its lease for another " in refused.stderr
    assert "requeue it once the lease has expired" in refused.stderr
    assert (pg_stack.row(done)["status"], pg_stack.row(held)["status"]) == ("completed", "processing")
    assert pg_stack.queues.counts() == (0, 2)  # the two submit messages consumed above; nothing sent


def test_requeue_re_drives_jobs_the_dead_letter_queue_stranded_and_each_runs_once(
        pg_stack: Stack, clip: Path, sqs: Any, start_worker: Callable[..., WorkerProcess]) -> None:
    # The queue gave up on both messages while the database was unreachable: the rows never heard of it.
    queued, abandoned = pg_stack.submit(clip), pg_stack.submit(clip)
    messages = sqs.receive_message(QueueUrl=pg_stack.queues.url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 2
    for message in messages:
        sqs.send_message(QueueUrl=pg_stack.queues.dlq_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=pg_stack.queues.url, ReceiptHandle=message["ReceiptHandle"])
    pg_stack.jobs.claim(abandoned, 1, "vanished-worker")  # its worker died; the lease runs out
    wait_until(lambda: pg_stack.jobs.lease_remaining(abandoned) < 0, 5, "the lease to expire")
    assert pg_stack.queues.counts() == (0, 0)

    event = requeued(run_cli("requeue", str(queued), env=pg_stack.env()), queued)
    assert event["previous_status"] == "queued"
    assert "moved to the dead-letter queue" in event["detail"]
    event = requeued(run_cli("requeue", str(abandoned), env=pg_stack.env()), abandoned)
    assert event["previous_status"] == "processing"
    assert event["detail"].startswith("was processing, but its lease expired ")
    assert (pg_stack.row(abandoned)["status"], pg_stack.row(abandoned)["lease_owner"]) == ("queued", None)
    # An operator who requeues twice only adds a message; the conditional claim still runs the job once.
    requeued(run_cli("requeue", str(queued), env=pg_stack.env()), queued)
    assert pg_stack.queues.counts() == (3, 0)

    worker = start_worker(pg_stack.env())
    for job_id in (queued, abandoned):
        worker.wait_for("job.completed", job_id=str(job_id))
    wait_until(lambda: pg_stack.queues.counts() == (0, 0), 20, "every message to be deleted")
    worker.wait_for("job.duplicate", job_id=str(queued))
    assert [e["job_id"] for e in worker.events("job.completed")].count(str(queued)) == 1
    assert (pg_stack.row(queued)["attempts"], pg_stack.row(abandoned)["attempts"]) == (1, 2)


def test_a_submit_whose_message_cannot_be_sent_leaves_a_failed_job_to_requeue(pg_stack: Stack, clip: Path) -> None:
    result = run_cli("submit", str(clip), env=pg_stack.env(SQS_VIDEO_ANALYSIS_QUEUE_URL=pg_stack.queues.url + "-gone"))
    assert result.returncode == 1
    assert result.stdout == ""
    (submitted,) = [e for e in parse_events(result.stderr) if e["event"] == "job.submitted"]
    job_id = submitted["job_id"]
    row = pg_stack.row(job_id)
    assert row["status"] == "failed"
    assert "submit could not send the queue message" in row["error"]
    assert f"run `cricksy-worker requeue {job_id}`" in row["error"]

    assert run_cli("requeue", job_id, env=pg_stack.env()).returncode == 0
    assert pg_stack.row(job_id)["status"] == "queued"
    assert pg_stack.queues.receive_bodies(wait=2) == [json.dumps({"job_id": job_id})]


def test_run_refuses_an_uninitialised_database(postgres_url: str, moto_endpoint: str, queues: Queues,
                                               bucket: str) -> None:
    env = worker_environ(moto_endpoint, database_url=postgres_url, queue_url=queues.url, bucket=bucket)
    result = run_cli("run", env=env)
    assert result.returncode == 1
    (failed,) = [e for e in parse_events(result.stderr) if e["event"] == "worker.failed"]
    assert "the database schema is at revision none, this worker needs 0003: run `cricksy-worker init-db`" in (
        failed["error"])


def test_run_reports_an_analyzer_that_cannot_be_loaded(pg_stack: Stack) -> None:
    result = run_cli("run", env=pg_stack.env(WORKER_ANALYZER="worker.no_such_module:analyze"))
    assert result.returncode == 2
    assert "WORKER_ANALYZER: cannot load 'worker.no_such_module:analyze'" in result.stderr
