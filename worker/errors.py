"""One error hierarchy for the worker: every failure knows whether it is permanent and how it is counted.

The loop never keeps a table of exception types: it asks the exception.
`permanent` decides the job's fate (a permanent problem marks the job `failed`
and deletes its message; anything else is handed back to the queue and
retried), `error_class` is the ErrorClass dimension of the JobsFailed metric
(worker.emf documents the names).
"""
from __future__ import annotations

from typing import ClassVar


class WorkerError(Exception):
    """Root of the worker's own errors; subclasses name their traits in the class statement."""

    permanent: ClassVar[bool] = False
    error_class: ClassVar[str] = "Permanent"

    def __init_subclass__(cls, *, permanent: bool | None = None, error_class: str | None = None) -> None:
        super().__init_subclass__()
        if permanent is not None:
            cls.permanent = permanent
        if error_class is not None:
            cls.error_class = error_class


class PermanentJobError(WorkerError, permanent=True):
    """The job cannot succeed as submitted; the message is shown to a person."""


class InvalidVideoError(PermanentJobError, error_class="InvalidVideo"):
    """The input is not a video we can analyse (empty, corrupt, too long, no person...)."""


class MissingObjectError(PermanentJobError, error_class="MissingObject"):
    """The video object does not exist, or is not where this worker may read it."""


class OverLimitError(PermanentJobError, error_class="OverLimit"):
    """The video is larger than WORKER_MAX_VIDEO_BYTES."""


class ForbiddenWriteError(PermanentJobError):
    """The bucket refused a results upload: the task role cannot write there, retrying cannot help."""


class MalformedMessage(PermanentJobError, ValueError, error_class="MalformedMessage"):
    """The body is not `{"job_id": "<uuid>"}`; the message says what it was instead."""


class UnknownJob(PermanentJobError, error_class="UnknownJob"):
    """The message names a job id with no row, and its grace period for a slow producer is over."""


class InvalidJobOptions(PermanentJobError):
    """The options stored with the job break worker/options.py's rules; the message names the option.

    Counted as `Permanent`: the submission API validates first, so this only
    meets rows written by another producer or under a lower frame-rate ceiling.
    """


class GaveUp(PermanentJobError, error_class="GaveUp"):
    """A transient failure repeated until the queue's maxReceiveCount, or the same bug twice in a row."""


class TransientError(WorkerError):
    """Worth another attempt: the cause may be gone next time."""


class AnalysisCrashed(TransientError):
    """The analysis process died without an answer (a native crash, the OOM killer)."""


class AnalysisTimeout(TransientError):
    """The analysis ran past WORKER_ANALYSIS_TIMEOUT_SECONDS and was killed."""


class Abandon(WorkerError):
    """Raised at a cancellation point: the attempt stops and writes nothing more."""


class StopRequested(Abandon):
    """The stop window ends before the attempt could finish."""


class LeaseLost(Abandon):
    """Another attempt owns the job now."""


class ConfigError(WorkerError):
    """The environment does not describe a usable worker; the message lists every problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"invalid worker configuration ({count}):\n" + "\n".join(f"  {p}" for p in problems))


class SchemaNotReady(WorkerError):
    """The database schema is not the one this worker was built for."""


# The ErrorClass values, in the order worker.emf documents them.
ERROR_CLASSES: tuple[str, ...] = tuple(dict.fromkeys(
    kind.error_class for kind in (InvalidVideoError, MissingObjectError, OverLimitError, MalformedMessage,
                                  UnknownJob, GaveUp, PermanentJobError)))


def describe(exc: BaseException) -> str:
    """The one-line form every event and row uses for an exception."""
    return f"{type(exc).__name__}: {exc}".strip()


def is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, WorkerError) and exc.permanent


def error_class(exc: BaseException) -> str:
    """The ErrorClass metric dimension of a failure that ended a job."""
    return exc.error_class if isinstance(exc, WorkerError) else PermanentJobError.error_class
