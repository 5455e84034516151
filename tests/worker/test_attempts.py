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
    key = row["results"]["artifacts"]["size"]
    assert worker.services.store.client.objects[(BUCKET, key)] == b"18"
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
    worker.services.queue.send_body("[" * 10)
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
