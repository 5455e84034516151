"""Putting jobs on the queue: the producer contract as a Python API, used by `submit` and `requeue`.

An API service imports this instead of copying it (README, "Submitting jobs
from another service"): `upload_key` says where the video goes, `enqueue`
commits the row and then sends the message, in that order, so a worker never
receives a message for a row it cannot see yet. If sending fails, the row is
marked `failed` with instructions, which `requeue` can act on.

`requeue` also rescues jobs the dead-letter queue stranded: when the database
was unreachable at the moment the queue gave up on a message, the row is still
`queued` or `processing` while the message sits in the DLQ. A message too many
is harmless: the conditional claim runs the job once, and a message for a
finished job is deleted unread.
"""
from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from worker.clients import Services
from worker.jobs import COMPLETED, FAILED, PROCESSING, QUEUED, RequeueOutcome
from worker.errors import describe
from worker.logs import log_event
from worker.options import DEFAULT_MAX_FPS_CEILING, InvalidOptions, parse_options
from worker.queue import message_body
from worker.storage import upload_key

# enqueue checks the shape only (the highest ceiling a worker may have); the worker applies its own.
MAX_FPS_CEILING = 240.0

__all__ = ["InvalidOptions", "RequeueRefused", "enqueue", "message_body", "new_job_id", "requeue", "submit",
           "upload_key"]

log = logging.getLogger(__name__)


class RequeueRefused(Exception):
    """The job is not in a state an operator may re-drive."""


def _send_or_fail(services: Services, job_id: uuid.UUID, what: str) -> None:
    try:
        message_id = services.queue.send(job_id)
    except Exception as exc:
        services.jobs.mark_failed(
            job_id, QUEUED,
            f"{what} could not send the queue message ({describe(exc)}); "
            f"run `cricksy-worker requeue {job_id}`",
        )
        raise
    log_event(log, "job.queued", job_id=str(job_id), message_id=message_id)


def new_job_id() -> uuid.UUID:
    return uuid.uuid4()


def enqueue(services: Services, job_id: uuid.UUID, s3_key: str, options: dict[str, Any] | None = None,
            **log_fields: object) -> None:
    """Record a `queued` job for a video already uploaded to `s3_key`, then send its message.

    The row is committed first (the order the worker relies on); a message
    whose row is not there yet is retried for WORKER_UNKNOWN_JOB_GRACE_SECONDS,
    then left for the dead-letter queue, never run.
    """
    if options is not None:
        parse_options(options, max_fps_ceiling=MAX_FPS_CEILING)  # a bad document never reaches the table
    services.jobs.create(job_id, services.store.bucket, s3_key, options or None)
    log_event(log, "job.submitted", job_id=str(job_id), s3_bucket=services.store.bucket, s3_key=s3_key,
              options=options or None, **log_fields)
    _send_or_fail(services, job_id, "submit")


def submit(services: Services, video: Path, options: dict[str, Any] | None = None, *,
           max_fps_ceiling: float = DEFAULT_MAX_FPS_CEILING) -> uuid.UUID:
    """Upload `video`, record a queued job with its `options` and queue it; returns the new job id.

    The options are validated first (InvalidOptions, naming the option), so a
    bad document costs no upload. Pass the workers' WORKER_MAX_ANALYSIS_FPS as
    `max_fps_ceiling` when it is not the default: a job asking for more would
    fail on the worker.
    """
    if options is not None:
        parse_options(options, max_fps_ceiling=max_fps_ceiling)
    job_id = new_job_id()
    key = services.store.upload_video(video, job_id)
    enqueue(services, job_id, key, options, video_bytes=video.stat().st_size)
    return job_id


def _refusal(job_id: uuid.UUID, found: RequeueOutcome) -> str:
    if found.previous_status is None:
        return f"job {job_id} does not exist in video_analysis_jobs"
    if found.previous_status == COMPLETED:
        return f"job {job_id} is {COMPLETED}; a completed job is never run again"
    if found.previous_status == PROCESSING and found.lease_remaining_seconds is not None:
        return (f"job {job_id} is {PROCESSING} and {found.lease_owner} holds its lease for another "
                f"{found.lease_remaining_seconds:.0f} s, so a worker is on it; if that worker is gone, "
                "requeue it once the lease has expired")
    return f"job {job_id} changed while it was being requeued; check `cricksy-worker status {job_id}` and retry"


def _what_was_done(found: RequeueOutcome) -> str:
    if found.previous_status == FAILED:
        return "was failed: error cleared, back to queued, new message sent"
    if found.previous_status == QUEUED:
        return ("was queued with no message a worker could receive (e.g. moved to the dead-letter queue): "
                "new message sent")
    expired = ("" if found.lease_remaining_seconds is None
               else f" {-found.lease_remaining_seconds:.0f} s ago")
    return (f"was processing, but its lease expired{expired} so no worker holds it: lease released, back to "
            "queued, new message sent")


def requeue(services: Services, job_id: uuid.UUID) -> str:
    """Re-drive a job nobody is working on: failed, queued, or processing with an expired lease.

    Returns a sentence saying what was done; raises RequeueRefused for a
    completed job, a job under a live lease, or an unknown id.
    """
    found = services.jobs.requeue(job_id)
    if not found.done:
        raise RequeueRefused(_refusal(job_id, found))
    _send_or_fail(services, job_id, "requeue")
    detail = _what_was_done(found)
    log_event(log, "job.requeued", job_id=str(job_id), previous_status=found.previous_status, detail=detail)
    return detail
