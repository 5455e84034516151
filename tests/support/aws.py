"""S3 and SQS for tests: one moto server over HTTP per session, a fresh bucket and queue pair per test.

Processes under test reach it through boto3's own `AWS_ENDPOINT_URL`, exactly as
they would reach AWS, with fake credentials.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-2"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# What a subprocess keeps from the test's own environment; everything else is given explicitly.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "XDG_CACHE_HOME")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto on a free local port; yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_environ(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            **FAKE_CREDENTIALS}


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@dataclass
class Queues:
    """A work queue and its dead-letter queue."""

    sqs: Any
    url: str
    dlq_url: str
    max_receive_count: int

    def counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the work queue (or of `url`)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def receive_bodies(self, url: str | None = None, wait: int = 1) -> list[str]:
        messages = self.sqs.receive_message(QueueUrl=url or self.url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=wait).get("Messages", [])
        return [m["Body"] for m in messages]


def create_queues(sqs: Any, max_receive_count: int = 3) -> Queues:
    name = f"cricksy-video-analysis-{uuid.uuid4().hex[:10]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
    })["QueueUrl"]
    return Queues(sqs, url, dlq_url, max_receive_count)


def create_bucket(s3: Any) -> str:
    name = f"cricksy-coach-videos-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def worker_environ(endpoint: str, *, database_url: str, queue_url: str, bucket: str,
                   **overrides: str) -> dict[str, str]:
    """The complete environment of a worker subprocess (`tests` importable for stand-in analyzers)."""
    env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    env.update(aws_environ(endpoint))
    env.update({
        "PYTHONPATH": REPO_ROOT,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "SQS_VIDEO_ANALYSIS_QUEUE_URL": queue_url,
        "S3_COACH_VIDEOS_BUCKET": bucket,
        "WORKER_POLL_WAIT_SECONDS": "1",
        "WORKER_VISIBILITY_TIMEOUT_SECONDS": "6",
        "WORKER_STOP_TIMEOUT_SECONDS": "20",
        "LOG_LEVEL": "INFO",
    })
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Any:
    return client("s3", moto_endpoint)


@pytest.fixture(scope="session")
def sqs(moto_endpoint: str) -> Any:
    return client("sqs", moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    return create_bucket(s3)


@pytest.fixture
def queues(sqs: Any) -> Queues:
    return create_queues(sqs)


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 in this process at moto, the way a worker's environment does."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(key, raising=False)
    env = aws_environ(moto_endpoint)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
