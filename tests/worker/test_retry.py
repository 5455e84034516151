"""The waiting policies: one backoff formula, the stop window, bounded calls."""
from __future__ import annotations

import threading

import pytest

from worker.retry import Bounded, StopWindow, backoff


@pytest.mark.parametrize("failures", [1, 2, 10, 1025, 10**6])
def test_backoff_is_capped_and_defined_for_any_failure_count(failures: int) -> None:
    delay = backoff(failures, base=1.0, cap=30.0)
    assert 0 < delay <= 30.0


def test_backoff_grows_and_is_clipped_to_a_deadline() -> None:
    assert 0.5 <= backoff(1) <= 1.0
    assert 4.0 <= backoff(4) <= 8.0
    assert backoff(50, deadline=0.3) <= 0.3
    assert backoff(50, deadline=-1.0) == 0.0


def test_the_stop_window_is_unbounded_until_requested_then_counts_down() -> None:
    now = [100.0]
    window = StopWindow(6.0, clock=lambda: now[0])
    assert window.remaining() is None and window.clip(42.0) == 42.0
    window.request("SIGTERM")
    now[0] += 4.0
    window.request("SIGINT")  # the first request counts
    assert window.reason == "SIGTERM" and window.remaining() == 2.0 and window.clip(10.0) == 2.0
    now[0] += 5.0
    assert window.remaining() == 0.0


def test_a_bounded_call_stops_waiting_when_the_window_closes() -> None:
    window = StopWindow(0.2)
    window.request("SIGTERM")
    release = threading.Event()
    with pytest.raises(TimeoutError, match="the stop window is closing"):
        Bounded(window).call(lambda: release.wait(30))
    release.set()
    assert Bounded(StopWindow(5.0)).call(lambda: 7) == 7  # no stop requested: a plain call


def test_a_wait_never_runs_past_the_window_even_when_the_stop_comes_during_it() -> None:
    import time

    window = StopWindow(0.3)
    threading.Timer(0.2, window.request, args=("SIGTERM",)).start()
    started = time.monotonic()
    window.wait(30.0)
    assert time.monotonic() - started < 5  # 0.5 s expected: ends with the window, not after 30 s
    lost = threading.Event()
    lost.set()
    StopWindow(10.0).wait(30.0, until=lost)  # returns at once: the event is set
