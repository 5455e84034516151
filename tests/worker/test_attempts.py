"""The attempt state machine in milliseconds: the real Worker and JobStore (SQLite), stub queue and bucket.

Each branch of the loop is driven by `poll_once` on a clock the test moves;
test_loop.py and test_processes.py prove the same behaviour against moto,
PostgreSQL and real processes.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import Captured, capture_events
from tests.support.stubs import StubQueue, stub_store
from worker import migrations
from worker.clients import Services
from worker.config import load_settings
from worker.jobs import JobStore, create_engine
from worker.service import Worker

BUCKET = "cricksy-coach-videos"


def tiny(video_path: Any, out_dir: Any, *, progress: Any = None, **_: Any) -> dict:
    if progress is not None:
        progress(1, 1)
    Path(out_dir, "size.json").write_text(str(Path(video_path).stat().st_size))
    return {"frames": 1, "artifacts": {"size": "size.json"}}


def broken(video_path: Any, out_dir: Any, **_: Any) -> dict:
    raise RuntimeError("a bug in the analysis")


@pytest.fixture
def events() -> Iterator[Captured]:
    with capture_events() as captured:
        yield captured


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    engines = []

    def make(analyzer: Callable[..., dict] = tiny, max_receives: int | None = 5, **env: str) -> Worker:
        scratch = tmp_path / "scratch"
        scratch.mkdir(exist_ok=True)
        settings = load_settings({
            "DATABASE_URL": f"sqlite:///{tmp_path}/jobs.db", "SQS_VIDEO_ANALYSIS_QUEUE_URL": "http://stub/1/q",
            "S3_COACH_VIDEOS_BUCKET": BUCKET, "AWS_REGION": "us-east-2", "WORKER_TMP_DIR": str(scratch),
            "WORKER_POLL_WAIT_SECONDS": "0", "WORKER_VISIBILITY_TIMEOUT_SECONDS": "30", **env})
        engine = create_engine(settings.database_url)
        engines.append(engine)
        migrations.upgrade(engine)
        services = Services(JobStore(engine), StubQueue(max_receives), stub_store(BUCKET))  # type: ignore[arg-type]
        worker = Worker(settings, services, analyzer, owner="unit")
        assert worker.start()
        return worker

    yield make
    for engine in engines:
        engine.dispose()


def submit(worker: Worker, data: bytes = b"not really a video") -> uuid.UUID:
    job_id = uuid.uuid4()
    key = worker.services.store.upload_key(job_id, "swing.mp4")
    worker.services.store.client.objects[(BUCKET, key)] = data
    worker.services.jobs.create(job_id, BUCKET, key)
    worker.services.queue.send(job_id)
    return job_id


def test_a_job_completes_its_artifacts_are_stored_and_its_message_deleted(
        world: Callable[..., Worker], events: Captured) -> None:
    worker = world()
    job_id = submit(worker)
    worker.poll_once()
    row = worker.services.jobs.get(job_id)
    assert (row["status"], row["attempts"]) == ("completed", 1)
    assert (row["artifacts_prefix"], row["results"]["artifacts"]) == (f"results/{job_id}/1/", {"size": "size.json"})
    assert worker.services.store.client.objects[(BUCKET, f"results/{job_id}/1/size.json")] == b"18"
    assert worker.services.queue.messages == {}
    (finished,) = events("job.finished")
    assert finished["outcome"] == "completed"


def test_every_job_event_carries_the_bound_job_attempt_and_message(
        world: Callable[..., Worker], events: Captured) -> None:
    worker = world()
    job_id = submit(worker)
    worker.poll_once()
    job_events = [e for e in events() if e["event"].startswith("job.")]
    assert {e["event"] for e in job_events} >= {"job.claimed", "job.analysis_started", "job.completed",
                                                 "job.finished"}
    assert {(e["job_id"], e["attempt"], e["message_id"]) for e in job_events} == {(str(job_id), 1, "m-0")}


def test_a_missing_video_fails_the_job_permanently(world: Callable[..., Worker], events: Captured) -> None:
    worker = world()
    job_id = submit(worker)
    worker.services.store.client.objects.clear()
    worker.poll_once()
    row = worker.services.jobs.get(job_id)
    assert row["status"] == "failed" and "does not exist or cannot be read (NoSuchKey)" in row["error"]
    (failed,) = events("job.failed")
    assert failed["ErrorClass"] == "MissingObject"
    assert worker.services.queue.messages == {}


def test_a_transient_failure_is_retried_with_a_delay_then_given_up_into_the_dead_letter_list(
        world: Callable[..., Worker], events: Captured) -> None:
    worker = world(RuntimeErrorAnalyzer(), max_receives=2)
    queue = worker.services.queue
    job_id = submit(worker)
    worker.poll_once()
    assert worker.services.jobs.get(job_id)["status"] == "queued"
    assert (queue.visible(), queue.in_flight()) == (0, 1)  # hidden for the retry delay
    worker.poll_once()
    assert events("job.retry") and not events("job.gave_up")  # nothing to receive yet
    queue.advance(6)
    worker.poll_once()
    row = worker.services.jobs.get(job_id)
    assert row["status"] == "failed" and row["error"].startswith("gave up after 2 attempts: RuntimeError")
    (gave_up,) = events("job.gave_up")
    assert gave_up["ErrorClass"] == "GaveUp"
    worker.poll_once()
    assert queue.dead == [f'{{"job_id": "{job_id}"}}'] and queue.messages == {}


class RuntimeErrorAnalyzer:
    """Fails differently each time (a flaky dependency), so only the receive count ends it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        self.calls += 1
        raise RuntimeError(f"flaky dependency, call {self.calls}")


def test_a_malformed_message_is_deleted(world: Callable[..., Worker], events: Captured) -> None:
    worker = world()
    worker.services.queue.send_body("[" * 100000)  # nested past the parser's recursion limit
    worker.poll_once()
    (rejected,) = events("message.rejected")
    assert rejected["ErrorClass"] == "MalformedMessage" and worker.services.queue.messages == {}


def test_a_duplicate_of_a_completed_job_is_deleted_unread(world: Callable[..., Worker], events: Captured) -> None:
    calls: list[Any] = []
    worker = world(lambda *a, **k: calls.append(a) or tiny(*a, **k))
    job_id = submit(worker)
    worker.poll_once()
    worker.services.queue.send(job_id)
    worker.poll_once()
    assert len(calls) == 1 and events("job.duplicate") and worker.services.queue.messages == {}


def test_a_stop_request_mid_analysis_hands_the_job_back(world: Callable[..., Worker], events: Captured) -> None:
    def stop_midway(video_path: Any, out_dir: Any, *, progress: Any = None, **_: Any) -> dict:
        worker.request_stop("SIGTERM")
        progress(1, 10)
        raise AssertionError("the checkpoint must have stopped the analysis")

    worker = world(stop_midway, WORKER_STOP_TIMEOUT_SECONDS="0")
    job_id = submit(worker)
    worker.poll_once()
    row = worker.services.jobs.get(job_id)
    assert (row["status"], row["attempts"], row["lease_expires_at"]) == ("queued", 1, None)
    (handed_back,) = events("job.handed_back")
    assert handed_back["lease_released"] is True
    assert worker.services.queue.visible() == 1


def test_a_delete_that_fails_twice_is_retried(world: Callable[..., Worker], events: Captured) -> None:
    worker = world()
    worker.services.queue.fail_next["DeleteMessage"] = 2
    job_id = submit(worker)
    worker.poll_once()
    assert worker.services.jobs.get(job_id)["status"] == "completed"
    assert len(events("message.delete_failed")) == 2 and worker.services.queue.messages == {}


def test_a_duplicate_message_for_a_job_under_a_live_lease_is_deleted_but_the_holders_own_is_kept(
        world: Callable[..., Worker], events: Captured) -> None:
    worker = world()
    queue, jobs = worker.services.queue, worker.services.jobs
    job_id = submit(worker)
    own = queue.receive(0, 30)
    assert jobs.claim(job_id, 600, "other-worker", own.message_id) is not None
    queue.send(job_id)  # a producer's duplicate
    worker.poll_once()
    (duplicate,) = events("job.duplicate")
    assert "holds the job under a live lease; duplicate deleted" in duplicate["detail"]
    assert list(queue.messages) == [own.message_id]
    queue.advance(31)  # the holder's own message reappears (its visibility was not extended)
    worker.poll_once()
    (busy,) = events("job.busy")
    assert busy["message_id"] == own.message_id and list(queue.messages) == [own.message_id]


def test_a_job_whose_worker_died_on_the_last_receive_is_given_up_not_left_processing(
        world: Callable[..., Worker], events: Captured) -> None:
    calls: list[Any] = []
    worker = world(lambda *a, **k: calls.append(a) or tiny(*a, **k), max_receives=2)
    queue, jobs = worker.services.queue, worker.services.jobs
    job_id = submit(worker)
    first = queue.receive(0, 30)
    assert jobs.claim(job_id, -1, "killed-worker", first.message_id).attempt == 1  # then kill -9, lease lapsed
    queue.advance(31)
    worker.poll_once()
    row = jobs.get(job_id)
    assert row["status"] == "failed" and row["error"].startswith("gave up after 2 attempts: attempt 1's worker "
                                                                  "stopped without settling it")
    (gave_up,) = events("job.gave_up")
    assert gave_up["ErrorClass"] == "GaveUp" and calls == []
    worker.poll_once()
    assert queue.dead == [f'{{"job_id": "{job_id}"}}']


def test_the_same_unexpected_error_twice_is_taken_for_a_bug_and_given_up(
        world: Callable[..., Worker], events: Captured) -> None:
    worker = world(broken, max_receives=5)
    job_id = submit(worker)
    worker.poll_once()
    assert worker.services.jobs.get(job_id)["status"] == "queued"
    worker.services.queue.advance(6)
    worker.poll_once()
    row = worker.services.jobs.get(job_id)
    assert row["status"] == "failed" and row["attempts"] == 2
    assert row["error"] == ("gave up after 2 attempts: the same unexpected error twice in a row, taken for a bug: "
                            "RuntimeError: a bug in the analysis")
    assert len(events("job.gave_up")) == 1


def test_an_unknown_job_is_retried_through_its_grace_period_then_left_for_the_dead_letter_queue(
        world: Callable[..., Worker], events: Captured) -> None:
    worker = world(max_receives=3, WORKER_UNKNOWN_JOB_GRACE_SECONDS="60")
    queue = worker.services.queue
    job_id = uuid.uuid4()
    queue.send(job_id)
    worker.poll_once()
    (unknown,) = events("job.unknown")
    assert unknown["retry_in_seconds"] == 30 and queue.in_flight() == 1  # 60 s over the 2 receives left
    queue.advance(31)
    worker.poll_once()
    assert len(events("job.unknown")) == 2 and not events("job.rejected")
    queue.advance(31)
    worker.poll_once()
    (rejected,) = events("job.rejected")
    assert rejected["ErrorClass"] == "UnknownJob" and "after the 60 s grace period" in rejected["error"]
    assert queue.visible() == 1  # never deleted: the queue moves it on the next receive
    worker.poll_once()
    assert queue.dead == [f'{{"job_id": "{job_id}"}}']


def test_a_producer_that_commits_the_row_late_still_gets_its_job_run(
        world: Callable[..., Worker], events: Captured) -> None:
    worker = world(WORKER_UNKNOWN_JOB_GRACE_SECONDS="60")
    queue, store = worker.services.queue, worker.services.store
    job_id = uuid.uuid4()
    queue.send(job_id)  # sent before the row is committed
    worker.poll_once()
    key = store.upload_key(job_id, "swing.mp4")
    store.client.objects[(BUCKET, key)] = b"late"
    worker.services.jobs.create(job_id, BUCKET, key)
    queue.advance(16)
    worker.poll_once()
    assert worker.services.jobs.get(job_id)["status"] == "completed" and queue.messages == {}


def test_the_producer_api_commits_the_row_before_it_sends_the_message(
        world: Callable[..., Worker], events: Captured) -> None:
    from worker.submission import enqueue, upload_key

    worker = world()
    services, queue = worker.services, worker.services.queue
    seen: list[str] = []
    send = queue.send
    queue.send = lambda job_id: seen.append(services.jobs.get(job_id)["status"]) or send(job_id)  # type: ignore
    job_id = uuid.uuid4()
    key = upload_key(job_id, "swing.mp4")
    services.store.client.objects[(BUCKET, key)] = b"video"
    enqueue(services, job_id, key)
    assert seen == ["queued"] and key == f"uploads/{job_id}/swing.mp4"
    worker.poll_once()
    assert services.jobs.get(job_id)["status"] == "completed"


def test_the_lease_keeper_survives_an_unexpected_error_and_keeps_beating(
        world: Callable[..., Worker], events: Captured) -> None:
    import threading

    from worker.lease import LeaseKeeper

    worker = world()
    queue, jobs = worker.services.queue, worker.services.jobs
    job_id = submit(worker)
    message = queue.receive(0, 30)
    claim = jobs.claim(job_id, 30, "unit", message.message_id)
    beats = threading.Semaphore(0)
    calls = {"n": 0}

    def flaky_visibility(msg: Any, seconds: float) -> None:
        calls["n"] += 1
        beats.release()
        if calls["n"] == 1:
            raise ValueError("a bug in a dependency, not an AWS error")

    queue.set_visibility = flaky_visibility  # type: ignore[method-assign]
    with LeaseKeeper(queue, jobs, claim, message, 0.3, 30, worker.events):
        assert beats.acquire(timeout=10) and beats.acquire(timeout=10)  # a second beat after the error
    (failed,) = events("heartbeat.failed")
    assert failed["error"] == "ValueError: a bug in a dependency, not an AWS error"
