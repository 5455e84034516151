"""Liveness: the worker loop's heartbeat file, and the `cricksy-worker health` check ECS runs against it.

The loop's main thread touches `{WORKER_TMP_DIR}/heartbeat` whenever it shows
progress: around every long poll, on every analysis progress call, on every
chunk of a download or upload, and while it waits on purpose (backoff while the
database or the queue is away). The background thread that keeps the message
invisible and the lease alive never touches it. So a main thread stuck in a
frame that never returns, or in a stalled transfer, lets the file go stale
while its job stays hidden and leased; `health` then fails and ECS replaces
the task, after which the message reappears for another worker.

`health` runs inside the task every interval, so it stays cheap: it validates
the configuration (all of it), asks the configured analyzer whether it can
run (the pose analyzer checks its model), and reads one mtime. No AWS or database call, and nothing
heavy is imported (no MediaPipe, OpenCV, numpy, boto3 or database driver).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from worker.config import ConfigError, Settings, load_settings
from worker.seam import check_analyzer, load_analyzer

HEARTBEAT_FILE = "heartbeat"
# The longest legitimate gap between two touches outside a long poll; see liveness_threshold.
LIVENESS_SLACK_SECONDS = 40.0


class Unhealthy(Exception):
    """The worker should be replaced; the message is one line saying why."""


def heartbeat_path(settings: Settings) -> Path:
    return Path(settings.tmp_dir) / HEARTBEAT_FILE


def touch(path: Path) -> None:
    """Record a sign of life (create the file, or move its mtime to now); raises OSError."""
    path.touch()


def liveness_threshold(settings: Settings) -> float:
    """Seconds the heartbeat may age before `health` fails: WORKER_LIVENESS_SECONDS if set, else
    WORKER_POLL_WAIT_SECONDS + LIVENESS_SLACK_SECONDS (20 + 40 = 60 s with the defaults).

    The longest gap between two touches of a healthy loop is one long poll (the
    file is touched just before the receive and just after it returns), hence
    the poll wait. Everywhere else the gaps are short by construction: the
    analysis calls `progress` at least every ~0.5 s (the analysis contract),
    transfers touch per chunk, and deliberate waits (backoff, commit retries)
    touch every quarter second. What remains are single calls between touches
    at the start and end of a job, each bounded by a client timeout: the claim
    and other database statements (10 s connect timeout), the scale-in
    protection call (3 s), the first byte of the download (5 s connect), plus
    model loading and rendering pictures between analysis progress calls. The
    40 s slack covers all of those at once with room to spare, while a frame
    or transfer that hangs is still caught within about a minute. The lease
    heartbeat interval (a third of WORKER_VISIBILITY_TIMEOUT_SECONDS) plays no
    part on purpose: that thread keeps running when the loop hangs.
    """
    if settings.liveness_seconds is not None:
        return settings.liveness_seconds
    return settings.poll_wait_seconds + LIVENESS_SLACK_SECONDS


def heartbeat_age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last touch (never negative), or None when the file does not exist."""
    try:
        modified = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - modified)


def check() -> str:
    """Check this process's environment as the worker would see it; returns a one-line summary.

    Raises Unhealthy with a one-line reason: configuration invalid (the first
    problem and how many more), the analyzer's own check failed (the pose
    model missing or not the pinned file),
    heartbeat missing or older than `liveness_threshold`.
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        first, more = exc.problems[0], len(exc.problems) - 1
        raise Unhealthy(f"configuration invalid: {first}" + (f" (and {more} more)" if more else "")) from None
    try:
        check_analyzer(load_analyzer(settings.analyzer), settings)
    except ConfigError as exc:
        raise Unhealthy(f"configuration invalid: {exc.problems[0]}") from None
    except Exception as exc:  # the analyzer's own one-line reason (e.g. the pose model is missing)
        raise Unhealthy(str(exc)) from None
    path = heartbeat_path(settings)
    threshold = liveness_threshold(settings)
    age = heartbeat_age(path)
    if age is None:
        raise Unhealthy(f"no heartbeat at {path}: the worker loop has not started")
    if age > threshold:
        raise Unhealthy(f"heartbeat {path} is {age:.1f} s old, over the {threshold:g} s liveness threshold: "
                        "the worker loop is stuck (a hung analysis frame or a stalled transfer)")
    return f"healthy: heartbeat {age:.1f} s old (threshold {threshold:g} s)"
