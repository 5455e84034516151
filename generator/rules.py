"""AWS limits and cross-field rules that JSON Schema cannot express.

Pure functions over the merged values: `check` returns every (key path, message)
finding, so a person fixes all of them in one go.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from generator.derived import queue_visibility_seconds

KeyPath = tuple[str, ...]
Finding = tuple[KeyPath, str]
Rule = Callable[[dict[str, Any]], Iterator[Finding]]
# Every rule with the keys it reads: it runs only when the schema found them well formed.
RULES: list[tuple[Rule, tuple[KeyPath, ...]]] = []

# Fargate task sizes: cpu units -> allowed memory in MiB.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
LOG_RETENTION_DAYS = (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
SQS_VISIBILITY = (0, 43200)
SQS_RETENTION = (60, 1209600)
SQS_WAIT = (0, 20)
SQS_DELAY = (0, 900)
SQS_MAX_RECEIVE = (1, 1000)
ECS_STOP_TIMEOUT = (2, 120)
ECS_HEALTH_CHECK = {"interval_seconds": (5, 300), "timeout_seconds": (2, 60), "retries": (1, 10),
                    "start_period_seconds": (0, 300)}


def rule(*reads: str) -> Callable[[Rule], Rule]:
    """Register a rule with the dotted keys it reads."""
    def register(function: Rule) -> Rule:
        RULES.append((function, tuple(tuple(key.split(".")) for key in reads)))
        return function
    return register


def check(values: dict[str, Any], ready: Callable[[tuple[KeyPath, ...]], bool] = lambda _: True) -> list[Finding]:
    """Every finding of every rule whose inputs are `ready` (well formed); a failing rule raises."""
    findings: list[Finding] = []
    for function, reads in RULES:
        if ready(reads):
            findings.extend(function(values))
    return findings


@rule("worker.cpu", "worker.memory")
def _fargate(values: dict[str, Any]) -> Iterator[Finding]:
    cpu, memory = values["worker"]["cpu"], values["worker"]["memory"]
    if cpu not in FARGATE_MEMORY:
        yield ("worker", "cpu"), (f"{cpu} is not a Fargate CPU size; allowed: "
                                  + ", ".join(map(str, FARGATE_MEMORY)))
    elif memory not in FARGATE_MEMORY[cpu]:
        yield ("worker", "memory"), (f"{memory} MiB is not allowed with cpu {cpu} on Fargate; "
                                     f"allowed: {_describe(FARGATE_MEMORY[cpu])} MiB")


def _describe(allowed: tuple[int, ...]) -> str:
    steps = {b - a for a, b in zip(allowed, allowed[1:])}
    if len(allowed) > 3 and len(steps) == 1:
        return f"{allowed[0]} to {allowed[-1]} in steps of {steps.pop()}"
    return ", ".join(map(str, allowed))


def _within(path: tuple[str, ...], value: int, bounds: tuple[int, int], what: str) -> Iterator[Finding]:
    low, high = bounds
    if not low <= value <= high:
        yield path, f"{value} is outside the {what} limit of {low} to {high}"


@rule("queue", "worker.max_job_seconds", "worker.stop_timeout_seconds", "worker.visibility_extension_seconds")
def _queue(values: dict[str, Any]) -> Iterator[Finding]:
    queue = values["queue"]
    for key, bounds in (("message_retention_seconds", SQS_RETENTION), ("dlq_retention_seconds", SQS_RETENTION),
                        ("receive_wait_seconds", SQS_WAIT), ("delay_seconds", SQS_DELAY),
                        ("max_receive_count", SQS_MAX_RECEIVE)):
        yield from _within(("queue", key), queue[key], bounds, "SQS")
    if queue["dlq_retention_seconds"] < queue["message_retention_seconds"]:
        yield ("queue", "dlq_retention_seconds"), (
            f"{queue['dlq_retention_seconds']} is shorter than queue.message_retention_seconds "
            f"({queue['message_retention_seconds']}): a message keeps its first enqueue time, so it "
            "would expire in the dead-letter queue before anyone could re-drive it")
    visibility = queue_visibility_seconds(values)
    if visibility > SQS_VISIBILITY[1]:
        yield ("worker", "max_job_seconds"), (
            f"max_job_seconds + stop_timeout_seconds = {visibility} s exceeds the SQS visibility "
            f"timeout limit of {SQS_VISIBILITY[1]} s")
    yield from _within(("worker", "visibility_extension_seconds"),
                       values["worker"]["visibility_extension_seconds"], (1, SQS_VISIBILITY[1]),
                       "SQS visibility timeout")


@rule("alarms.oldest_message_age_seconds", "alarms.queue_wait_p90_seconds", "queue.message_retention_seconds",
      "autoscaling.acceptable_latency_seconds")
def _alarms(values: dict[str, Any]) -> Iterator[Finding]:
    age = values["alarms"]["oldest_message_age_seconds"]
    retention = values["queue"]["message_retention_seconds"]
    if age >= retention:
        yield ("alarms", "oldest_message_age_seconds"), (
            f"{age} s is not below queue.message_retention_seconds ({retention} s): "
            "messages would expire before the alarm could fire")
    latency = values["autoscaling"]["acceptable_latency_seconds"]
    for key in ("oldest_message_age_seconds", "queue_wait_p90_seconds"):
        threshold = values["alarms"][key]
        if threshold < latency:
            yield ("alarms", key), (
                f"{threshold} s is below autoscaling.acceptable_latency_seconds ({latency} s): "
                "the alarm would fire on a wait that scaling is designed to tolerate")
        if key == "queue_wait_p90_seconds" and threshold >= retention:
            yield ("alarms", key), (
                f"{threshold} s is not below queue.message_retention_seconds ({retention} s): "
                "jobs would expire before the alarm could fire")


@rule("logs.retention_days")
def _logs(values: dict[str, Any]) -> Iterator[Finding]:
    days = values["logs"]["retention_days"]
    if days not in LOG_RETENTION_DAYS:
        yield ("logs", "retention_days"), (f"{days} is not a CloudWatch Logs retention; allowed: "
                                           + ", ".join(map(str, LOG_RETENTION_DAYS)))


@rule("autoscaling", "worker.desired_count")
def _scaling(values: dict[str, Any]) -> Iterator[Finding]:
    scaling = values["autoscaling"]
    low, high = scaling["min_count"], scaling["max_count"]
    desired = values["worker"]["desired_count"]
    if low > high:
        yield ("autoscaling", "min_count"), f"{low} is greater than autoscaling.max_count ({high})"
    elif not low <= desired <= high:
        yield ("worker", "desired_count"), (f"{desired} is outside the autoscaling bounds "
                                            f"(min_count {low} to max_count {high})")
    if scaling["mean_job_seconds"] > scaling["acceptable_latency_seconds"]:
        yield ("autoscaling", "mean_job_seconds"), (
            f"{scaling['mean_job_seconds']} s is longer than acceptable_latency_seconds "
            f"({scaling['acceptable_latency_seconds']} s): no backlog could meet that latency")


@rule("worker.stop_timeout_seconds", "worker.health_check")
def _worker(values: dict[str, Any]) -> Iterator[Finding]:
    worker = values["worker"]
    yield from _within(("worker", "stop_timeout_seconds"), worker["stop_timeout_seconds"],
                       ECS_STOP_TIMEOUT, "Fargate stopTimeout")
    check = worker["health_check"]
    for key, bounds in ECS_HEALTH_CHECK.items():
        yield from _within(("worker", "health_check", key), check[key], bounds, "ECS health check")
    if check["timeout_seconds"] >= check["interval_seconds"]:
        yield ("worker", "health_check", "timeout_seconds"), (
            f"{check['timeout_seconds']} s is not shorter than interval_seconds ({check['interval_seconds']} s)")
