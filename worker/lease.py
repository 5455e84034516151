"""The lease keeper: keeps a claimed job's message invisible and its row's lease alive while it runs.

Not to be confused with the liveness file (worker.health): the keeper runs in
its own thread and keeps going while the main thread hangs, which is exactly
why it must never touch the liveness file.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from types import TracebackType

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import exc as sa_exc

from worker.errors import describe
from worker.events import Events
from worker.jobs import Claim, JobStore
from worker.queue import JobQueue, Message

AWS_ERRORS = (BotoCoreError, ClientError)
# A beat may be stuck in a database call; the attempt does not wait for it longer than this.
JOIN_SECONDS = 1.0


@dataclass
class LeaseKeeper:
    """Beats every third of the visibility timeout, so two beats may fail before anything expires.

    A fenced lease extension that fails means another attempt owns the job:
    `lost` is set and the attempt is abandoned at its next cancellation point.
    """

    queue: JobQueue
    jobs: JobStore
    claim: Claim
    message: Message
    visibility_timeout: float
    lease_seconds: float
    events: Events
    lost: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.claim.job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop beating; waits briefly for a beat in progress (a hung database call is left behind)."""
        self._done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(JOIN_SECONDS)

    def _run(self) -> None:
        while not self._done.wait(self.visibility_timeout / 3):
            try:
                self.beat()
            except Exception as exc:  # a dead keeper would let a running job's message reappear
                self.events.emit("heartbeat.failed", logging.ERROR, error=describe(exc), exc_info=True)

    def beat(self) -> None:
        try:
            self.queue.set_visibility(self.message, self.visibility_timeout)
        except AWS_ERRORS as exc:
            self.events.emit("heartbeat.queue_failed", logging.WARNING, error=describe(exc))
        try:
            held = self.jobs.extend_lease(self.claim, self.lease_seconds)
        except sa_exc.SQLAlchemyError as exc:
            self.events.emit("heartbeat.database_failed", logging.WARNING, error=describe(exc))
            return
        if not held and not self._done.is_set():  # after stop(), the attempt itself settled the row
            self.lost.set()
            self._done.set()
            self.events.emit("job.lease_lost", logging.WARNING)
