"""The service loop: receive one message, claim its job, run one attempt (worker.attempt), repeat.

The order is what keeps a job from being lost or completed twice: the message
is deleted only after the results are committed, every write after the claim
is fenced by the attempt number, and anything unexpected leaves the message in
the queue to be delivered again. Events leave through worker.events, with the
message's and the job's context bound once; outcome events carry their
CloudWatch metrics (worker.emf). The main thread's progress touches the
liveness file (worker.health).
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from sqlalchemy import exc as sa_exc

from worker import emf, migrations
from worker.attempt import Attempt
from worker.clients import Services
from worker.config import Settings
from worker.errors import MalformedMessage, SchemaNotReady, UnknownJob, describe
from worker.events import Events
from worker.jobs import COMPLETED, FAILED
from worker.protection import TaskProtection
from worker.queue import Message
from worker.retry import StopWindow, backoff
from worker.runtime import AWS_ERRORS, DB_UNAVAILABLE, Runtime, timed
from worker.seam import Analyzer, load_analyzer

__all__ = ["DEFAULT_MAX_RECEIVES", "SchemaNotReady", "Worker", "load_analyzer"]

log = logging.getLogger(__name__)

# Without a RedrivePolicy the queue never gives up by itself; neither should a poison message loop forever.
DEFAULT_MAX_RECEIVES = 5


class Worker:
    def __init__(self, settings: Settings, services: Services, analyzer: Analyzer,
                 protection: TaskProtection | None = None, owner: str | None = None,
                 window: StopWindow | None = None):
        self.settings = settings
        self.services = services
        self.analyzer = analyzer
        self.protection = protection or TaskProtection(settings.ecs_agent_uri)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.max_receives = DEFAULT_MAX_RECEIVES
        self.has_dead_letter_queue = False
        # The lease ends a little before the message reappears, so whoever receives it next finds the
        # lease expired instead of spending one of the message's receives on a busy job.
        vt = settings.visibility_timeout
        self.lease_seconds = vt - min(5.0, vt / 4)
        self.window = window or StopWindow(settings.stop_timeout_seconds)
        self.events = Events(log, emf.Context(settings.metrics_namespace, settings.metrics_environment,
                                              settings.metrics_service))
        self.rt = Runtime(settings, services, self.events, self.window)
        self._queue_failures = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Stop receiving now; the job in hand goes on only while it can finish in the stop window.

        Safe in a signal handler: it only records the request. Logging or
        setting an Event there could re-enter a lock the interrupted code holds.
        """
        self.window.request(reason)

    @property
    def stopping(self) -> bool:
        return self.rt.stopping

    def start(self) -> bool:
        """Read the queue's redrive policy and check the schema; False if stopped while waiting."""
        self.rt.alive()
        failures = 0
        while not self.stopping:
            try:
                max_receives = self.services.queue.max_receive_count()
                revision = migrations.current_revision(self.services.jobs.engine)
                break
            except (*AWS_ERRORS, *DB_UNAVAILABLE) as exc:
                failures += 1
                delay = backoff(failures)
                self.events.emit("worker.start_retry", logging.WARNING, error=describe(exc),
                                 retry_in_seconds=round(delay, 1))
                self.rt.pause(delay)
        else:
            return False
        head = migrations.head_revision()
        if revision != head:
            raise SchemaNotReady(f"the database schema is at revision {revision or 'none'}, this worker needs "
                                 f"{head}: run `cricksy-worker init-db` against "
                                 f"{self.settings.database_url_redacted}")
        if max_receives is None:
            self.events.emit("queue.no_redrive_policy", logging.WARNING,
                             detail=f"the queue has no dead-letter queue; jobs fail after {DEFAULT_MAX_RECEIVES} "
                                    "receives")
        else:
            self.max_receives = max_receives
            self.has_dead_letter_queue = True
        self.events.emit("worker.started", owner=self.owner, queue_url=self.services.queue.url,
                         bucket=self.services.store.bucket, database=self.settings.database_url_redacted,
                         analyzer=self.settings.analyzer, max_receive_count=self.max_receives,
                         visibility_timeout_seconds=self.settings.visibility_timeout)
        return True

    def run(self) -> None:
        if not self.start():
            self.events.emit("worker.stopped")
            return
        while not self.stopping:
            try:
                self.poll_once()
            except Exception as exc:  # a bug must not turn into a crash loop that drops the message in hand
                self.events.emit("worker.error", logging.ERROR, error=describe(exc), exc_info=True)
                self.rt.pause(backoff(1))
        self.events.emit("worker.stopped")

    def poll_once(self) -> None:
        """Receive at most one message and see it through."""
        if self.rt.db_failures and not self._database_back():
            return
        self.rt.alive()
        self.events.emit("queue.polling", logging.DEBUG)
        started = time.monotonic()
        try:
            message = self.services.queue.receive(self.settings.poll_wait_seconds, self.settings.visibility_timeout)
        except AWS_ERRORS as exc:
            self._queue_failures += 1
            delay = backoff(self._queue_failures)
            self.events.emit("queue.receive_failed", logging.WARNING, error=describe(exc),
                             retry_in_seconds=round(delay, 1))
            self.rt.pause(delay)
            return
        finally:
            self.rt.alive()
        self._queue_failures = 0
        if message is None:
            return
        events = self.events.bind(message_id=message.message_id)
        if self.stopping:
            self.rt.set_visibility(message, 0, events)
            events.emit("message.returned", reason="stopping")
            return
        self._handle(message, events, {"poll": time.monotonic() - started})

    def _database_back(self) -> bool:
        try:
            self.services.jobs.ping()
        except sa_exc.SQLAlchemyError as exc:
            self.rt.db_failures += 1
            delay = backoff(self.rt.db_failures)
            self.events.emit("db.unavailable", logging.WARNING, error=describe(exc), retry_in_seconds=round(delay, 1))
            self.rt.pause(delay)
            return False
        self.rt.db_failures = 0
        self.events.emit("db.available")
        return True

    # -- one message ----------------------------------------------------------------------------

    def _handle(self, message: Message, events: Events, timings: dict[str, float]) -> None:
        try:
            job_id = message.job_id()
        except MalformedMessage as exc:
            events.emit("message.rejected", logging.ERROR,
                        error=f"{exc}; expected {{\"job_id\": \"<uuid>\"}}; message deleted",
                        measure=emf.failed(exc.error_class))
            self.rt.delete(message, events, timings)
            return
        events = events.bind(job_id=str(job_id))
        events.emit("message.received", receive_count=message.receive_count)
        try:
            with timed(timings, "claim"):
                claim = self.services.jobs.claim(job_id, self.lease_seconds, self.owner, message.message_id)
                if claim is None:
                    self._not_claimed(message, job_id, events, timings)
                    return
        except DB_UNAVAILABLE as exc:
            self.rt.database_lost(events, exc)
            return
        events = events.bind(attempt=claim.attempt)
        attempt = Attempt(self.rt, self.analyzer, self.protection, claim, message, events, self.lease_seconds,
                          self.max_receives)
        outcome = attempt.run(timings)
        events.emit("job.finished", outcome=outcome,
                    timings_ms={phase: round(seconds * 1000, 2) for phase, seconds in timings.items()})

    def _not_claimed(self, message: Message, job_id: uuid.UUID, events: Events, timings: dict[str, float]) -> None:
        row = self.services.jobs.get(job_id)
        if row is None:
            self._unknown(message, events, timings)
            return
        if row["status"] in (COMPLETED, FAILED):
            events.emit("job.duplicate", status=row["status"],
                        detail=f"job already {row['status']}; message deleted without running it again")
            self.rt.delete(message, events, timings)
            return
        remaining = self.services.jobs.lease_remaining(job_id) or 0.0
        holder = row.get("lease_message_id")
        if remaining > 0 and holder and holder != message.message_id:
            # The holder's own message still guards the job; this one would only spend receives.
            events.emit("job.duplicate", status=row["status"], lease_remaining_seconds=round(remaining, 1),
                        detail=f"another message ({holder}) holds the job under a live lease; duplicate deleted")
            self.rt.delete(message, events, timings)
            return
        events.emit("job.busy", status=row["status"], lease_remaining_seconds=round(remaining, 1))
        # Come back when the holder's lease would have run out, not before.
        self.rt.set_visibility(message, max(remaining, 0.0) + 1, events)

    def _unknown(self, message: Message, events: Events, timings: dict[str, float]) -> None:
        """A job id with no row: perhaps a producer that sent before committing. Never deleted on sight.

        It is retried, spread over WORKER_UNKNOWN_JOB_GRACE_SECONDS, until its
        last receive; then it is counted (UnknownJob) and left visible for the
        dead-letter queue, where an alarm sees it. Without a dead-letter queue it
        is deleted once the grace period is over.
        """
        grace = self.settings.unknown_job_grace_seconds
        age = None if message.sent_at is None else max(0.0, time.time() - message.sent_at)
        last = message.receive_count >= self.max_receives
        if not last and (self.has_dead_letter_queue or age is None or age < grace):
            spacing = grace / max(self.max_receives - 1, 1)
            delay = spacing if age is None else max(0.0, min(spacing, grace - age))
            events.emit("job.unknown", logging.WARNING, receive_count=message.receive_count,
                        retry_in_seconds=round(delay, 1),
                        detail=f"no such row in video_analysis_jobs yet; retried for {grace:g} s after sending")
            self.rt.set_visibility(message, delay, events)
            return
        keep = self.has_dead_letter_queue
        fate = "message left for the dead-letter queue" if keep else "message deleted (the queue has no DLQ)"
        events.emit("job.rejected", logging.ERROR, receive_count=message.receive_count,
                    error=f"unknown job id: no such row in video_analysis_jobs after the {grace:g} s grace period; "
                          f"{fate}", measure=emf.failed(UnknownJob.error_class))
        if keep:
            self.rt.set_visibility(message, 0, events)
        else:
            self.rt.delete(message, events, timings)
