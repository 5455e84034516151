"""Issue 14: the job loop keeps every promise under faults, shown with real worker processes.

Each test reproduces one fault from the issue with `cricksy-worker run`, a
moto server and PostgreSQL (through a cuttable proxy where the database fails).
"""
from __future__ import annotations

import dataclasses
import json
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws import create_queues
from tests.worker.harness import STANDINS, Stack, TcpProxy, WorkerProcess, assert_handed_back, wait_until

StartWorker = Callable[[dict[str, str]], WorkerProcess]


@pytest.fixture
def db_proxy(pg_stack: Stack) -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.cut()


def _through(proxy: TcpProxy, stack: Stack, **overrides: str) -> dict[str, str]:
    url = stack.database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    return stack.env(DATABASE_URL=url, **overrides)


def _with_max_receives(stack: Stack, sqs: Any, count: int) -> Stack:
    return dataclasses.replace(stack, queues=create_queues(sqs, max_receive_count=count))


def test_an_analysis_that_kills_its_process_every_time_ends_failed_as_gave_up(
        pg_stack: Stack, clip: Path, start_worker: StartWorker, sqs: Any) -> None:
    stack = _with_max_receives(pg_stack, sqs, 2)
    job_id = str(stack.submit(clip))
    worker = start_worker(stack.env(WORKER_ANALYZER=f"{STANDINS}:suicide", WORKER_VISIBILITY_TIMEOUT_SECONDS="3",
                                    WORKER_POLL_WAIT_SECONDS="1"))
    gave_up = worker.wait_for("job.gave_up", timeout=40, job_id=job_id)
    assert (gave_up["JobsFailed"], gave_up["ErrorClass"]) == (1, "GaveUp")
    row = stack.wait_status(job_id, "failed")
    assert row["attempts"] == 2 and row["lease_expires_at"] is None
    assert row["error"].startswith("gave up after 2 attempts: AnalysisCrashed: the analysis process died without "
                                   "an answer (killed by SIGKILL)")
    wait_until(lambda: stack.queues.counts(stack.queues.dlq_url)[0] == 1, 20, "the message in the DLQ")
    assert worker.proc.poll() is None  # the worker itself never went down


def test_sigterm_stops_a_worker_whose_analysis_hangs_within_the_stop_window(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    job_id = str(pg_stack.submit(clip))
    worker = start_worker(pg_stack.env(WORKER_ANALYZER=f"{STANDINS}:hang", WORKER_STOP_TIMEOUT_SECONDS="3",
                                       WORKER_VISIBILITY_TIMEOUT_SECONDS="3"))
    worker.wait_for("job.analysis_started", job_id=job_id)
    time.sleep(0.5)
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert time.monotonic() - signalled < 8  # the 3 s window, with room for a loaded machine
    assert_handed_back(worker, pg_stack, job_id)
    assert pg_stack.queues.counts() == (1, 0)


def test_an_analysis_past_the_job_time_limit_is_killed_and_retried(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    job_id = str(pg_stack.submit(clip))
    worker = start_worker(pg_stack.env(WORKER_ANALYZER=f"{STANDINS}:hang", WORKER_ANALYSIS_TIMEOUT_SECONDS="1"))
    retry = worker.wait_for("job.retry", timeout=30, job_id=job_id)
    assert retry["error"].startswith("AnalysisTimeout: the analysis ran longer than 1 s")
    assert pg_stack.row(job_id)["status"] == "queued"


def _catches_sigterm(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def test_sigterm_during_start_up_is_a_clean_stop(pg_stack: Stack, start_worker: StartWorker) -> None:
    worker = start_worker(pg_stack.env())
    wait_until(lambda: _catches_sigterm(worker.proc.pid) or worker.proc.poll() is not None, 30,
               "the SIGTERM handler", interval=0.001)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    names = [e["event"] for e in worker.events()]
    assert names[-2:] == ["worker.stopping", "worker.stopped"] and "worker.started" not in names


def test_the_stop_window_holds_while_a_commit_waits_for_the_database(
        pg_stack: Stack, clip: Path, start_worker: StartWorker, db_proxy: TcpProxy) -> None:
    job_id = str(pg_stack.submit(clip))
    worker = start_worker(_through(db_proxy, pg_stack, CRICKSY_TEST_FRAME_DELAY="0.1", WORKER_STOP_TIMEOUT_SECONDS="3"))
    worker.wait_for("job.analysis_started", job_id=job_id)
    db_proxy.cut()
    # Five retries in, the next backoff is 5-10 s: longer than the whole window.
    wait_until(lambda: len(worker.events("job.commit_retry", job_id=job_id)) >= 5, 40, "five commit retries")
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert time.monotonic() - signalled < 5.5  # the 3 s window; before the fix, the backoff ran on past it
    assert worker.events("job.handed_back", job_id=job_id)
    assert pg_stack.queues.counts() == (1, 0)  # visible again for another worker; the lease lapses by itself


def test_a_duplicate_message_for_a_long_job_is_deleted_not_dead_lettered(
        pg_stack: Stack, clip: Path, start_worker: StartWorker, sqs: Any) -> None:
    stack = _with_max_receives(pg_stack, sqs, 2)
    job_id = str(stack.submit(clip))
    env = stack.env(WORKER_VISIBILITY_TIMEOUT_SECONDS="3", WORKER_POLL_WAIT_SECONDS="1")
    runner = start_worker({**env, "CRICKSY_TEST_FRAME_DELAY": "0.6"})  # ~7 s: over twice the visibility
    runner.wait_for("job.analysis_started", job_id=job_id)
    stack.services.queue.send(uuid.UUID(job_id))  # a producer's retry, say
    other = start_worker(env)
    duplicate = other.wait_for("job.duplicate", timeout=20, job_id=job_id)
    assert "holds the job under a live lease" in duplicate["detail"]
    runner.wait_for("job.completed", timeout=30, job_id=job_id)
    wait_until(lambda: stack.queues.counts() == (0, 0), 15, "both messages to be deleted")
    assert stack.queues.counts(stack.queues.dlq_url) == (0, 0)
    assert stack.row(job_id)["attempts"] == 1


def test_a_message_sent_before_its_row_is_committed_is_not_lost(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    worker = start_worker(pg_stack.env(WORKER_UNKNOWN_JOB_GRACE_SECONDS="30", WORKER_POLL_WAIT_SECONDS="1"))
    worker.wait_for("worker.started")
    job_id = uuid.uuid4()
    pg_stack.services.queue.send(job_id)  # the racing producer: message first
    worker.wait_for("job.unknown", job_id=str(job_id))
    key = pg_stack.services.store.upload_video(clip, job_id)
    pg_stack.jobs.create(job_id, pg_stack.bucket, key)  # ... then the row
    worker.wait_for("job.completed", timeout=40, job_id=str(job_id))
    assert pg_stack.row(job_id)["status"] == "completed"
    assert pg_stack.queues.counts(pg_stack.queues.dlq_url) == (0, 0)
    assert json.loads(pg_stack.object_body(f"results/{job_id}/1/frames.json")) == {"frames": 12}
