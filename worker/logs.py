"""JSON-lines logging on stderr: one event per line, machine-readable by CloudWatch Logs Insights.

Events are ordinary `logging` records whose message is the event name and whose
fields travel in `extra`; records from libraries become `{"event": "log", ...}`
lines so that nothing on stderr breaks the one-JSON-object-per-line rule.
"""
from __future__ import annotations

import atexit
import faulthandler
import json
import logging
import os
import re
import sys
import threading
from datetime import datetime, timezone
from typing import Any, TextIO

_FIELDS = "event_fields"
_NOISY_LIBRARIES = ("botocore", "boto3", "urllib3", "s3transfer", "alembic")
_GLOG_LINE = re.compile(r"([IWEF])\d{4} ")
_GLOG_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
        }
        fields = getattr(record, _FIELDS, None)
        if fields is None:
            doc.update(event="log", logger=record.name, message=record.getMessage())
        else:
            doc["event"] = record.msg
            doc.update(fields)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every log record to `stream` (stderr by default) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Library debug output is verbose and may echo request headers.
    library_level = max(logging.getLevelName(level), logging.WARNING)
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO,
              exc_info: bool = False, force: bool = False, **fields: Any) -> None:
    """Emit one structured event; `fields` become top-level keys of the JSON line.

    `force` emits it whatever LOG_LEVEL says: lines that carry metrics (see
    worker.emf) must not vanish when someone turns the verbosity down.
    """
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS: fields}, exc_info=exc_info)
    elif force:
        logger.handle(logger.makeRecord(logger.name, level, __file__, 0, event, (),
                                        sys.exc_info() if exc_info else None, extra={_FIELDS: fields}))


def _native_level(line: str) -> int:
    glog = _GLOG_LINE.match(line)
    if glog:
        return _GLOG_LEVELS[glog[1]]
    prefix = line.split(":", 1)[0]
    return logging.getLevelName(prefix) if prefix in ("DEBUG", "INFO", "WARNING", "ERROR") else logging.WARNING


def _relay(read_fd: int) -> None:
    logger = logging.getLogger("native")
    with open(read_fd, encoding="utf-8", errors="replace") as pipe:
        for line in pipe:
            if line.strip():
                log_event(logger, "native.stderr", _native_level(line), job_id=None, line=line.rstrip("\n"))


def route_native_stderr() -> None:
    """Re-emit as JSON events whatever native code (FFmpeg, MediaPipe, TFLite) writes to file descriptor 2.

    Those libraries bypass `logging` and would break the one-object-per-line
    stream. File descriptor 2 becomes a pipe read by a relay thread; the JSON
    handler (and faulthandler, for crashes) keep the real stderr.
    """
    sys.stderr.flush()
    real_stderr = open(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(real_stderr)
    faulthandler.enable(real_stderr)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    relay = threading.Thread(target=_relay, args=(read_fd,), name="native-stderr", daemon=True)
    relay.start()

    def drain() -> None:
        sys.stderr.flush()
        os.dup2(real_stderr.fileno(), 2)  # closes the pipe's last write end: the relay reads to the end
        relay.join(timeout=2)

    atexit.register(drain)
