"""The worker's settings, read once from the environment and validated as a whole.

Every problem is collected before anything fails, so a person fixing a task
definition sees all of them at once instead of one per restart.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.errors import ConfigError
from worker.queue import SQS_MAX_VISIBILITY_SECONDS

__all__ = ["ConfigError", "POSE_MODEL_FILE", "Settings", "load_settings", "pose_model_path", "redact_url"]

# The pinned pose model's file name (worker.analysis.model checks its sha256).
POSE_MODEL_FILE = "pose_landmarker_full.task"
REQUIRED_AWS = ("SQS_VIDEO_ANALYSIS_QUEUE_URL", "S3_COACH_VIDEOS_BUCKET", "AWS_REGION")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Validated configuration; `database_url` is already in SQLAlchemy form (and kept out of repr)."""

    database_url: str = field(repr=False)
    queue_url: str | None = None
    bucket: str | None = None
    aws_region: str | None = None
    visibility_timeout: int = 120
    max_video_bytes: int = 500 * 1024 * 1024
    max_video_seconds: float = 300.0
    tmp_dir: str = field(default_factory=tempfile.gettempdir)
    log_level: str = "INFO"
    poll_wait_seconds: int = 20
    stop_timeout_seconds: float = 110.0
    uploads_prefix: str = "uploads/"
    results_prefix: str = "results/"
    analyzer: str = "worker.analysis:analyze"
    ecs_agent_uri: str | None = None
    liveness_seconds: float | None = None  # None: derived, see worker.health.liveness_threshold
    metrics_namespace: str = "Cricksy/VideoAnalysis"
    metrics_environment: str = "local"
    metrics_service: str = "cricksy-worker"
    unknown_job_grace_seconds: float = 300.0
    analysis_timeout_seconds: float = 1800.0
    analysis_processes: int | None = None  # None: worker.cpus.task_cpus()
    max_analysis_fps: float = 60.0  # the ceiling of a job's max_fps option (worker/options.py)
    pose_model_path: str | None = None  # load_settings fills it: POSE_MODEL_PATH, else the per-user cache

    @property
    def database_url_redacted(self) -> str:
        return redact_url(self.database_url)


def redact_url(url: str) -> str:
    """The URL with its password masked, safe for logs and messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class _Invalid(ValueError):
    """A value is present but unusable; the message says what was found."""


def _database_url(raw: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except ArgumentError:
        # The raw value may hold a password: never echo it.
        raise _Invalid("is not a database URL") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise _Invalid(f"uses driver {driver!r}, which is not installed")
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if not url.database:
            raise _Invalid("is sqlite without a database file")
    else:
        raise _Invalid(f"has scheme {url.drivername!r}")
    return url.render_as_string(hide_password=False)


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise _Invalid(f"{raw!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise _Invalid(f"{value} is out of range")
        return value

    return parse


def _number(low: float, *, inclusive: bool) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise _Invalid(f"{raw!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise _Invalid(f"{raw!r} is not a finite number")
        if value < low or (value == low and not inclusive):
            raise _Invalid(f"{value:g} is out of range")
        return value

    return parse


def _text(raw: str) -> str:
    if not raw.strip():
        raise _Invalid("is empty")
    return raw.strip()


def _queue_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+/[^\s]+", raw.strip()):
        raise _Invalid(f"{raw!r} is not a queue URL")
    return raw.strip()


def _agent_uri(raw: str) -> str:
    if not re.fullmatch(r"https?://\S+", raw.strip()):
        raise _Invalid(f"{raw!r} is not an http URI")
    return raw.strip().rstrip("/")


def _bucket(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", raw.strip()):
        raise _Invalid(f"{raw!r} is not a valid bucket name")
    return raw.strip()


def _directory(raw: str) -> str:
    if not os.path.isdir(raw):
        raise _Invalid(f"{raw!r} is not an existing directory")
    if not os.access(raw, os.W_OK | os.X_OK):
        raise _Invalid(f"{raw!r} is not writable by this process")
    return raw


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise _Invalid(f"{raw!r} is not a log level")
    return level


def _prefix(raw: str) -> str:
    if raw.startswith("/"):
        raise _Invalid(f"{raw!r} starts with '/'")
    return raw


def _analyzer(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", raw.strip()):
        raise _Invalid(f"{raw!r} is not of the form module:function")
    return raw.strip()


def _metrics_namespace(raw: str) -> str:
    value = raw.strip()
    if value.startswith("AWS/"):
        raise _Invalid(f"{value!r} starts with AWS/, which CloudWatch reserves for AWS services")
    if not re.fullmatch(r"[A-Za-z0-9._#/-][A-Za-z0-9 ._#:/-]{0,254}", value):
        raise _Invalid(f"{raw!r} is not a CloudWatch namespace")
    return value


def _dimension_value(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"(?!:)[!-~][ -~]{0,1023}", value):
        raise _Invalid(f"{raw!r} is not a CloudWatch dimension value")
    return value


def _fps_ceiling(raw: str) -> float:
    """10..240: below 10 no event can be timed (worker.options.MIN_FPS); above 240 no phone films."""
    value = _number(0, inclusive=False)(raw)
    if not 10.0 <= value <= 240.0:
        raise _Invalid(f"{value:g} is out of range")
    return value


@dataclass(frozen=True)
class _Var:
    name: str
    attr: str
    parse: Callable[[str], Any]
    expected: str
    empty_is_value: bool = False


_VARIABLES = (
    _Var("DATABASE_URL", "database_url", _database_url,
         "postgresql://user:password@host:5432/dbname (or sqlite:///path/to/file.db)"),
    _Var("SQS_VIDEO_ANALYSIS_QUEUE_URL", "queue_url", _queue_url,
         "the video-analysis queue URL, e.g. https://sqs.us-east-2.amazonaws.com/123456789012/"
         "cricksy-video-analysis-prod"),
    _Var("S3_COACH_VIDEOS_BUCKET", "bucket", _bucket,
         "the name of the bucket holding the coach videos, e.g. cricksy-coach-videos"),
    _Var("AWS_REGION", "aws_region", _text, "an AWS region name, e.g. us-east-2"),
    _Var("WORKER_VISIBILITY_TIMEOUT_SECONDS", "visibility_timeout",
         _integer(3, SQS_MAX_VISIBILITY_SECONDS),
         f"whole seconds from 3 to {SQS_MAX_VISIBILITY_SECONDS} (default 120)"),
    _Var("WORKER_MAX_VIDEO_BYTES", "max_video_bytes", _integer(1),
         "a positive whole number of bytes (default 524288000, i.e. 500 MiB)"),
    _Var("WORKER_MAX_VIDEO_SECONDS", "max_video_seconds", _number(0, inclusive=False),
         "a positive number of seconds (default 300)"),
    _Var("WORKER_TMP_DIR", "tmp_dir", _directory,
         "an existing writable directory (default: the system temporary directory)"),
    _Var("LOG_LEVEL", "log_level", _log_level, "one of " + ", ".join(LOG_LEVELS) + " (default INFO)"),
    _Var("WORKER_POLL_WAIT_SECONDS", "poll_wait_seconds", _integer(0, 20),
         "whole seconds from 0 to 20 (default 20)"),
    _Var("WORKER_STOP_TIMEOUT_SECONDS", "stop_timeout_seconds", _number(0, inclusive=True),
         "seconds the worker may keep working after SIGTERM, at least 0 (default 110; "
         "keep it below the container's stopTimeout)"),
    _Var("S3_UPLOADS_PREFIX", "uploads_prefix", _prefix,
         "a key prefix such as uploads/ (default uploads/)", empty_is_value=True),
    _Var("S3_RESULTS_PREFIX", "results_prefix", _prefix,
         "a key prefix such as results/ (default results/)", empty_is_value=True),
    _Var("WORKER_ANALYZER", "analyzer", _analyzer,
         "module:function of the analysis entry point (default worker.analysis:analyze)"),
    _Var("WORKER_UNKNOWN_JOB_GRACE_SECONDS", "unknown_job_grace_seconds", _number(0, inclusive=True),
         "seconds a message whose job row does not exist yet is retried before it is left for the dead-letter "
         "queue (default 300)"),
    _Var("WORKER_ANALYSIS_TIMEOUT_SECONDS", "analysis_timeout_seconds", _number(0, inclusive=False),
         "seconds one analysis may run before its process is killed and the job retried (default 1800)"),
    _Var("WORKER_ANALYSIS_PROCESSES", "analysis_processes", _integer(1, 64),
         "whole processes per analysis from 1 to 64 (default: the CPUs the task may use, from its cgroup "
         "CPU quota and affinity)"),
    _Var("WORKER_MAX_ANALYSIS_FPS", "max_analysis_fps", _fps_ceiling,
         "the most frames per second a job may ask to analyse, from 10 to 240 (default 60)"),
    _Var("ECS_AGENT_URI", "ecs_agent_uri", _agent_uri, "the URI ECS sets for the task's container agent"),
    _Var("WORKER_LIVENESS_SECONDS", "liveness_seconds", _number(0, inclusive=False),
         "seconds without a sign of life from the worker loop after which `cricksy-worker health` fails "
         "(default: WORKER_POLL_WAIT_SECONDS + 40)"),
    _Var("METRICS_NAMESPACE", "metrics_namespace", _metrics_namespace,
         "a CloudWatch namespace: up to 255 of A-Z a-z 0-9 . - _ / # : and spaces, not starting with AWS/ "
         "(default Cricksy/VideoAnalysis)"),
    _Var("METRICS_ENVIRONMENT", "metrics_environment", _dimension_value,
         "the Environment dimension of the worker's metrics: printable ASCII, up to 1024 characters, "
         "not starting with ':' (default local)"),
    _Var("METRICS_SERVICE", "metrics_service", _dimension_value,
         "the Service dimension of the worker's metrics: printable ASCII, up to 1024 characters, "
         "not starting with ':' (default cricksy-worker)"),
)


SETTING_NAMES = tuple(var.name for var in _VARIABLES)


def setting_problem(name: str, raw: str) -> str | None:
    """Why the worker would refuse `raw` for the variable `name` (None: it accepts it).

    cricksy-gen calls this on every setting it renders into the task definition, so
    a value the worker refuses fails at render time, by this very rule. Importing
    this module stays light (no boto3, SQLAlchemy only when a database URL is parsed).
    """
    var = next(v for v in _VARIABLES if v.name == name)
    try:
        var.parse(raw)
    except _Invalid as exc:
        return f"{exc}; expected {var.expected}"
    return None


def pose_model_path(environ: Mapping[str, str] | None = None) -> Path:
    """The pose model file: POSE_MODEL_PATH, else `$XDG_CACHE_HOME/cricksy/models/` (default ~/.cache)."""
    env = os.environ if environ is None else environ
    override = env.get("POSE_MODEL_PATH")
    if override:
        return Path(override).expanduser()
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "cricksy" / "models" / POSE_MODEL_FILE


def load_settings(environ: Mapping[str, str] | None = None, *, aws: bool = True) -> Settings:
    """Build `Settings` from the environment or raise one `ConfigError` naming every problem.

    `aws=False` is for the commands that only touch the database (`init-db`,
    `status`): they must work where the queue and bucket are not configured.
    An empty variable counts as unset, except the S3 prefixes, where "" means
    the bucket's root.
    """
    env = os.environ if environ is None else environ
    required = {"DATABASE_URL", *(REQUIRED_AWS if aws else ())}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for var in _VARIABLES:
        raw = env.get(var.name)
        if raw is None or (raw.strip() == "" and not var.empty_is_value):
            if var.name in required:
                problems.append(f"{var.name}: missing; expected {var.expected}")
            continue
        try:
            values[var.attr] = var.parse(raw)
        except _Invalid as exc:
            problems.append(f"{var.name}: {exc}; expected {var.expected}")
    if problems:
        raise ConfigError(problems)
    return Settings(**values, pose_model_path=str(pose_model_path(env)))

