"""In-memory stand-ins for the queue and the bucket (in the spirit of Dramatiq's StubBroker).

They keep the SQS and S3 semantics the loop relies on (visibility timeouts,
receive counts, a redrive to a dead-letter list, receipt handles), on a clock
the test moves, so the attempt state machine is tested in milliseconds. The
real moto and PostgreSQL tests stay the proof.
"""
from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from worker.queue import Message, message_body
from worker.storage import VideoStore


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


@dataclass
class _Stored:
    message_id: str
    body: str
    sent_at: float
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str = ""


@dataclass
class StubQueue:
    """One SQS queue with a redrive policy; `now` is the clock, moved by `advance`."""

    max_receives: int | None = 5
    url: str = "stub://queue"
    now: float = field(default_factory=time.time)
    messages: dict[str, _Stored] = field(default_factory=dict)
    dead: list[str] = field(default_factory=list)
    fail_next: dict[str, int] = field(default_factory=dict)  # operation -> how many calls fail
    _ids: Any = field(default_factory=itertools.count)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def _maybe_fail(self, operation: str) -> None:
        if self.fail_next.get(operation, 0) > 0:
            self.fail_next[operation] -= 1
            raise client_error("ServiceUnavailable", operation)

    def max_receive_count(self) -> int | None:
        return self.max_receives

    def send_body(self, body: str) -> str:
        message_id = f"m-{next(self._ids)}"
        self.messages[message_id] = _Stored(message_id, body, self.now, visible_at=self.now)
        return message_id

    def send(self, job_id: uuid.UUID) -> str:
        return self.send_body(message_body(job_id))

    def receive(self, wait_seconds: int, visibility_timeout: int) -> Message | None:
        self._maybe_fail("ReceiveMessage")
        for stored in sorted(self.messages.values(), key=lambda m: m.visible_at):
            if stored.visible_at > self.now:
                continue
            if self.max_receives is not None and stored.receive_count >= self.max_receives:
                del self.messages[stored.message_id]
                self.dead.append(stored.body)
                continue
            stored.receive_count += 1
            stored.visible_at = self.now + visibility_timeout
            stored.receipt = f"{stored.message_id}/{stored.receive_count}"
            return Message(stored.message_id, stored.receipt, stored.body, stored.receive_count,
                           sent_at=stored.sent_at)
        return None

    def _find(self, message: Message, operation: str) -> _Stored:
        stored = self.messages.get(message.message_id)
        if stored is None or stored.receipt != message.receipt_handle:
            raise client_error("ReceiptHandleIsInvalid", operation)
        return stored

    def delete(self, message: Message) -> None:
        self._maybe_fail("DeleteMessage")
        self._find(message, "DeleteMessage")
        del self.messages[message.message_id]

    def set_visibility(self, message: Message, seconds: float) -> None:
        self._maybe_fail("ChangeMessageVisibility")
        self._find(message, "ChangeMessageVisibility").visible_at = self.now + seconds

    def visible(self) -> int:
        return sum(m.visible_at <= self.now for m in self.messages.values())

    def in_flight(self) -> int:
        return sum(m.visible_at > self.now for m in self.messages.values())


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def iter_chunks(self, size: int) -> Any:
        for start in range(0, len(self.data), size):
            yield self.data[start:start + size]

    def close(self) -> None:
        pass


class StubS3:
    """The two S3 calls VideoStore makes, over a dict; `deny_puts` answers AccessDenied to uploads."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.deny_puts = False

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if (Bucket, Key) not in self.objects:
            raise client_error("NoSuchKey", "GetObject")
        data = self.objects[(Bucket, Key)]
        return {"Body": _Body(data), "ContentLength": len(data)}

    def upload_file(self, filename: str, bucket: str, key: str, Callback: Any = None) -> None:  # noqa: N803
        if self.deny_puts:
            raise client_error("AccessDenied", "PutObject")
        self.objects[(bucket, key)] = Path(filename).read_bytes()
        if Callback is not None:
            Callback(len(self.objects[(bucket, key)]))

    def json(self, bucket: str, key: str) -> Any:
        return json.loads(self.objects[(bucket, key)])

    def keys(self) -> list[str]:
        return sorted(PurePosixPath(key).as_posix() for _, key in self.objects)


def stub_store(bucket: str = "cricksy-coach-videos") -> VideoStore:
    """The real VideoStore (key rules, limits, error mapping) over an in-memory S3."""
    return VideoStore(StubS3(), bucket, "uploads/", "results/")
