"""The coach-videos bucket: uploads in, analysis artifacts out, nothing else.

The worker's IAM policy allows reading under the uploads prefix and writing
under the results prefix only, so every key is built (or checked) here.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from worker.errors import ForbiddenWriteError, InvalidVideoError, MissingObjectError, OverLimitError

__all__ = ["CHUNK_BYTES", "MissingObjectError", "OverLimitError", "VideoStore", "safe_file_name", "upload_key"]

CHUNK_BYTES = 1024 * 1024
_MISSING_CODES = {"404", "NoSuchKey", "NoSuchBucket", "403", "AccessDenied"}


def _size(size: int) -> str:
    return f"{size} bytes" if size < 1_000_000 else f"{size / 1e6:.1f} MB"


def upload_key(job_id: uuid.UUID, file_name: str, uploads_prefix: str = "uploads/") -> str:
    """Where a producer puts the video: `<uploads prefix><job id>/<file name>`, the only place workers read."""
    return f"{uploads_prefix}{job_id}/{file_name}"


def safe_file_name(key: str) -> str:
    """The key's last part, usable as a local file name (keeps the extension OpenCV relies on)."""
    name = PurePosixPath(key).name
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name).lstrip(".")
    return cleaned or "video"


class VideoStore:
    def __init__(self, client: Any, bucket: str, uploads_prefix: str, results_prefix: str):
        self.client = client
        self.bucket = bucket
        self.uploads_prefix = uploads_prefix
        self.results_prefix = results_prefix

    def upload_key(self, job_id: uuid.UUID, file_name: str) -> str:
        return upload_key(job_id, file_name, self.uploads_prefix)

    def artifacts_prefix(self, job_id: uuid.UUID, attempt: int) -> str:
        """Where one attempt writes: a stale attempt can never overwrite the pictures another one committed."""
        return f"{self.results_prefix}{job_id}/{attempt}/"

    def upload_video(self, path: Path, job_id: uuid.UUID) -> str:
        key = self.upload_key(job_id, path.name)
        self.client.upload_file(str(path), self.bucket, key)
        return key

    def check_readable(self, bucket: str, key: str) -> None:
        """Refuse, permanently, a job row that points outside what this worker may read."""
        if bucket != self.bucket or not key.startswith(self.uploads_prefix):
            raise MissingObjectError(
                f"video s3://{bucket}/{key} is outside s3://{self.bucket}/{self.uploads_prefix}, the only "
                "place this worker reads from: submit the video with `cricksy-worker submit`"
            )

    def download(self, bucket: str, key: str, dest_dir: Path, max_bytes: int,
                 checkpoint: Callable[[], None] = lambda: None) -> Path:
        """Stream the object into `dest_dir`, refusing it as soon as it is known to be too big.

        `checkpoint` is called after each chunk: the worker counts it as a sign
        of life, and a stop request or a lost lease interrupts the download there.
        """
        self.check_readable(bucket, key)
        where = f"s3://{bucket}/{key}"
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in _MISSING_CODES:
                raise MissingObjectError(
                    f"video {where} does not exist or cannot be read ({code}): upload the video again "
                    "with `cricksy-worker submit`"
                ) from exc
            raise
        limit = (f"the {_size(max_bytes)} limit (WORKER_MAX_VIDEO_BYTES={max_bytes}): "
                 "trim or compress it and submit it again")
        body = response["Body"]
        path = dest_dir / safe_file_name(key)
        try:
            size = response.get("ContentLength", 0)
            if size > max_bytes:
                raise OverLimitError(f"video {where} is {_size(size)}, over {limit}")
            received = 0
            with open(path, "wb") as out:
                for chunk in body.iter_chunks(CHUNK_BYTES):
                    received += len(chunk)
                    if received > max_bytes:
                        raise OverLimitError(f"video {where} is over {limit}")
                    out.write(chunk)
                    checkpoint()
        finally:
            body.close()
        if received == 0:
            raise InvalidVideoError(f"video {where} is empty (0 bytes): upload the video again")
        return path

    def upload_artifacts(self, prefix: str, out_dir: Path, artifacts: dict[str, str],
                         progress: Callable[[], None] = lambda: None) -> dict[str, str]:
        """Upload each artifact file to `prefix` + its name relative to `out_dir`; returns name -> S3 key.

        `progress` is called as bytes go out (from the transfer's threads), so a
        long upload counts as a sign of life and a stalled one does not. A
        refused write (AccessDenied) is permanent: retrying cannot grant the task
        role a permission, so the error names the key and the prefix it may write.
        """
        keys = {}
        root = out_dir.resolve()
        if not prefix.startswith(self.results_prefix):
            raise ValueError(f"artifacts prefix {prefix!r} is outside the results prefix {self.results_prefix!r}")
        for name, relative in artifacts.items():
            path = (root / relative).resolve()
            if root not in path.parents or not path.is_file():
                raise ValueError(f"artifact {name!r} names {relative!r}, which is not a file inside {out_dir}")
            key = prefix + PurePosixPath(*path.relative_to(root).parts).as_posix()
            try:
                self.client.upload_file(os.fspath(path), self.bucket, key, Callback=lambda _sent: progress())
            except (ClientError, S3UploadFailedError) as exc:
                if _denied(exc):
                    raise ForbiddenWriteError(
                        f"writing s3://{self.bucket}/{key} was refused (AccessDenied): the task role may write "
                        f"only under s3://{self.bucket}/{self.results_prefix}; check S3_RESULTS_PREFIX and the "
                        "role's PutObject resource") from exc
                raise
            keys[name] = key
        return keys


def _denied(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code")) in ("AccessDenied", "403")
    return "(AccessDenied)" in str(exc) or "(403)" in str(exc)
