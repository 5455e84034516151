"""Waiting policies: one backoff formula, and the stop window every wait asks before it sleeps.

In the spirit of Dramatiq's retries/time-limit/shutdown middleware: the loop
does not compute delays or deadlines by hand, it asks these objects.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_SLICE_SECONDS = 0.25
# 2 ** 64 seconds is far past any cap; larger exponents would only risk OverflowError.
_MAX_EXPONENT = 64


def backoff(failures: int, base: float = 1.0, cap: float = 30.0, deadline: float | None = None) -> float:
    """Exponential delay with jitter, so that many workers do not retry in step.

    Capped, defined for any failure count (no overflow), and never past
    `deadline` (seconds left) when one is given.
    """
    exponent = min(max(failures - 1, 0), _MAX_EXPONENT)
    ceiling = min(cap, base * 2.0 ** exponent)
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(0.0, min(delay, deadline)) if deadline is not None else delay


class StopWindow:
    """The time the worker may still spend after a stop request (SIGTERM), asked by every wait.

    `request()` is safe in a signal handler: it only records the time. Before a
    stop request the window is unbounded (`remaining()` is None).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.requested_at: float | None = None
        self.reason = ""

    def request(self, reason: str) -> None:
        if self.requested_at is None:
            self.reason = reason
            self.requested_at = self.clock()

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    @property
    def deadline(self) -> float | None:
        return None if self.requested_at is None else self.requested_at + self.seconds

    def remaining(self) -> float | None:
        """Seconds left in the window (never negative), or None while no stop was requested."""
        deadline = self.deadline
        return None if deadline is None else max(0.0, deadline - self.clock())

    def clip(self, seconds: float) -> float:
        """`seconds`, shortened to what is left of the window."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)

    def wait(self, seconds: float, until: threading.Event | None = None) -> None:
        """Sleep up to `seconds` or until `until` is set, and never past the end of the window.

        Sliced, so that a stop request arriving during the wait shortens it:
        the signal handler only records the time, it cannot wake anyone.
        """
        end = self.clock() + seconds
        while (left := self.clip(end - self.clock())) > 0 and not (until is not None and until.is_set()):
            if until is not None:
                until.wait(min(left, _SLICE_SECONDS))
            else:
                time.sleep(min(left, _SLICE_SECONDS))


@dataclass
class Bounded:
    """Runs a blocking call in a helper thread so the caller can stop waiting when the window closes.

    For calls whose own timeouts are longer than what is left (a database
    connect, a lease release): the call is left to finish or fail on its own.
    """

    window: StopWindow

    def call(self, func: Callable[[], T], timeout: float | None = None, at_least: float = 0.0) -> T:
        """`func()`, unless it takes longer than the window (or `timeout`) allows, but never less than `at_least`."""
        budget = self.window.clip(timeout) if timeout is not None else self.window.remaining()
        if budget is None:
            return func()
        budget = max(budget, at_least)
        box: dict[str, object] = {}

        def run() -> None:
            try:
                box["value"] = func()
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        helper = threading.Thread(target=run, name="bounded-call", daemon=True)
        helper.start()
        helper.join(budget)
        if helper.is_alive():
            raise TimeoutError(f"gave up waiting after {budget:.1f} s: the stop window is closing")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]
