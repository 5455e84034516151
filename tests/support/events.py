"""Reading the worker's events in tests: one helper for in-process workers, one parser for process logs."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_FIELDS = "event_fields"  # worker.logs keeps an event's fields under this record attribute


def matching(events: list[dict[str, Any]], name: str | None = None, **match: Any) -> list[dict[str, Any]]:
    return [e for e in events if (name is None or e.get("event") == name)
            and all(e.get(key) == value for key, value in match.items())]


class Captured:
    """The events logged since capture began, as the dicts the JSON lines would hold."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []

    def __call__(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        found = [{"event": r.msg, "level": r.levelname.lower(), **getattr(r, _FIELDS)}
                 for r in list(self.records) if hasattr(r, _FIELDS)]
        return matching(found, name, **match)


class _Collect(logging.Handler):
    def __init__(self, sink: Captured):
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.records.append(record)


@contextmanager
def capture_events(logger: str = "worker") -> Iterator[Captured]:
    """Collect every event the worker emits (at any level) while the block runs."""
    captured = Captured()
    handler = _Collect(captured)
    target = logging.getLogger(logger)
    saved = target.level
    target.setLevel(logging.DEBUG)
    target.addHandler(handler)
    try:
        yield captured
    finally:
        target.removeHandler(handler)
        target.setLevel(saved)


def parse_events(text: str) -> list[dict[str, Any]]:
    """Every stderr line as a dict; a line that is not a JSON object becomes {"event": None, "line": ...}."""
    events = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        events.append(doc if isinstance(doc, dict) else {"event": None, "line": line})
    return events
