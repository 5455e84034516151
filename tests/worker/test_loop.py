"""The service loop in-process, against moto over HTTP and a real job store (PostgreSQL and SQLite).

Behaviour that is about processes (signals, kill -9, several workers, outages)
is in test_processes.py; here each test drives `Worker.poll_once` itself.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws import create_queues
from tests.support.events import Captured, capture_events
from tests.support.standins import count_frames, crash, write_clip
from tests.worker.harness import PROTECT, UNPROTECT, FakeEcsAgent, Stack, wait_until
from worker.clients import connect
from worker.service import Worker
from worker.submission import submit

Analyzer = Callable[..., dict]


class Counting:
    """Wraps a real analyzer and counts how often the worker ran it."""

    def __init__(self, analyzer: Analyzer = count_frames):
        self.analyzer = analyzer
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        self.calls += 1
        return self.analyzer(*args, **kwargs)


@pytest.fixture
def events() -> Iterator[Captured]:
    with capture_events() as captured:
        yield captured


@pytest.fixture
def make_worker(events: Captured) -> Iterator[Callable[..., Worker]]:
    made: list[Worker] = []

    def make(stack: Stack, analyzer: Analyzer = count_frames, **env: str) -> Worker:
        settings = stack.settings(**env)
        worker = Worker(settings, connect(settings), analyzer, owner=f"test-{len(made)}")
        assert worker.start()
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.services.jobs.engine.dispose()


def run_until(worker: Worker, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    def step() -> Any:
        return condition() or worker.poll_once() or condition()

    return wait_until(step, timeout, what, interval=0)


def queue_empty(stack: Stack) -> bool:
    return stack.queues.counts() == (0, 0)


def test_a_submitted_video_is_analysed_stored_and_its_message_deleted(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker], events: Captured) -> None:
    job_id = stack.submit(clip)
    worker = make_worker(stack)
    run_until(worker, lambda: stack.row(job_id)["status"] == "completed", "the job to complete")

    row = stack.row(job_id)
    assert row["results"]["frames"] == 12
    assert row["results"]["max_seconds"] == 300.0
    key = f"results/{job_id}/1/frames.json"
    assert row["results"]["artifacts"] == {"frame_count": "frames.json"}
    assert row["artifacts_prefix"] == f"results/{job_id}/1/"
    assert json.loads(stack.object_body(key)) == {"frames": 12}
    assert (row["attempts"], row["error"], row["lease_expires_at"]) == (1, None, None)
    assert row["started_at"] <= row["completed_at"]
    wait_until(lambda: queue_empty(stack), 10, "the message to be deleted")
    assert stack.job_scratch() == []

    names = [e["event"] for e in events() if e.get("job_id") == str(job_id)]
    assert names.index("job.claimed") < names.index("job.analysis_started") < names.index("job.completed")
    (finished,) = events("job.finished")
    assert finished["outcome"] == "completed"
    assert set(finished["timings_ms"]) == {"poll", "claim", "download", "analysis", "upload", "commit", "delete"}


def test_a_message_for_a_completed_job_is_deleted_without_running_it_again(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker], events: Captured) -> None:
    analyzer = Counting()
    job_id = stack.submit(clip)
    worker = make_worker(stack, analyzer)
    run_until(worker, lambda: stack.row(job_id)["status"] == "completed", "the job to complete")
    completed_at = stack.row(job_id)["completed_at"]

    stack.queues.send(json.dumps({"job_id": str(job_id)}))
    run_until(worker, lambda: events("job.duplicate"), "the duplicate to be seen")
    assert analyzer.calls == 1
    row = stack.row(job_id)
    assert (row["attempts"], row["completed_at"]) == (1, completed_at)
    wait_until(lambda: queue_empty(stack), 10, "the duplicate message to be deleted")


def _missing_object(stack: Stack, clip: Path) -> uuid.UUID:
    job_id = uuid.uuid4()
    stack.jobs.create(job_id, stack.bucket, f"uploads/{job_id}/never-uploaded.mp4")
    stack.services.queue.send(job_id)
    return job_id


def _outside_uploads(stack: Stack, clip: Path) -> uuid.UUID:
    job_id = uuid.uuid4()
    stack.s3.upload_file(str(clip), stack.bucket, f"private/{job_id}.mp4")
    stack.jobs.create(job_id, stack.bucket, f"private/{job_id}.mp4")
    stack.services.queue.send(job_id)
    return job_id


def _not_a_video(stack: Stack, clip: Path) -> uuid.UUID:
    fake = clip.with_name("notes.mp4")
    fake.write_text("these are my coaching notes, not a video")
    return stack.submit(fake)


def _empty_file(stack: Stack, clip: Path) -> uuid.UUID:
    empty = clip.with_name("empty.mp4")
    empty.write_bytes(b"")
    return stack.submit(empty)


def _row_with_options(options: dict) -> Callable[[Stack, Path], uuid.UUID]:
    """A row another producer wrote, bypassing the submission API's check."""
    def make(stack: Stack, clip: Path) -> uuid.UUID:
        job_id = uuid.uuid4()
        key = stack.services.store.upload_video(clip, job_id)
        stack.jobs.create(job_id, stack.bucket, key, options)
        stack.services.queue.send(job_id)
        return job_id
    return make


_options_no_worker_accepts = _row_with_options({"handednes": "left"})  # a misspelt option


def test_the_jobs_options_reach_the_analyzer_as_applied(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker]) -> None:
    job_id = stack.submit(clip, {"activity": "bowling", "subject": {"x": 0.5, "y": 0.5}})
    worker = make_worker(stack, WORKER_MAX_ANALYSIS_FPS="120")
    run_until(worker, lambda: stack.row(job_id)["status"] == "completed", "the job to complete")
    row = stack.row(job_id)
    assert row["options"] == {"activity": "bowling", "subject": {"x": 0.5, "y": 0.5}}
    assert row["results"]["options"] == {"activity": "bowling", "handedness": "auto", "view": "auto",
                                         "subject": {"x": 0.5, "y": 0.5}, "max_fps": 120.0}


def test_every_option_reaches_the_analyzer(stack: Stack, clip: Path, make_worker: Callable[..., Worker]) -> None:
    doc = {"activity": "batting", "handedness": "left", "view": "front-on",
           "subject": {"x": 0.2, "y": 0.3, "w": 0.4, "h": 0.5, "t": 0.25}, "max_fps": 30}
    job_id = stack.submit(clip, doc)
    worker = make_worker(stack)
    run_until(worker, lambda: stack.row(job_id)["status"] == "completed", "the job to complete")
    assert stack.row(job_id)["results"]["options"] == {**doc, "max_fps": 30.0}


@pytest.mark.parametrize("options, named", [
    ({"activity": "cycling"}, "invalid option 'activity' at $.activity"),
    ({"handedness": "both"}, "invalid option 'handedness' at $.handedness"),
    ({"view": "top-down"}, "invalid option 'view' at $.view"),
    ({"subject": {"x": 1.5, "y": 0.5}}, "invalid option 'subject' at $.subject"),
    ({"max_fps": 5}, "invalid option 'max_fps' at $.max_fps"),
    (["bowling"], "the job's options cannot be used"),
], ids=["activity", "handedness", "view", "subject", "max_fps", "not-an-object"])
def test_each_invalid_option_in_a_row_fails_the_job_once_naming_it(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker], options: Any, named: str,
        events: Captured) -> None:
    job_id = _row_with_options(options)(stack, clip)
    worker = make_worker(stack)
    run_until(worker, lambda: stack.row(job_id)["status"] == "failed", "the job to fail")
    row = stack.row(job_id)
    assert named in row["error"] and (row["attempts"], row["results"]) == (1, None)
    (failed,) = events("job.failed")
    assert failed["ErrorClass"] == "Permanent"
    wait_until(lambda: queue_empty(stack), 10, "the message to be deleted")


@pytest.mark.parametrize("make_job, env, error, error_class", [
    (_options_no_worker_accepts, {}, "the job's options cannot be used: invalid option 'handednes' at $.handednes: "
     "unknown option", "Permanent"),
    (lambda stack, clip: submit(stack.services, clip, {"max_fps": 120}, max_fps_ceiling=240), {}, "invalid option 'max_fps' at $.max_fps: got 120; "
     "allowed: 10 to 60 frames per second", "Permanent"),
    (_missing_object, {}, "/never-uploaded.mp4 does not exist or cannot be read (NoSuchKey): upload the video",
     "MissingObject"),
    (_outside_uploads, {}, ".mp4 is outside s3://", "MissingObject"),
    (_not_a_video, {}, "notes.mp4 is not a video this worker can read: upload an MP4 or MOV file", "InvalidVideo"),
    (_empty_file, {}, "empty.mp4 is empty (0 bytes)", "InvalidVideo"),
    (lambda stack, clip: stack.submit(clip), {"WORKER_MAX_VIDEO_BYTES": "100"},
     "bytes, over the 100 bytes limit (WORKER_MAX_VIDEO_BYTES=100): trim or compress it", "OverLimit"),
    (lambda stack, clip: stack.submit(clip), {"WORKER_MAX_VIDEO_SECONDS": "0.5"},
     "the video lasts 1.0 s, longer than the 0.5 s limit: trim it", "InvalidVideo"),
], ids=["misspelt-option", "over-the-fps-ceiling", "missing-object", "outside-uploads", "not-a-video", "empty", "too-big", "too-long"])
def test_permanent_problems_fail_the_job_with_its_reason_and_delete_the_message(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker], make_job: Callable[[Stack, Path], uuid.UUID],
        env: dict[str, str], error: str, error_class: str, events: Captured) -> None:
    job_id = make_job(stack, clip)
    worker = make_worker(stack, **env)
    run_until(worker, lambda: stack.row(job_id)["status"] == "failed", "the job to fail")
    row = stack.row(job_id)
    assert error in row["error"]
    (failed,) = events("job.failed")
    assert (failed["JobsFailed"], failed["ErrorClass"]) == (1, error_class)
    assert (row["attempts"], row["results"]) == (1, None)
    wait_until(lambda: queue_empty(stack), 10, "the message to be deleted")
    assert stack.job_scratch() == []


@pytest.mark.parametrize("body, error", [
    ("this is not json", "body is not JSON"),
    ('{"video": "swing.mp4"}', 'body has no "job_id"'),
    ('{"job_id": "42"}', "job_id '42' is not a UUID"),
])
def test_malformed_messages_are_deleted_with_the_reason_logged(
        stack: Stack, make_worker: Callable[..., Worker], events: Captured,
        body: str, error: str) -> None:
    stack.queues.send(body)
    worker = make_worker(stack)
    (rejected,) = run_until(worker, lambda: events("message.rejected"), "the message to be rejected")
    assert error in rejected["error"] and rejected["job_id"] is None
    assert (rejected["JobsFailed"], rejected["ErrorClass"]) == (1, "MalformedMessage")
    wait_until(lambda: queue_empty(stack), 10, "the message to be deleted")


def test_a_message_for_an_unknown_job_is_retried_for_its_grace_period_then_dead_lettered_not_deleted(
        stack: Stack, make_worker: Callable[..., Worker], events: Captured) -> None:
    job_id = uuid.uuid4()
    stack.services.queue.send(job_id)
    worker = make_worker(stack, WORKER_UNKNOWN_JOB_GRACE_SECONDS="2", WORKER_POLL_WAIT_SECONDS="1")
    (rejected,) = run_until(worker, lambda: events("job.rejected"), "the grace period to end")
    assert rejected["job_id"] == str(job_id) and "unknown job id" in rejected["error"]
    assert "message left for the dead-letter queue" in rejected["error"]
    assert (rejected["JobsFailed"], rejected["ErrorClass"]) == (1, "UnknownJob")
    assert len(events("job.unknown")) == stack.queues.max_receive_count - 1  # retried, never deleted
    dead = run_until(worker, lambda: stack.queues.receive_bodies(stack.queues.dlq_url, wait=0),
                     "the message to reach the dead-letter queue")
    assert dead == [json.dumps({"job_id": str(job_id)})]
    assert stack.jobs.get(job_id) is None


def test_transient_failures_are_retried_then_given_up_and_left_for_the_dead_letter_queue(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker], sqs: Any,
        events: Captured) -> None:
    stack = dataclasses.replace(stack, queues=create_queues(sqs, max_receive_count=2))
    job_id = stack.submit(clip)
    worker = make_worker(stack, crash, WORKER_VISIBILITY_TIMEOUT_SECONDS="3")

    run_until(worker, lambda: stack.row(job_id)["attempts"] == 1 and stack.row(job_id)["status"] == "queued",
              "the first attempt to be handed back")
    assert stack.row(job_id)["error"] == "attempt 1 failed, will retry: RuntimeError: stand-in analysis crashed"
    assert stack.queues.counts() == (0, 1)  # not deleted: hidden for the retry delay

    run_until(worker, lambda: stack.row(job_id)["status"] == "failed", "the job to be given up")
    row = stack.row(job_id)
    assert row["error"] == "gave up after 2 attempts: RuntimeError: stand-in analysis crashed"
    # SQS moves it when the next receive finds its receive count at maxReceiveCount.
    dead = run_until(worker, lambda: stack.queues.receive_bodies(stack.queues.dlq_url, wait=0),
                     "the message to reach the dead-letter queue")
    assert dead == [json.dumps({"job_id": str(job_id)})]
    assert stack.job_scratch() == []
    (retry,), (gave_up,) = events("job.retry"), events("job.gave_up")
    assert retry["JobsRetried"] == 1 and "JobsFailed" not in retry
    assert (gave_up["JobsFailed"], gave_up["ErrorClass"]) == (1, "GaveUp")


def test_a_message_received_after_a_stop_request_is_handed_straight_back(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker]) -> None:
    job_id = stack.submit(clip)
    worker = make_worker(stack)
    receive = worker.services.queue.receive

    def receive_then_signal(*args: Any) -> Any:  # SIGTERM arriving while the long poll is in flight
        message = receive(*args)
        worker.request_stop("SIGTERM")
        return message

    worker.services.queue.receive = receive_then_signal  # type: ignore[method-assign]
    worker.run()
    row = stack.row(job_id)
    assert (row["status"], row["attempts"]) == ("queued", 0)
    assert stack.queues.counts() == (1, 0)


def test_the_heartbeat_keeps_a_long_job_hidden_and_leased(
        stack: Stack, tmp_path: Path, make_worker: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRICKSY_TEST_FRAME_DELAY", "0.6")  # 12 frames: ~7 s, over twice the visibility timeout
    job_id = stack.submit(write_clip(tmp_path / "long.mp4"))
    worker = make_worker(stack, WORKER_VISIBILITY_TIMEOUT_SECONDS="3")
    seen: dict[str, list[Any]] = {"stolen": [], "lease": []}
    done = threading.Event()

    def other_consumer() -> None:
        sqs = stack.queues.sqs
        wait_until(lambda: done.is_set() or stack.row(job_id)["status"] == "processing", 20, "the claim")
        while not done.is_set():
            got = sqs.receive_message(QueueUrl=stack.queues.url, WaitTimeSeconds=1).get("Messages", [])
            seen["stolen"] += got
            remaining = stack.jobs.lease_remaining(job_id)
            if stack.row(job_id)["status"] == "processing":  # read after the lease: it was processing then too
                seen["lease"].append(remaining)

    thief = threading.Thread(target=other_consumer)
    thief.start()
    try:
        run_until(worker, lambda: stack.row(job_id)["status"] == "completed", "the long job to complete")
    finally:
        done.set()
        thief.join()
    assert seen["stolen"] == []
    assert len(seen["lease"]) >= 3 and all(remaining > 0 for remaining in seen["lease"])
    assert stack.row(job_id)["attempts"] == 1


def test_a_worker_that_lost_its_lease_abandons_the_job_without_writing(
        stack: Stack, tmp_path: Path, make_worker: Callable[..., Worker], events: Captured,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRICKSY_TEST_FRAME_DELAY", "0.5")
    job_id = stack.submit(write_clip(tmp_path / "long.mp4"))
    worker = make_worker(stack, WORKER_VISIBILITY_TIMEOUT_SECONDS="3")
    taken: list[Any] = []

    def take_over() -> None:  # another worker whose claim won after this one's lease ran out
        wait_until(lambda: stack.row(job_id)["status"] == "processing", 20, "the first claim")

        def expire_and_claim() -> Any:  # retried: the heartbeat may renew the lease in between
            with stack.jobs.engine.begin() as conn:
                conn.exec_driver_sql("UPDATE video_analysis_jobs SET lease_expires_at = '2000-01-01 00:00:00+00:00'")
            return stack.jobs.claim(job_id, 600, "usurper")

        taken.append(wait_until(expire_and_claim, 10, "the usurper's claim"))

    usurper = threading.Thread(target=take_over)
    usurper.start()
    run_until(worker, lambda: events("job.finished"), "the first attempt to end")
    usurper.join()
    assert taken[0] is not None and taken[0].attempt == 2
    (finished,) = events("job.finished")
    assert finished["outcome"] == "lease_lost"
    row = stack.row(job_id)
    assert (row["status"], row["attempts"], row["lease_owner"], row["results"]) == (
        "processing", 2, "usurper", None)
    assert stack.queues.counts()[0] + stack.queues.counts()[1] == 1  # the message was not deleted


def test_scale_in_protection_is_held_exactly_while_a_job_runs(
        pg_stack: Stack, clip: Path, make_worker: Callable[..., Worker]) -> None:
    agent = FakeEcsAgent()
    during: list[Any] = []

    def analyze_and_look(*args: Any, **kwargs: Any) -> dict:
        during.extend(agent.requests)
        return count_frames(*args, **kwargs)

    try:
        job_id = pg_stack.submit(clip)
        worker = make_worker(pg_stack, analyze_and_look, ECS_AGENT_URI=agent.uri)
        run_until(worker, lambda: pg_stack.row(job_id)["status"] == "completed", "the job to complete")
    finally:
        agent.close()
    assert during == [PROTECT]
    assert agent.requests == [PROTECT, UNPROTECT]


def test_a_message_for_a_job_another_worker_holds_comes_back_when_its_lease_would_end(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker], events: Captured) -> None:
    job_id = stack.submit(clip)
    stack.jobs.claim(job_id, 600, "other-worker")
    worker = make_worker(stack)
    (busy,) = run_until(worker, lambda: events("job.busy"), "the busy job to be seen")
    assert 590 < busy["lease_remaining_seconds"] <= 600
    assert stack.queues.counts() == (0, 1)
    row = stack.row(job_id)
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("processing", 1, "other-worker")


def test_without_a_redrive_policy_the_worker_gives_up_after_five_receives(
        stack: Stack, make_worker: Callable[..., Worker], events: Captured, sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"no-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    worker = make_worker(dataclasses.replace(stack, queues=dataclasses.replace(stack.queues, url=url)))
    assert worker.max_receives == 5
    (warning,) = events("queue.no_redrive_policy")
    assert "jobs fail after 5 receives" in warning["detail"]


def test_the_validated_analysis_processes_setting_reaches_the_analyzer(
        stack: Stack, clip: Path, make_worker: Callable[..., Worker]) -> None:
    """The worker passes its own validated WORKER_ANALYSIS_PROCESSES; the analysis does not re-read the variable."""
    first = stack.submit(clip)
    worker = make_worker(stack, WORKER_ANALYSIS_PROCESSES="3")
    run_until(worker, lambda: stack.row(first)["status"] == "completed", "the first job to complete")
    assert stack.row(first)["results"]["processes"] == 3
    second = stack.submit(clip)
    worker = make_worker(stack)
    run_until(worker, lambda: stack.row(second)["status"] == "completed", "the second job to complete")
    assert stack.row(second)["results"]["processes"] is None  # unset: the analyzer decides from the task's CPUs
