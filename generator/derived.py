"""Numbers computed from the values, in one place, so templates and rules agree."""
from __future__ import annotations

import math
from typing import Any

# Seconds the worker keeps for itself between giving up a job and ECS's SIGKILL:
# enough to return the message to the queue and release the job's lease.
DRAIN_MARGIN_SECONDS = 10


def queue_visibility_seconds(values: dict[str, Any]) -> int:
    """A received message stays hidden longer than any job can run, plus the stop window."""
    worker = values["worker"]
    return int(worker["max_job_seconds"]) + int(worker["stop_timeout_seconds"])


def worker_stop_seconds(values: dict[str, Any]) -> int:
    """How long the worker may go on with a job after SIGTERM (WORKER_STOP_TIMEOUT_SECONDS)."""
    return max(int(values["worker"]["stop_timeout_seconds"]) - DRAIN_MARGIN_SECONDS, 0)


def backlog_per_task(values: dict[str, Any]) -> int:
    """Waiting messages one task may have before we add tasks: latency budget / job time."""
    scaling = values["autoscaling"]
    return max(1, math.floor(scaling["acceptable_latency_seconds"] / scaling["mean_job_seconds"]))


def scale_out_steps(values: dict[str, Any]) -> list[dict[str, int]]:
    """Step adjustments of the scale-out policy, bounds in visible messages above the alarm threshold.

    A backlog of max_count tasks' worth adds max_count at once (capped by the target),
    so a large backlog reaches max_count in one step and any backlog in two: after
    the first step only the +1 and +half steps remain between it and the cap.
    """
    per_task, most = backlog_per_task(values), values["autoscaling"]["max_count"]
    if most == 1:
        return [{"lower": 0, "add": 1}]
    steps = [{"lower": 0, "upper": per_task, "add": 1},
             {"lower": per_task, "upper": most * per_task, "add": max(1, math.ceil(most / 2))},
             {"lower": most * per_task, "add": most}]
    return steps


def derive(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "queue_visibility_seconds": queue_visibility_seconds(values),
        "worker_stop_seconds": worker_stop_seconds(values),
        "backlog_per_task": backlog_per_task(values),
        "scale_out_steps": scale_out_steps(values),
    }
