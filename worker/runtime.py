"""What the loop and each attempt share: settings, handles, events, the stop window, liveness, queue actions.

Queue actions here never take the loop down: a failed delete or visibility
change is logged and the message's own timeout takes over.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import exc as sa_exc

from worker import health
from worker.clients import Services
from worker.config import Settings
from worker.errors import TransientError, describe
from worker.events import Events
from worker.queue import Message
from worker.retry import StopWindow, backoff

AWS_ERRORS = (BotoCoreError, ClientError)
DB_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.DisconnectionError)


def is_outage(exc: BaseException) -> bool:
    """A failure of something around the job (AWS, the database, the network, the analysis process), not a bug."""
    return isinstance(exc, (*AWS_ERRORS, sa_exc.SQLAlchemyError, OSError, TransientError))


# How long a completed job keeps trying to delete its message; if it still fails the message comes
# back and is recognised as a duplicate of a completed job, then deleted.
DELETE_PATIENCE_SECONDS = 10.0


@contextmanager
def timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.monotonic() - started


@dataclass
class Runtime:
    settings: Settings
    services: Services
    events: Events
    window: StopWindow
    db_failures: int = 0
    _heartbeat_failing: bool = False
    _stop_announced: bool = False

    def __post_init__(self) -> None:
        self.heartbeat_file = health.heartbeat_path(self.settings)

    # -- the stop window ------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        if not self.window.requested:
            return False
        if not self._stop_announced:
            self._stop_announced = True
            self.events.emit("worker.stopping", reason=self.window.reason,
                             stop_timeout_seconds=self.settings.stop_timeout_seconds)
        return True

    def pause(self, seconds: float) -> None:
        """Sleep, but wake up within a fraction of a second of a stop request."""
        end = time.monotonic() + seconds
        while not self.stopping and (left := end - time.monotonic()) > 0:
            self.alive()  # waiting on purpose is not hanging
            time.sleep(min(left, 0.25))

    # -- liveness -------------------------------------------------------------------------------

    def alive(self) -> None:
        """A sign of life for `cricksy-worker health`: only ever called from the loop's own progress.

        The lease keeper's thread must never call it, or a hung job would look alive.
        """
        try:
            health.touch(self.heartbeat_file)
        except OSError as exc:
            if not self._heartbeat_failing:
                self._heartbeat_failing = True
                self.events.emit("liveness.touch_failed", logging.WARNING, path=str(self.heartbeat_file),
                                 error=describe(exc))
            return
        self._heartbeat_failing = False

    # -- the database ---------------------------------------------------------------------------

    def database_lost(self, events: Events, exc: BaseException) -> None:
        """Stop taking messages until the database answers again (they would only age in the queue)."""
        self.db_failures = max(self.db_failures, 1)
        events.emit("db.unavailable", logging.WARNING, error=describe(exc))

    # -- queue actions --------------------------------------------------------------------------

    def delete(self, message: Message, events: Events, timings: dict[str, float]) -> None:
        """Delete, retrying within DELETE_PATIENCE_SECONDS and the stop window.

        Giving up is safe: the message returns and, its job being finished, is deleted unread then.
        """
        give_up_at = time.monotonic() + DELETE_PATIENCE_SECONDS
        failures = 0
        with timed(timings, "delete"):
            while True:
                try:
                    self.services.queue.delete(message)
                    return
                except AWS_ERRORS as exc:
                    failures += 1
                    events.emit("message.delete_failed", logging.WARNING, error=describe(exc))
                    left = self.window.clip(give_up_at - time.monotonic())
                    if left <= 0:
                        return
                    self.window.wait(backoff(failures, base=0.2, cap=2.0, deadline=left))

    def set_visibility(self, message: Message, seconds: float, events: Events) -> None:
        try:
            self.services.queue.set_visibility(message, seconds)
        except AWS_ERRORS as exc:
            events.emit("message.visibility_failed", logging.WARNING, error=describe(exc))
