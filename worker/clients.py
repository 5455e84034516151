"""The handles one `Settings` describes: job store, queue and bucket, built in one place.

AWS endpoints are left to boto3 (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`,
`AWS_ENDPOINT_URL_SQS`), so a local server needs no code of ours.
"""
from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.config import Config

from worker.config import Settings
from worker.jobs import JobStore, create_engine
from worker.queue import JobQueue
from worker.storage import VideoStore


@dataclass(frozen=True)
class Services:
    jobs: JobStore
    queue: JobQueue
    store: VideoStore


def connect(settings: Settings) -> Services:
    """Build the handles (no network traffic yet); needs settings loaded with `aws=True`."""
    assert settings.queue_url and settings.bucket, "settings were loaded without the AWS variables"
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        # A long poll holds the connection open for up to WORKER_POLL_WAIT_SECONDS.
        read_timeout=settings.poll_wait_seconds + 30,
    )
    session = boto3.session.Session(region_name=settings.aws_region)
    return Services(
        jobs=JobStore(create_engine(settings.database_url)),
        queue=JobQueue(session.client("sqs", config=config), settings.queue_url),
        store=VideoStore(session.client("s3", config=config), settings.bucket,
                         settings.uploads_prefix, settings.results_prefix),
    )
