"""The worker's events: a logger with context bound once, and metrics as a step of logging.

In the spirit of structlog's `bind`: the attempt binds `job_id`, `attempt` and
`message_id` once, and every event it emits carries them. A `Measure` passed
with an event becomes its EMF members (worker.emf) here, with the worker's
metrics context, so no call site splices metric fields by hand; an event that
carries metrics is written whatever LOG_LEVEL says.
"""
from __future__ import annotations

import logging
from typing import Any

from worker import emf
from worker.logs import log_event


class Events:
    def __init__(self, logger: logging.Logger, metrics: emf.Context, **bound: Any):
        self.logger = logger
        self.metrics = metrics
        self.bound = bound

    def bind(self, **fields: Any) -> Events:
        """A new emitter whose events carry `fields` as well (later values win)."""
        return Events(self.logger, self.metrics, **{**self.bound, **fields})

    def emit(self, event: str, level: int = logging.INFO, *, measure: emf.Measure | None = None,
             exc_info: bool = False, **fields: Any) -> None:
        fields = {"job_id": None, **self.bound, **fields}
        if measure is not None:
            fields.update(measure.render(self.metrics))
        log_event(self.logger, event, level, exc_info=exc_info, force=measure is not None, **fields)
