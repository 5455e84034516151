"""The worker as real processes: a job is never lost and never completed twice.

Each test starts `cricksy-worker run` with a stand-in analyzer and watches its
JSON event log; kills, signals and a database outage are all real.
"""
from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.standins import write_clip
from tests.worker.harness import (PROTECT, UNPROTECT, FakeEcsAgent, Stack, TcpProxy, WorkerProcess,
                                  assert_handed_back, run_cli,
                                  wait_until)

StartWorker = Callable[[dict[str, str]], WorkerProcess]


def completed_events(*workers: WorkerProcess) -> Counter[str]:
    return Counter(e["job_id"] for w in workers for e in w.events("job.completed"))


def test_a_submitted_video_is_completed_by_a_running_worker(
        stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    submitted = run_cli("submit", str(clip), env=stack.env())
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()

    worker = start_worker(stack.env(WORKER_ANALYZER="tests.support.standins:noisy"))
    worker.wait_for("job.completed", job_id=job_id)
    status = run_cli("status", job_id, env=stack.env())
    row = json.loads(status.stdout)
    assert (row["status"], row["attempts"], row["results"]["frames"]) == ("completed", 1, 12)
    key = row["artifacts_prefix"] + row["results"]["artifacts"]["frame_count"]
    assert json.loads(stack.object_body(key)) == {"frames": 12}
    wait_until(lambda: stack.queues.counts() == (0, 0), 10, "the message to be deleted")

    worker.signal(signal.SIGTERM)  # idle: stops at the end of the current poll
    assert worker.wait(15) == 0
    events = worker.events()
    assert all(e["event"] for e in events), "every stderr line is a JSON event"
    assert [e["event"] for e in events][-2:] == ["worker.stopping", "worker.stopped"]
    native = [(e["level"], e["line"]) for e in events if e["event"] == "native.stderr"]
    assert native == [("info", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."),
                      ("warning", "W0000 00:00:1795455108.577142   26861 some_calculator.cc:121] a native warning")]
    job_events = [e for e in events if e["event"].startswith("job.")]
    assert job_events and all(e["job_id"] == job_id for e in job_events)
    assert stack.job_scratch() == []


def test_after_kill_9_mid_job_another_worker_completes_it_exactly_once(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    job_id = str(pg_stack.submit(clip))
    env = pg_stack.env(WORKER_VISIBILITY_TIMEOUT_SECONDS="4")
    doomed = start_worker({**env, "CRICKSY_TEST_FRAME_DELAY": "0.5"})
    doomed.wait_for("job.analysis_started", job_id=job_id)
    doomed.signal(signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    assert pg_stack.row(job_id)["status"] == "processing"

    survivor = start_worker(env)
    claimed = survivor.wait_for("job.claimed", timeout=30, job_id=job_id)
    survivor.wait_for("job.completed", job_id=job_id)
    assert claimed["attempt"] == 2
    row = pg_stack.row(job_id)
    assert (row["status"], row["attempts"], row["results"]["frames"]) == ("completed", 2, 12)
    assert completed_events(doomed, survivor) == {job_id: 1}
    wait_until(lambda: pg_stack.queues.counts() == (0, 0), 10, "the message to be deleted")


def test_two_workers_complete_fifty_jobs_each_exactly_once(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    workers = [start_worker(pg_stack.env()) for _ in range(2)]
    for worker in workers:
        worker.wait_for("worker.started")
    job_ids = {str(pg_stack.submit(clip)) for _ in range(50)}

    def all_completed() -> bool:
        with pg_stack.jobs.engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT count(*) FROM video_analysis_jobs WHERE status = 'completed'")).scalar() == 50

    wait_until(all_completed, 120, "all 50 jobs to complete")
    wait_until(lambda: pg_stack.queues.counts() == (0, 0), 15, "every message to be deleted")
    assert pg_stack.queues.counts(pg_stack.queues.dlq_url) == (0, 0)
    assert completed_events(*workers) == {job_id: 1 for job_id in job_ids}
    assert {pg_stack.row(job_id)["attempts"] for job_id in job_ids} == {1}
    assert all(completed_events(worker) for worker in workers), "both workers took jobs"


def test_sigterm_lets_a_job_that_fits_the_stop_window_finish(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    job_id = str(pg_stack.submit(clip))
    worker = start_worker(pg_stack.env(CRICKSY_TEST_FRAME_DELAY="0.15", WORKER_STOP_TIMEOUT_SECONDS="20"))
    worker.wait_for("job.analysis_started", job_id=job_id)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    names = [e["event"] for e in worker.events()]
    assert names.index("worker.stopping") < names.index("job.completed") < names.index("worker.stopped")
    assert pg_stack.row(job_id)["status"] == "completed"
    assert pg_stack.queues.counts() == (0, 0)


def test_sigterm_stops_receiving_at_once_and_protection_is_held_only_while_busy(
        pg_stack: Stack, clip: Path, start_worker: StartWorker) -> None:
    agent = FakeEcsAgent()
    try:
        first = str(pg_stack.submit(clip))
        worker = start_worker(pg_stack.env(CRICKSY_TEST_FRAME_DELAY="0.2", WORKER_STOP_TIMEOUT_SECONDS="20",
                                           ECS_AGENT_URI=agent.uri))
        worker.wait_for("job.analysis_started", job_id=first)
        assert agent.requests == [PROTECT]  # busy: protected from scale-in and deployments
        second = str(pg_stack.submit(clip))  # work waiting in the queue while the task is told to stop
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        assert agent.requests == [PROTECT, UNPROTECT]  # idle again before it exits
    finally:
        agent.close()
    names = [e["event"] for e in worker.events()]
    assert names.index("worker.stopping") < names.index("job.completed") < names.index("worker.stopped")
    assert [e["job_id"] for e in worker.events("message.received")] == [first]
    assert pg_stack.row(first)["status"] == "completed"
    row = pg_stack.row(second)
    assert (row["status"], row["attempts"]) == ("queued", 0)
    assert pg_stack.queues.counts() == (1, 0)  # never received: visible for the next task at once


def test_sigterm_hands_back_a_job_that_cannot_finish_in_time(
        pg_stack: Stack, tmp_path: Path, start_worker: StartWorker) -> None:
    job_id = str(pg_stack.submit(write_clip(tmp_path / "long.mp4", frames=30)))
    worker = start_worker(pg_stack.env(CRICKSY_TEST_FRAME_DELAY="1.0", WORKER_STOP_TIMEOUT_SECONDS="8"))
    worker.wait_for("job.analysis_started", job_id=job_id)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    handed_back = assert_handed_back(worker, pg_stack, job_id)
    assert "the analysis needs about" in handed_back["reason"]  # projected from progress, not the deadline
    assert pg_stack.queues.counts() == (1, 0)  # visible again at once
    assert pg_stack.job_scratch() == []

    successor = start_worker(pg_stack.env())
    successor.wait_for("job.completed", job_id=job_id)
    assert pg_stack.row(job_id)["attempts"] == 2


@pytest.fixture
def db_proxy(pg_stack: Stack) -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.cut()


def _through(proxy: TcpProxy, stack: Stack) -> dict[str, str]:
    url = stack.database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    assert url != stack.database_url
    return stack.env(DATABASE_URL=url)


def test_a_database_outage_mid_job_keeps_the_message_and_the_job_completes_afterwards(
        pg_stack: Stack, clip: Path, start_worker: StartWorker, db_proxy: TcpProxy) -> None:
    job_id = str(pg_stack.submit(clip))
    env = {**_through(db_proxy, pg_stack), "CRICKSY_TEST_FRAME_DELAY": "0.2", "WORKER_VISIBILITY_TIMEOUT_SECONDS": "3"}
    worker = start_worker(env)
    worker.wait_for("job.analysis_started", job_id=job_id)
    db_proxy.cut()
    worker.wait_for("job.commit_retry", job_id=job_id)
    assert pg_stack.queues.counts() == (0, 1)  # in flight, not deleted
    assert pg_stack.row(job_id)["status"] == "processing"
    # Four heartbeats (one per second) into the outage: longer than the 3 s visibility timeout.
    wait_until(lambda: len(worker.events("heartbeat.database_failed")) >= 4, 20, "four failed heartbeats")
    assert pg_stack.queues.counts() == (0, 1)  # still hidden: the heartbeat kept extending it

    db_proxy.restore()
    worker.wait_for("job.completed", job_id=job_id)
    row = pg_stack.row(job_id)
    assert (row["status"], row["attempts"], row["results"]["frames"]) == ("completed", 1, 12)
    wait_until(lambda: pg_stack.queues.counts() == (0, 0), 10, "the message to be deleted")
    assert worker.proc.poll() is None


def test_a_message_arriving_during_a_database_outage_is_kept_until_it_can_be_claimed(
        pg_stack: Stack, clip: Path, start_worker: StartWorker, db_proxy: TcpProxy) -> None:
    worker = start_worker(_through(db_proxy, pg_stack))
    worker.wait_for("worker.started")
    db_proxy.cut()
    job_id = str(pg_stack.submit(clip))
    worker.wait_for("db.unavailable", job_id=job_id)
    assert pg_stack.queues.counts() == (0, 1)
    worker.wait_for("db.unavailable", job_id=None)  # keeps checking, with backoff, instead of crashing
    assert worker.proc.poll() is None
    assert pg_stack.row(job_id)["status"] == "queued"

    db_proxy.restore()
    worker.wait_for("db.available")
    worker.wait_for("job.completed", timeout=40, job_id=job_id)
    assert pg_stack.row(job_id)["attempts"] == 1
