"""Job metrics as CloudWatch embedded metric format: the builder, then the real worker's stderr.

EMF_SCHEMA and `assert_valid_emf` are written from the specification
(docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
not from worker.emf, so that the two can disagree.
"""
from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.worker.harness import Stack, WorkerProcess
from worker import emf

# CloudWatch's units (the MetricDatum Unit enumeration).
CLOUDWATCH_UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]

EMF_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/MetricDirective"}},
            },
        },
    },
    "$defs": {
        "MetricDirective": {
            "type": "object",
            "required": ["Namespace", "Dimensions", "Metrics"],
            "additionalProperties": False,
            "properties": {
                "Namespace": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^:]"},
                "Dimensions": {"type": "array", "items": {"$ref": "#/$defs/DimensionSet"}},
                "Metrics": {"type": "array", "minItems": 1, "maxItems": 100,
                            "items": {"$ref": "#/$defs/MetricDefinition"}},
            },
        },
        "DimensionSet": {
            "type": "array", "minItems": 1, "maxItems": 30, "uniqueItems": True,
            "items": {"type": "string", "minLength": 1, "maxLength": 250},
        },
        "MetricDefinition": {
            "type": "object",
            "required": ["Name"],
            "additionalProperties": False,
            "properties": {
                "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                "Unit": {"enum": CLOUDWATCH_UNITS},
                "StorageResolution": {"enum": [1, 60]},
            },
        },
    },
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def assert_valid_emf(doc: dict[str, Any]) -> None:
    """The schema, plus the rules between members that a schema cannot state."""
    jsonschema.validate(doc, EMF_SCHEMA)
    stamp = doc["_aws"]["Timestamp"]
    assert isinstance(stamp, int) and not isinstance(stamp, bool), f"Timestamp {stamp!r} is not whole milliseconds"
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for key in {key for dimension_set in directive["Dimensions"] for key in dimension_set}:
            assert isinstance(doc.get(key), str) and doc[key], f"dimension {key} is not a top-level string: {doc}"
        for metric in directive["Metrics"]:
            value = doc.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            assert 0 < len(values) <= 100 and all(_is_number(v) for v in values), (
                f"metric {metric['Name']} is not a top-level number or array of numbers: {doc}")


CONTEXT = emf.Context("Cricksy/VideoAnalysis", "prod", "cricksy-worker")
BASE = [["Environment", "Service"]]


def directive(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = doc["_aws"]["CloudWatchMetrics"]
    return only


def test_the_validator_catches_what_cloudwatch_would_drop() -> None:
    good = emf.job_retried(CONTEXT, timestamp_ms=1_700_000_000_000)
    assert_valid_emf(good)
    broken = [
        {**good, "Environment": 7},  # a dimension value that is not a string
        {key: value for key, value in good.items() if key != "JobsRetried"},  # a metric with no value
        {**good, "JobsRetried": "1"},
        {**good, "_aws": {**good["_aws"], "Timestamp": 1.7e12}},
        {**good, "_aws": {"CloudWatchMetrics": good["_aws"]["CloudWatchMetrics"]}},
        {**good, "_aws": {**good["_aws"], "CloudWatchMetrics": [
            {**directive(good), "Metrics": [{"Name": "JobsRetried", "Unit": "Jobs"}]}]}},
        {**good, "_aws": {**good["_aws"], "CloudWatchMetrics": [
            {**directive(good), "Dimensions": [[f"D{i}" for i in range(31)]]}]}},
    ]
    for doc in broken:
        with pytest.raises((AssertionError, jsonschema.ValidationError)):
            assert_valid_emf(doc)


def test_a_completed_job_carries_its_timings_as_metrics() -> None:
    doc = emf.job_completed(CONTEXT, job_seconds=12.34567, queue_wait_seconds=3.5, frames_analyzed=240,
                            analysis_seconds=8.0, video_seconds=10.0, timestamp_ms=1_700_000_000_123)
    assert_valid_emf(doc)
    assert doc["_aws"]["Timestamp"] == 1_700_000_000_123
    assert directive(doc) == {
        "Namespace": "Cricksy/VideoAnalysis",
        "Dimensions": BASE,
        "Metrics": [{"Name": "JobsCompleted", "Unit": "Count"}, {"Name": "JobDuration", "Unit": "Seconds"},
                    {"Name": "QueueWait", "Unit": "Seconds"},
                    {"Name": "AnalysedFramesPerSecond", "Unit": "Count/Second"},
                    {"Name": "VideoSecondsProcessed", "Unit": "Seconds"}],
    }
    assert {key: value for key, value in doc.items() if key != "_aws"} == {
        "Environment": "prod", "Service": "cricksy-worker", "JobsCompleted": 1, "JobDuration": 12.346,
        "QueueWait": 3.5, "AnalysedFramesPerSecond": 30.0, "VideoSecondsProcessed": 10.0,
    }


@pytest.mark.parametrize("frames, analysis, video", [
    (None, 8.0, None),  # an analyzer whose result has no "video" member
    ("240", 8.0, float("nan")),
    (True, 8.0, float("inf")),
    (240, 0.0, None),
])
def test_inputs_that_are_not_finite_numbers_leave_their_metric_out(frames: Any, analysis: Any, video: Any) -> None:
    doc = emf.job_completed(CONTEXT, job_seconds=1.0, queue_wait_seconds=None, frames_analyzed=frames,
                            analysis_seconds=analysis, video_seconds=video, timestamp_ms=1)
    assert_valid_emf(doc)
    assert [m["Name"] for m in directive(doc)["Metrics"]] == ["JobsCompleted", "JobDuration"]
    assert "QueueWait" not in doc and "AnalysedFramesPerSecond" not in doc and "VideoSecondsProcessed" not in doc


@pytest.mark.parametrize("error_class", emf.ERROR_CLASSES)
def test_a_failure_is_counted_overall_and_by_error_class(error_class: str) -> None:
    doc = emf.job_failed(CONTEXT, error_class, timestamp_ms=5)
    assert_valid_emf(doc)
    assert directive(doc)["Dimensions"] == [["Environment", "Service"], ["Environment", "Service", "ErrorClass"]]
    assert directive(doc)["Metrics"] == [{"Name": "JobsFailed", "Unit": "Count"}]
    assert (doc["JobsFailed"], doc["ErrorClass"]) == (1, error_class)


def test_the_error_classes_are_the_documented_short_names() -> None:
    assert emf.ERROR_CLASSES == ("InvalidVideo", "MissingObject", "OverLimit", "MalformedMessage", "UnknownJob",
                                 "GaveUp", "Permanent")
    for name in emf.ERROR_CLASSES:
        assert f"    {name} " in emf.__doc__
    with pytest.raises(ValueError, match="'Oops' is not one of InvalidVideo"):
        emf.job_failed(CONTEXT, "Oops")


def test_a_retry_is_counted() -> None:
    doc = emf.job_retried(CONTEXT, timestamp_ms=5)
    assert_valid_emf(doc)
    assert (directive(doc)["Dimensions"], doc["JobsRetried"]) == (BASE, 1)


def test_the_timestamp_defaults_to_now_in_whole_milliseconds() -> None:
    before = int(time.time() * 1000)
    stamp = emf.job_retried(CONTEXT)["_aws"]["Timestamp"]
    assert isinstance(stamp, int) and before <= stamp <= int(time.time() * 1000)


@pytest.mark.parametrize("change, complaint", [
    ({"metrics": [emf.Metric("X", 1, "Jobs")]}, "unit 'Jobs'"),
    ({"metrics": [emf.Metric("X", float("nan"), "Count")]}, "not a finite number"),
    ({"metrics": [emf.Metric("X", 1, "Count"), emf.Metric("X", 2, "Count")]}, "distinct names"),
    ({"metrics": [emf.Metric("Service", 1, "Count")]}, "share a member"),
    ({"metrics": []}, "1 to 100"),
    ({"dimension_sets": [["Environment", "Region"]]}, "must name 1 to 30 of the dimensions"),
    ({"dimension_sets": [[]]}, "must name 1 to 30"),
    ({"dimensions": {"Environment": "", "Service": "s"}}, "non-empty string"),
    ({"timestamp_ms": 1.5}, "whole epoch milliseconds"),
])
def test_the_builder_refuses_what_cloudwatch_would_silently_reject(change: dict[str, Any], complaint: str) -> None:
    args: dict[str, Any] = {"namespace": "N", "dimensions": {"Environment": "e", "Service": "s"},
                            "dimension_sets": BASE, "metrics": [emf.Metric("X", 1, "Count")], "timestamp_ms": 1}
    with pytest.raises(ValueError, match=complaint):
        emf.document(**{**args, **change})


def test_a_real_worker_logs_valid_emf_for_a_good_and_a_bad_job(
        pg_stack: Stack, clip: Path, start_worker: Callable[..., WorkerProcess]) -> None:
    started_ms = int(time.time() * 1000)
    good = str(pg_stack.submit(clip))
    notes = clip.with_name("notes.mp4")
    notes.write_text("these are my coaching notes, not a video")
    bad = str(pg_stack.submit(notes))
    # LOG_LEVEL=ERROR: metric lines are written whatever the verbosity.
    worker = start_worker(pg_stack.env(METRICS_ENVIRONMENT="test", LOG_LEVEL="ERROR"))
    worker.wait_for("job.completed", job_id=good)
    worker.wait_for("job.failed", job_id=bad)
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0

    lines = worker.events()
    metric_lines = [line for line in lines if "_aws" in line]
    for line in metric_lines:
        assert_valid_emf(line)
        assert directive(line)["Namespace"] == "Cricksy/VideoAnalysis"
        assert (line["Environment"], line["Service"]) == ("test", "cricksy-worker")
        assert started_ms <= line["_aws"]["Timestamp"] <= int(time.time() * 1000)
    assert sorted(line["event"] for line in metric_lines) == ["job.completed", "job.failed"]
    assert [line["event"] for line in lines if line["level"] == "info"] == ["job.completed"]  # the rest filtered

    (completed,) = (line for line in metric_lines if line["event"] == "job.completed")
    assert (completed["job_id"], completed["JobsCompleted"], completed["VideoSecondsProcessed"]) == (good, 1, 1.0)
    assert 0 <= completed["QueueWait"] < 60
    assert completed["AnalysedFramesPerSecond"] > 0
    analysis_seconds = 12 / completed["AnalysedFramesPerSecond"]  # the stand-in analyses 12 frames
    assert completed["JobDuration"] >= analysis_seconds - 0.01  # claim to commit includes the analysis
    (failed,) = (line for line in metric_lines if line["event"] == "job.failed")
    assert (failed["job_id"], failed["JobsFailed"], failed["ErrorClass"]) == (bad, 1, "InvalidVideo")
    assert "notes.mp4 is not a video" in failed["error"]
