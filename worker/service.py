"""The service loop: receive one message, claim its job, analyse the video, store, then delete.

The order is what keeps a job from being lost or completed twice: the message
is deleted only after the results are committed, every write after the claim
is fenced by the attempt number, and anything unexpected leaves the message in
the queue to be delivered again. All events leave through `Worker._emit`;
outcome events carry their CloudWatch metrics (worker.emf). The main thread's
progress touches the liveness heartbeat file (worker.health).
"""
from __future__ import annotations

import importlib
import logging
import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import exc as sa_exc

from worker import emf, health, migrations
from worker.clients import Services
from worker.config import ConfigError, Settings
from worker.errors import InvalidVideoError, PermanentJobError
from worker.jobs import COMPLETED, FAILED, Claim
from worker.logs import log_event
from worker.protection import TaskProtection
from worker.queue import MalformedMessage, Message
from worker.storage import MissingObjectError, OverLimitError

log = logging.getLogger(__name__)

Analyzer = Callable[..., dict]

DB_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.DisconnectionError)
AWS_ERRORS = (BotoCoreError, ClientError)
# Without a RedrivePolicy the queue never gives up by itself; neither should a poison message loop forever.
DEFAULT_MAX_RECEIVES = 5
# How long finished results wait in memory for the database to come back before the job is retried.
COMMIT_PATIENCE_SECONDS = 600.0
RETRY_DELAY_BASE_SECONDS = 5.0
PROGRESS_LOG_INTERVAL_SECONDS = 5.0


class SchemaNotReady(RuntimeError):
    """The database schema is not the one this worker was built for."""


class _Abandon(Exception):
    """Raised at a cancellation point: the attempt stops and writes nothing more."""


class StopRequested(_Abandon):
    pass


class LeaseLost(_Abandon):
    pass


def load_analyzer(spec: str) -> Analyzer:
    """Import `module:function`; a bad value is a configuration error, found at start-up."""
    module_name, _, name = spec.partition(":")
    try:
        analyzer = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError([f"WORKER_ANALYZER: cannot load {spec!r} ({type(exc).__name__}: {exc}); "
                           "expected module:function of an importable analysis entry point"]) from exc
    if not callable(analyzer):
        raise ConfigError([f"WORKER_ANALYZER: {spec!r} is not a function"])
    return analyzer


def backoff(failures: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Exponential delay with jitter, so that many workers do not retry in step."""
    ceiling = min(cap, base * 2 ** max(failures - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


_ERROR_CLASSES = ((InvalidVideoError, emf.INVALID_VIDEO), (MissingObjectError, emf.MISSING_OBJECT),
                  (OverLimitError, emf.OVER_LIMIT))


def error_class(exc: PermanentJobError) -> str:
    """The ErrorClass metric dimension of a permanent failure (the values are listed in worker.emf)."""
    return next((name for kind, name in _ERROR_CLASSES if isinstance(exc, kind)), emf.PERMANENT)


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.monotonic() - started


class Heartbeat:
    """Keeps the message invisible and the row's lease alive while the job runs.

    Beats every third of the visibility timeout, so two beats may fail before
    anything expires. A fenced lease extension means another attempt owns the
    job: `lease_lost` is set and the attempt is abandoned at its next cancellation point.
    """

    def __init__(self, worker: Worker, job: _Job):
        self.worker = worker
        self.job = job
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job.claim.job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        vt = self.worker.settings.visibility_timeout
        while not self._done.wait(vt / 3):
            self.beat()

    def beat(self) -> None:
        worker, job = self.worker, self.job
        job_id = str(job.claim.job_id)
        try:
            worker.services.queue.set_visibility(job.message, worker.settings.visibility_timeout)
        except AWS_ERRORS as exc:
            worker._emit("heartbeat.queue_failed", logging.WARNING, job_id=job_id, error=_describe(exc))
        try:
            held = worker.services.jobs.extend_lease(job.claim, worker.lease_seconds)
        except sa_exc.SQLAlchemyError as exc:
            worker._emit("heartbeat.database_failed", logging.WARNING, job_id=job_id, error=_describe(exc))
            return
        if not held:
            job.lease_lost.set()
            self._done.set()
            worker._emit("job.lease_lost", logging.WARNING, job_id=job_id, attempt=job.claim.attempt)


@dataclass
class _Job:
    claim: Claim
    message: Message
    lease_lost: threading.Event = field(default_factory=threading.Event)
    claimed_at: float = field(default_factory=time.monotonic)
    analysis_started: float | None = None
    last_progress_log: float = 0.0


class Worker:
    def __init__(self, settings: Settings, services: Services, analyzer: Analyzer,
                 protection: TaskProtection | None = None, owner: str | None = None):
        self.settings = settings
        self.services = services
        self.analyzer = analyzer
        self.protection = protection or TaskProtection(settings.ecs_agent_uri)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.max_receives = DEFAULT_MAX_RECEIVES
        # The lease ends a little before the message reappears, so whoever receives it next finds the
        # lease expired instead of spending one of the message's receives on a busy job.
        vt = settings.visibility_timeout
        self.lease_seconds = vt - min(5.0, vt / 4)
        self._stop_requested_at: float | None = None
        self._stop_reason = ""
        self._stop_announced = False
        self._db_failures = 0
        self._queue_failures = 0
        self.heartbeat_file = health.heartbeat_path(settings)
        self._heartbeat_failing = False
        self.metrics = emf.Context(settings.metrics_namespace, settings.metrics_environment,
                                   settings.metrics_service)

    # -- events: the one place every event leaves from --------------------------------------

    def _emit(self, event: str, level: int = logging.INFO, **fields: Any) -> None:
        """Log one event; an event carrying metrics is written whatever LOG_LEVEL says."""
        log_event(log, event, level, force=emf.AWS_KEY in fields, **fields)

    def _alive(self) -> None:
        """A sign of life for `cricksy-worker health`: only ever called from the loop's own progress.

        The lease heartbeat thread must never call it, or a hung job would look alive.
        """
        try:
            health.touch(self.heartbeat_file)
        except OSError as exc:
            if not self._heartbeat_failing:
                self._heartbeat_failing = True
                self._emit("liveness.touch_failed", logging.WARNING, job_id=None, path=str(self.heartbeat_file),
                           error=_describe(exc))
            return
        self._heartbeat_failing = False

    def _on_poll(self) -> None:
        self._alive()
        self._emit("queue.polling", logging.DEBUG, job_id=None)

    def _on_transfer(self, job: _Job) -> None:
        """Called after each downloaded chunk: liveness signal and cancellation point."""
        self._alive()
        self._checkpoint(job)

    def _on_progress(self, job: _Job, done: int, total: int | None) -> None:
        """The analyzer's `progress` callback: liveness signal and cancellation point."""
        self._alive()
        now = time.monotonic()
        if now - job.last_progress_log >= PROGRESS_LOG_INTERVAL_SECONDS:
            job.last_progress_log = now
            self._emit("job.progress", logging.DEBUG, job_id=str(job.claim.job_id), frames_done=done,
                       frames_total=total)
        self._checkpoint(job, done, total)

    # -- lifecycle ----------------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Stop receiving now; the job in hand goes on only while it can finish in the stop window.

        Safe in a signal handler: it only records the request. Logging or
        setting an Event there could re-enter a lock the interrupted code holds.
        """
        if self._stop_requested_at is None:
            self._stop_reason = reason
            self._stop_requested_at = time.monotonic()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda num, _frame: self.request_stop(signal.Signals(num).name))

    @property
    def stopping(self) -> bool:
        if self._stop_requested_at is None:
            return False
        if not self._stop_announced:
            self._stop_announced = True
            self._emit("worker.stopping", job_id=None, reason=self._stop_reason,
                       stop_timeout_seconds=self.settings.stop_timeout_seconds)
        return True

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake up within a fraction of a second of a stop request."""
        end = time.monotonic() + seconds
        while not self.stopping and (left := end - time.monotonic()) > 0:
            self._alive()  # waiting on purpose is not hanging
            time.sleep(min(left, 0.25))

    def start(self) -> bool:
        """Read the queue's redrive policy and check the schema; False if stopped while waiting."""
        self._alive()
        failures = 0
        while not self.stopping:
            try:
                max_receives = self.services.queue.max_receive_count()
                revision = migrations.current_revision(self.services.jobs.engine)
                break
            except (BotoCoreError, *DB_UNAVAILABLE) as exc:
                failures += 1
                delay = backoff(failures)
                self._emit("worker.start_retry", logging.WARNING, job_id=None, error=_describe(exc),
                           retry_in_seconds=round(delay, 1))
                self._pause(delay)
        else:
            return False
        head = migrations.head_revision()
        if revision != head:
            raise SchemaNotReady(f"the database schema is at revision {revision or 'none'}, this worker needs "
                                 f"{head}: run `cricksy-worker init-db` against "
                                 f"{self.settings.database_url_redacted}")
        if max_receives is None:
            self._emit("queue.no_redrive_policy", logging.WARNING, job_id=None,
                       detail=f"the queue has no dead-letter queue; jobs fail after {DEFAULT_MAX_RECEIVES} receives")
        else:
            self.max_receives = max_receives
        self._emit("worker.started", job_id=None, owner=self.owner, queue_url=self.services.queue.url,
                   bucket=self.services.store.bucket, database=self.settings.database_url_redacted,
                   analyzer=self.settings.analyzer, max_receive_count=self.max_receives,
                   visibility_timeout_seconds=self.settings.visibility_timeout)
        return True

    def run(self) -> None:
        if not self.start():
            return
        while not self.stopping:
            try:
                self.poll_once()
            except Exception as exc:  # a bug must not turn into a crash loop that drops the message in hand
                self._emit("worker.error", logging.ERROR, job_id=None, error=_describe(exc), exc_info=True)
                self._pause(backoff(1))
        self._emit("worker.stopped", job_id=None)

    def poll_once(self) -> None:
        """Receive at most one message and see it through."""
        if self._db_failures and not self._database_back():
            return
        self._on_poll()
        started = time.monotonic()
        try:
            message = self.services.queue.receive(self.settings.poll_wait_seconds, self.settings.visibility_timeout)
        except AWS_ERRORS as exc:
            self._queue_failures += 1
            delay = backoff(self._queue_failures)
            self._emit("queue.receive_failed", logging.WARNING, job_id=None, error=_describe(exc),
                       retry_in_seconds=round(delay, 1))
            self._pause(delay)
            return
        finally:
            self._alive()
        self._queue_failures = 0
        if message is None:
            return
        if self.stopping:
            self._set_visibility(message, 0, None)
            self._emit("message.returned", job_id=None, message_id=message.message_id, reason="stopping")
            return
        self._handle(message, {"poll": time.monotonic() - started})

    def _database_back(self) -> bool:
        try:
            self.services.jobs.ping()
        except sa_exc.SQLAlchemyError as exc:
            self._db_failures += 1
            delay = backoff(self._db_failures)
            self._emit("db.unavailable", logging.WARNING, job_id=None, error=_describe(exc),
                       retry_in_seconds=round(delay, 1))
            self._pause(delay)
            return False
        self._db_failures = 0
        self._emit("db.available", job_id=None)
        return True

    def _database_lost(self, job_id: str | None, exc: BaseException) -> None:
        """Stop taking messages until the database answers again (they would only age in the queue)."""
        self._db_failures = max(self._db_failures, 1)
        self._emit("db.unavailable", logging.WARNING, job_id=job_id, error=_describe(exc))

    # -- one message ----------------------------------------------------------------------------

    def _handle(self, message: Message, timings: dict[str, float]) -> None:
        try:
            job_id = message.job_id()
        except MalformedMessage as exc:
            self._emit("message.rejected", logging.ERROR, job_id=None, message_id=message.message_id,
                       error=f"{exc}; expected {{\"job_id\": \"<uuid>\"}}; message deleted",
                       **emf.job_failed(self.metrics, emf.MALFORMED_MESSAGE))
            self._delete(message, None, timings)
            return
        self._emit("message.received", job_id=str(job_id), message_id=message.message_id,
                   receive_count=message.receive_count)
        try:
            with _timed(timings, "claim"):
                claim = self.services.jobs.claim(job_id, self.lease_seconds, self.owner)
                if claim is None:
                    self._not_claimed(message, job_id, timings)
                    return
        except DB_UNAVAILABLE as exc:
            self._database_lost(str(job_id), exc)
            return
        outcome = self._attempt(_Job(claim, message), timings)
        self._emit("job.finished", job_id=str(job_id), attempt=claim.attempt, outcome=outcome,
                   timings_ms={phase: round(seconds * 1000, 2) for phase, seconds in timings.items()})

    def _not_claimed(self, message: Message, job_id: uuid.UUID, timings: dict[str, float]) -> None:
        row = self.services.jobs.get(job_id)
        if row is None:
            self._emit("job.rejected", logging.ERROR, job_id=str(job_id),
                       error="unknown job id: no such row in video_analysis_jobs; message deleted",
                       **emf.job_failed(self.metrics, emf.UNKNOWN_JOB))
            self._delete(message, str(job_id), timings)
        elif row["status"] in (COMPLETED, FAILED):
            self._emit("job.duplicate", job_id=str(job_id), status=row["status"],
                       detail=f"job already {row['status']}; message deleted without running it again")
            self._delete(message, str(job_id), timings)
        else:
            remaining = self.services.jobs.lease_remaining(job_id) or 0.0
            self._emit("job.busy", job_id=str(job_id), status=row["status"],
                       lease_remaining_seconds=round(remaining, 1))
            # Come back when the holder's lease would have run out, not before.
            self._set_visibility(message, max(remaining, 0.0) + 1, str(job_id))

    def _attempt(self, job: _Job, timings: dict[str, float]) -> str:
        claim = job.claim
        job_id = str(claim.job_id)
        self._emit("job.claimed", job_id=job_id, attempt=claim.attempt, receive_count=job.message.receive_count)
        self.protection.set(True, job_id)
        heartbeat = Heartbeat(self, job)
        heartbeat.start()
        workdir: Path | None = None
        try:
            try:
                workdir = Path(tempfile.mkdtemp(prefix=f"cricksy-job-{job_id}-", dir=self.settings.tmp_dir))
                results = self._work(job, workdir, timings)
                committed = self._commit(job, results, timings)
            except LeaseLost:
                committed = False
            except StopRequested as exc:
                heartbeat.stop()
                return self._hand_back(job, str(exc))
            except PermanentJobError as exc:
                heartbeat.stop()
                return self._fail(job, str(exc), error_class(exc), timings)
            except Exception as exc:
                heartbeat.stop()
                return self._retry_later(job, exc)
            heartbeat.stop()
            if not committed:
                return self._lost(job)
            self._emit("job.completed", job_id=job_id, attempt=claim.attempt,
                       **self._completed_metrics(job, results, timings))
            self._delete(job.message, job_id, timings)
            return "completed"
        finally:
            heartbeat.stop()
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
            self.protection.set(False, job_id)

    def _work(self, job: _Job, workdir: Path, timings: dict[str, float]) -> dict[str, Any]:
        claim = job.claim
        video_dir, out_dir = workdir / "video", workdir / "out"
        video_dir.mkdir()
        out_dir.mkdir()
        with _timed(timings, "download"):
            video = self.services.store.download(claim.s3_bucket, claim.s3_key, video_dir,
                                                 self.settings.max_video_bytes, lambda: self._on_transfer(job))
        self._emit("job.analysis_started", job_id=str(claim.job_id), attempt=claim.attempt,
                   video_bytes=video.stat().st_size)
        job.analysis_started = time.monotonic()
        with _timed(timings, "analysis"):
            results = self.analyzer(video, out_dir, max_seconds=self.settings.max_video_seconds,
                                    progress=lambda done, total: self._on_progress(job, done, total))
        if not isinstance(results, dict):
            raise TypeError(f"{self.settings.analyzer} returned {type(results).__name__}, not a dict")
        self._checkpoint(job, finishing=True)
        if "artifacts" in results:
            with _timed(timings, "upload"):
                keys = self.services.store.upload_artifacts(claim.job_id, out_dir, results["artifacts"] or {},
                                                            self._alive)
            results = {**results, "artifacts": keys}
        return results

    def _checkpoint(self, job: _Job, done: int = 0, total: int | None = None, *, finishing: bool = False) -> None:
        """Abandon the attempt if its lease is gone, or if it cannot finish within the stop window.

        While analysing, a few seconds of the window are kept for upload and
        commit, and the remaining analysis time is projected from the progress
        so far, so that a job that clearly cannot make it is handed back early.
        """
        if job.lease_lost.is_set():
            raise LeaseLost()
        if not self.stopping:
            return
        now = time.monotonic()
        hard_deadline = self._stop_requested_at + self.settings.stop_timeout_seconds
        if finishing:
            if now >= hard_deadline:
                raise StopRequested("the stop window ended before the results were stored")
            return
        deadline = hard_deadline - min(10.0, self.settings.stop_timeout_seconds / 4)
        if now >= deadline:
            raise StopRequested("the stop window ends before the analysis can finish")
        if total and done and job.analysis_started is not None:
            needed = (now - job.analysis_started) / done * (total - done)
            if now + needed > deadline:
                raise StopRequested(f"the analysis needs about {needed:.0f} s more, past the stop window")

    def _commit(self, job: _Job, results: dict[str, Any], timings: dict[str, float]) -> bool:
        """Store results and `completed` (fenced); while the database is away, keep trying.

        The heartbeat keeps the message hidden meanwhile, so results that took
        minutes to compute are not thrown away over a short outage.
        """
        give_up_at = time.monotonic() + COMMIT_PATIENCE_SECONDS
        failures = 0
        while True:
            try:
                with _timed(timings, "commit"):
                    if self.services.jobs.complete(job.claim, results):
                        return True
                    # After a dropped connection the first try may have committed after all.
                    row = self.services.jobs.get(job.claim.job_id) if failures else None
                    return bool(row and row["status"] == COMPLETED and row["attempts"] == job.claim.attempt)
            except DB_UNAVAILABLE as exc:
                failures += 1
                delay = backoff(failures, cap=10.0)
                self._emit("job.commit_retry", logging.WARNING, job_id=str(job.claim.job_id),
                           attempt=job.claim.attempt, error=_describe(exc), retry_in_seconds=round(delay, 1))
                if time.monotonic() + delay > give_up_at:
                    raise
                self._alive()  # patiently retrying is alive; the wait is shorter than the liveness slack
                self._checkpoint(job, finishing=True)
                job.lease_lost.wait(delay)
                self._checkpoint(job, finishing=True)

    # -- settling an attempt that did not complete -----------------------------------------------

    def _write(self, job: _Job, write: Callable[[], bool]) -> bool | None:
        """Run a fenced write: True done, False fenced off, None when the database is unavailable."""
        try:
            return write()
        except DB_UNAVAILABLE as exc:
            self._database_lost(str(job.claim.job_id), exc)
            return None

    def _completed_metrics(self, job: _Job, results: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
        video = results.get("video")
        video = video if isinstance(video, dict) else {}
        return emf.job_completed(
            self.metrics, job_seconds=time.monotonic() - job.claimed_at,
            queue_wait_seconds=job.claim.queue_wait_seconds, frames_analyzed=video.get("frames_analyzed"),
            analysis_seconds=timings.get("analysis"), video_seconds=video.get("duration_s"))

    def _fail(self, job: _Job, error: str, kind: str, timings: dict[str, float]) -> str:
        job_id = str(job.claim.job_id)
        written = self._write(job, lambda: self.services.jobs.fail(job.claim, error))
        if written is None:
            return "retry"
        if written is False:
            return self._lost(job)
        self._emit("job.failed", logging.ERROR, job_id=job_id, attempt=job.claim.attempt, error=error,
                   **emf.job_failed(self.metrics, kind))
        self._delete(job.message, job_id, timings)
        return "failed"

    def _retry_later(self, job: _Job, exc: Exception) -> str:
        """A transient failure: hand the job back with a delay, or give up once the queue would."""
        job_id = str(job.claim.job_id)
        error = _describe(exc)
        if isinstance(exc, DB_UNAVAILABLE):
            self._database_lost(job_id, exc)
        receive_count = job.message.receive_count
        if receive_count >= self.max_receives:
            reason = f"gave up after {job.claim.attempt} attempts: {error}"
            written = self._write(job, lambda: self.services.jobs.fail(job.claim, reason))
            if written is False:
                return self._lost(job)
            if written:
                # Visible again at once, so the queue moves it to the dead-letter queue on the next receive.
                self._set_visibility(job.message, 0, job_id)
            self._emit("job.gave_up", logging.ERROR, job_id=job_id, attempt=job.claim.attempt,
                       receive_count=receive_count, error=reason, recorded=bool(written), exc_info=True,
                       **emf.job_failed(self.metrics, emf.GAVE_UP))
            return "gave_up"
        note = f"attempt {job.claim.attempt} failed, will retry: {error}"
        written = self._write(job, lambda: self.services.jobs.release(job.claim, note))
        if written is False:
            return self._lost(job)
        delay = min(RETRY_DELAY_BASE_SECONDS * 2 ** (receive_count - 1), self.settings.visibility_timeout)
        if written:
            self._set_visibility(job.message, delay, job_id)
        self._emit("job.retry", logging.WARNING, job_id=job_id, attempt=job.claim.attempt,
                   receive_count=receive_count, error=error, retry_in_seconds=delay if written else None,
                   exc_info=True, **emf.job_retried(self.metrics))
        return "retry"

    def _lost(self, job: _Job) -> str:
        """Another attempt owns the job now: write nothing, leave its message alone."""
        self._emit("job.abandoned", logging.WARNING, job_id=str(job.claim.job_id), attempt=job.claim.attempt,
                   reason="another attempt took the job over; nothing written")
        return "lease_lost"

    def _hand_back(self, job: _Job, reason: str) -> str:
        job_id = str(job.claim.job_id)
        written = self._write(job, lambda: self.services.jobs.release(job.claim))
        if written is False:
            return self._lost(job)
        self._set_visibility(job.message, 0, job_id)
        self._emit("job.handed_back", logging.WARNING, job_id=job_id, attempt=job.claim.attempt, reason=reason,
                   lease_released=bool(written))
        return "handed_back"

    # -- queue actions that must not take the loop down --------------------------------------------

    def _delete(self, message: Message, job_id: str | None, timings: dict[str, float]) -> None:
        """Delete, retrying briefly; if it still fails the message returns and is recognised as done."""
        with _timed(timings, "delete"):
            for failures in range(1, 4):
                try:
                    self.services.queue.delete(message)
                    return
                except AWS_ERRORS as exc:
                    self._emit("message.delete_failed", logging.WARNING, job_id=job_id,
                               message_id=message.message_id, error=_describe(exc))
                    time.sleep(backoff(failures, base=0.2, cap=2.0))

    def _set_visibility(self, message: Message, seconds: float, job_id: str | None) -> None:
        try:
            self.services.queue.set_visibility(message, seconds)
        except AWS_ERRORS as exc:
            self._emit("message.visibility_failed", logging.WARNING, job_id=job_id,
                       message_id=message.message_id, error=_describe(exc))
