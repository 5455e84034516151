"""Job outcomes as CloudWatch metrics, in the embedded metric format (EMF) of the log lines we already write.

An outcome event (one JSON line on stderr, with its `job_id`) gains an `_aws`
member plus its metric values and dimension values as top-level members.
CloudWatch Logs extracts the metrics from the line itself, so the worker needs
no PutMetricData call, no extra IAM permission and no extra latency, and the
metric and the log line that explains it can never disagree.

The contract the dashboard and alarms rely on:

    Namespace   METRICS_NAMESPACE (default Cricksy/VideoAnalysis)
    Dimensions  Environment = METRICS_ENVIRONMENT (default local)
                Service     = METRICS_SERVICE (default cricksy-worker)

    job.completed    JobsCompleted            Count         1
                     JobDuration              Seconds       claim to commit
                     QueueWait                Seconds       row created_at to this attempt's start
                     AnalysedFramesPerSecond  Count/Second  video.frames_analyzed / analysis seconds
                     VideoSecondsProcessed    Seconds       video.duration_s of the result
                     dimension sets [Environment, Service]
    job.failed, job.gave_up, job.rejected, message.rejected
                     JobsFailed               Count         1, with a top-level ErrorClass
                     dimension sets [Environment, Service], [Environment, Service, ErrorClass]
    job.retry        JobsRetried              Count         1
                     dimension sets [Environment, Service]

AnalysedFramesPerSecond and VideoSecondsProcessed are left out when the
analyzer's result does not carry the numbers they come from.

ErrorClass, a short stable name per kind of failure:

    InvalidVideo      not a video we can analyse: unreadable, empty, too long, no person in it
    MissingObject     the video object does not exist, or is outside the uploads prefix the worker may read
    OverLimit         the video is over WORKER_MAX_VIDEO_BYTES
    MalformedMessage  the queue message is not {"job_id": "<uuid>"}
    UnknownJob        the message names a job id with no row
    GaveUp            a transient failure repeated until the queue's maxReceiveCount
    Permanent         any other permanent failure the analysis reports
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worker import errors

AWS_KEY = "_aws"
ENVIRONMENT, SERVICE, ERROR_CLASS = "Environment", "Service", "ErrorClass"

# Each error class of worker.errors carries its own name; this is the list of them.
ERROR_CLASSES = errors.ERROR_CLASSES

COUNT, SECONDS, COUNT_PER_SECOND = "Count", "Seconds", "Count/Second"
# The CloudWatch units an EMF MetricDefinition may name.
UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})
MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100

_BASE_SET = (ENVIRONMENT, SERVICE)


@dataclass(frozen=True)
class Context:
    """Where this worker's metrics go: the namespace and the values of its two fixed dimensions."""

    namespace: str
    environment: str
    service: str


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str


def finite(value: Any) -> float | None:
    """`value` as a float when it is a real, finite number (not a bool); None otherwise.

    Metric inputs partly come from the analyzer's result, which this module
    does not trust: CloudWatch drops a whole line whose value is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def now_ms() -> int:
    return int(time.time() * 1000)


def document(namespace: str, dimensions: Mapping[str, str], dimension_sets: Sequence[Sequence[str]],
             metrics: Sequence[Metric], timestamp_ms: int) -> dict[str, Any]:
    """The members that make a log line an EMF document: `_aws`, the dimension values, the metric values.

    Raises ValueError for anything CloudWatch would reject, since it rejects
    silently: a metric missing from the dashboard is found much later than an
    exception in a test.
    """
    names = [metric.name for metric in metrics]
    if not 0 < len(metrics) <= MAX_METRICS_PER_DIRECTIVE or len(set(names)) != len(names):
        raise ValueError(f"metric names must be 1 to {MAX_METRICS_PER_DIRECTIVE} distinct names, got {names}")
    if set(names) & set(dimensions) or AWS_KEY in dimensions or AWS_KEY in names:
        raise ValueError(f"metric names {names} and dimensions {sorted(dimensions)} share a member")
    for dimension_set in dimension_sets:
        if not 0 < len(dimension_set) <= MAX_DIMENSIONS_PER_SET or not set(dimension_set) <= set(dimensions):
            raise ValueError(f"dimension set {list(dimension_set)} must name 1 to {MAX_DIMENSIONS_PER_SET} "
                             f"of the dimensions {sorted(dimensions)}")
    for name, value in dimensions.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"dimension {name} must be a non-empty string, got {value!r}")
    for metric in metrics:
        if metric.unit not in UNITS:
            raise ValueError(f"metric {metric.name} has unit {metric.unit!r}, not a CloudWatch unit")
        if finite(metric.value) is None:
            raise ValueError(f"metric {metric.name} has value {metric.value!r}, not a finite number")
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int):
        raise ValueError(f"timestamp must be whole epoch milliseconds, got {timestamp_ms!r}")
    directive = {
        "Namespace": namespace,
        "Dimensions": [list(dimension_set) for dimension_set in dimension_sets],
        "Metrics": [{"Name": metric.name, "Unit": metric.unit} for metric in metrics],
    }
    return {
        AWS_KEY: {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]},
        **dimensions,
        **{metric.name: metric.value for metric in metrics},
    }


def _for(context: Context, metrics: Sequence[Metric], timestamp_ms: int | None, error_class: str | None = None
         ) -> dict[str, Any]:
    dimensions = {ENVIRONMENT: context.environment, SERVICE: context.service}
    dimension_sets: list[Sequence[str]] = [_BASE_SET]
    if error_class is not None:
        dimensions[ERROR_CLASS] = error_class
        dimension_sets.append((*_BASE_SET, ERROR_CLASS))
    return document(context.namespace, dimensions, dimension_sets, metrics,
                    now_ms() if timestamp_ms is None else timestamp_ms)


@dataclass(frozen=True)
class Measure:
    """Metrics to attach to one event; worker.events renders them with the worker's Context."""

    metrics: tuple[Metric, ...]
    error_class: str | None = None

    def render(self, context: Context, timestamp_ms: int | None = None) -> dict[str, Any]:
        return _for(context, self.metrics, timestamp_ms, self.error_class)


def completed(*, job_seconds: float, queue_wait_seconds: Any = None, frames_analyzed: Any = None,
              analysis_seconds: Any = None, video_seconds: Any = None) -> Measure:
    """JobsCompleted and the job's timings; inputs that are not finite numbers leave their metric out."""
    metrics = [Metric("JobsCompleted", 1, COUNT), Metric("JobDuration", round(job_seconds, 3), SECONDS)]
    if (wait := finite(queue_wait_seconds)) is not None:
        metrics.append(Metric("QueueWait", round(wait, 3), SECONDS))
    frames, analysis = finite(frames_analyzed), finite(analysis_seconds)
    if frames is not None and analysis is not None and analysis > 0:
        metrics.append(Metric("AnalysedFramesPerSecond", round(frames / analysis, 3), COUNT_PER_SECOND))
    if (video := finite(video_seconds)) is not None:
        metrics.append(Metric("VideoSecondsProcessed", round(video, 3), SECONDS))
    return Measure(tuple(metrics))


def failed(error_class: str) -> Measure:
    """JobsFailed, counted overall and by `error_class` (one of ERROR_CLASSES)."""
    if error_class not in ERROR_CLASSES:
        raise ValueError(f"error class {error_class!r} is not one of {', '.join(ERROR_CLASSES)}")
    return Measure((Metric("JobsFailed", 1, COUNT),), error_class)


RETRIED = Measure((Metric("JobsRetried", 1, COUNT),))


def job_completed(context: Context, *, job_seconds: float, queue_wait_seconds: Any = None,
                  frames_analyzed: Any = None, analysis_seconds: Any = None, video_seconds: Any = None,
                  timestamp_ms: int | None = None) -> dict[str, Any]:
    """The EMF members of `completed(...)` for one context."""
    return completed(job_seconds=job_seconds, queue_wait_seconds=queue_wait_seconds, frames_analyzed=frames_analyzed,
                     analysis_seconds=analysis_seconds, video_seconds=video_seconds).render(context, timestamp_ms)


def job_failed(context: Context, error_class: str, *, timestamp_ms: int | None = None) -> dict[str, Any]:
    """The EMF members of `failed(error_class)` for one context."""
    return failed(error_class).render(context, timestamp_ms)


def job_retried(context: Context, *, timestamp_ms: int | None = None) -> dict[str, Any]:
    """JobsRetried: a transient failure, handed back to the queue to be tried again."""
    return RETRIED.render(context, timestamp_ms)
