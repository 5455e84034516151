"""Putting jobs on the queue: a new video (`submit`) or a failed job again (`requeue`).

The row is committed before its message is sent, so a worker can never receive
a message for a row it cannot see yet. If sending fails, the row is marked
`failed` with instructions, which `requeue` can act on.
"""
from __future__ import annotations

import logging
import uuid
from pathlib import Path

from worker.clients import Services
from worker.jobs import FAILED, QUEUED
from worker.logs import log_event

log = logging.getLogger(__name__)


class RequeueRefused(Exception):
    """The job is not in a state an operator may re-drive."""


def _send_or_fail(services: Services, job_id: uuid.UUID, what: str) -> None:
    try:
        message_id = services.queue.send(job_id)
    except Exception as exc:
        services.jobs.mark_failed(
            job_id, QUEUED,
            f"{what} could not send the queue message ({type(exc).__name__}: {exc}); "
            f"run `cricksy-worker requeue {job_id}`",
        )
        raise
    log_event(log, "job.queued", job_id=str(job_id), message_id=message_id)


def submit(services: Services, video: Path) -> uuid.UUID:
    """Upload `video`, record a queued job and queue it; returns the new job id."""
    job_id = uuid.uuid4()
    key = services.store.upload_video(video, job_id)
    services.jobs.create(job_id, services.store.bucket, key)
    log_event(log, "job.submitted", job_id=str(job_id), s3_bucket=services.store.bucket, s3_key=key,
              video_bytes=video.stat().st_size)
    _send_or_fail(services, job_id, "submit")
    return job_id


def requeue(services: Services, job_id: uuid.UUID) -> None:
    """Re-drive a failed job: back to `queued` with its error cleared, and a new message."""
    done, status = services.jobs.requeue(job_id)
    if not done:
        if status is None:
            raise RequeueRefused(f"job {job_id} does not exist in video_analysis_jobs")
        raise RequeueRefused(f"job {job_id} is {status}; only {FAILED} jobs can be requeued")
    _send_or_fail(services, job_id, "requeue")
