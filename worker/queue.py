"""The SQS video-analysis queue as the worker sees it: one message at a time."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from worker.errors import MalformedMessage

__all__ = ["SQS_MAX_VISIBILITY_SECONDS", "JobQueue", "MalformedMessage", "Message", "message_body"]

SQS_MAX_VISIBILITY_SECONDS = 43200


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at: float | None = None  # epoch seconds (SQS SentTimestamp)

    def job_id(self) -> uuid.UUID:
        try:
            doc = json.loads(self.body)
        except (ValueError, RecursionError):  # "[" * 100000 exhausts the parser's recursion, not its syntax
            raise MalformedMessage(f"body is not JSON: {self.body[:200]!r}") from None
        if not isinstance(doc, dict) or "job_id" not in doc:
            raise MalformedMessage(f'body has no "job_id": {self.body[:200]!r}')
        try:
            return uuid.UUID(str(doc["job_id"]))
        except ValueError:
            raise MalformedMessage(f"job_id {doc['job_id']!r} is not a UUID") from None


def message_body(job_id: uuid.UUID) -> str:
    return json.dumps({"job_id": str(job_id)})


class JobQueue:
    """Thin, typed wrapper over the SQS calls the worker makes on one queue."""

    def __init__(self, client: Any, url: str):
        self.client = client
        self.url = url

    def max_receive_count(self) -> int | None:
        """The RedrivePolicy's maxReceiveCount, or None when the queue has no dead-letter queue."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        policy = attributes.get("RedrivePolicy")
        return int(json.loads(policy)["maxReceiveCount"]) if policy else None

    def receive(self, wait_seconds: int, visibility_timeout: int) -> Message | None:
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        messages = response.get("Messages") or []
        if not messages:
            return None
        raw = messages[0]
        attributes = raw.get("Attributes", {})
        sent = attributes.get("SentTimestamp")
        return Message(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            sent_at=int(sent) / 1000 if sent else None,
        )

    def send(self, job_id: uuid.UUID) -> str:
        return self.client.send_message(QueueUrl=self.url, MessageBody=message_body(job_id))["MessageId"]

    def delete(self, message: Message) -> None:
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    def set_visibility(self, message: Message, seconds: float) -> None:
        """Hide the message for `seconds` from now (0 hands it straight back to the queue)."""
        seconds = int(min(max(seconds, 0), SQS_MAX_VISIBILITY_SECONDS))
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
        )
