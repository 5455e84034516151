"""JSON-lines logging: one object per line, the fields we promise, LOG_LEVEL respected."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from worker.logs import configure, log_event


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_events_are_single_json_lines_with_their_fields(stream: io.StringIO) -> None:
    configure("INFO", stream)
    log_event(logging.getLogger("worker.service"), "job.failed", logging.ERROR, job_id="abc",
              error="line one\nline two")
    (doc,) = lines(stream)
    assert doc["event"] == "job.failed" and doc["level"] == "error" and doc["job_id"] == "abc"
    assert doc["error"] == "line one\nline two"
    assert doc["ts"].endswith("+00:00")


def test_library_records_and_tracebacks_stay_one_line_each(stream: io.StringIO) -> None:
    configure("INFO", stream)
    logging.getLogger("some.library").warning("disk %s", "full")
    try:
        raise ValueError("boom")
    except ValueError:
        log_event(logging.getLogger("worker"), "worker.error", logging.ERROR, exc_info=True, job_id=None)
    library, error = lines(stream)
    assert library == {**library, "event": "log", "logger": "some.library", "message": "disk full"}
    assert "ValueError: boom" in error["exception"]


def test_log_level_filters_events(stream: io.StringIO) -> None:
    configure("WARNING", stream)
    log_event(logging.getLogger("worker"), "queue.polling", logging.DEBUG, job_id=None)
    log_event(logging.getLogger("worker"), "job.claimed", logging.INFO, job_id="a")
    log_event(logging.getLogger("worker"), "job.retry", logging.WARNING, job_id="a")
    assert [doc["event"] for doc in lines(stream)] == ["job.retry"]


def test_forced_events_are_written_whatever_the_level(stream: io.StringIO) -> None:
    configure("ERROR", stream)
    logger = logging.getLogger("worker.service")
    log_event(logger, "job.completed", logging.INFO, job_id="a", force=True, JobsCompleted=1)
    log_event(logger, "job.claimed", logging.INFO, job_id="a")
    (doc,) = lines(stream)
    assert (doc["event"], doc["level"], doc["JobsCompleted"]) == ("job.completed", "info", 1)
