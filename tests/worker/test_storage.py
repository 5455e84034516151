"""The bucket side on moto: streaming download with its size limit, artifact keys, refused paths."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from worker.errors import ForbiddenWriteError, InvalidVideoError, PermanentJobError
from worker.storage import CHUNK_BYTES, MissingObjectError, OverLimitError, VideoStore, safe_file_name


@pytest.fixture
def store(s3: Any, bucket: str) -> VideoStore:
    return VideoStore(s3, bucket, "uploads/", "results/")


class HidesLength:
    """An S3 client whose GetObject reports no size, as a chunked response would; the rest is real."""

    def __init__(self, s3: Any):
        self.s3 = s3

    def get_object(self, **kwargs: Any) -> dict:
        response = self.s3.get_object(**kwargs)
        response.pop("ContentLength")
        return response


def put(s3: Any, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=data)


def test_download_streams_the_object_to_a_file_named_after_the_key(store: VideoStore, s3: Any, bucket: str,
                                                                    tmp_path: Path) -> None:
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 17)
    put(s3, bucket, "uploads/j/My Swing (1).MOV", data)
    chunks: list[int] = []
    path = store.download(bucket, "uploads/j/My Swing (1).MOV", tmp_path, len(data), lambda: chunks.append(1))
    assert path == tmp_path / "My_Swing__1_.MOV"
    assert path.read_bytes() == data
    assert len(chunks) == 4


def test_the_size_limit_holds_even_when_the_size_is_not_announced(s3: Any, bucket: str, tmp_path: Path) -> None:
    put(s3, bucket, "uploads/j/big.mp4", b"x" * (2 * CHUNK_BYTES + 1))
    store = VideoStore(HidesLength(s3), bucket, "uploads/", "results/")
    with pytest.raises(PermanentJobError, match=r"big.mp4 is over the 2.1 MB limit \(WORKER_MAX_VIDEO_BYTES=2097152\)"):
        store.download(bucket, "uploads/j/big.mp4", tmp_path, 2 * CHUNK_BYTES)
    assert (tmp_path / "big.mp4").stat().st_size <= 2 * CHUNK_BYTES


def test_a_checkpoint_can_interrupt_a_download(store: VideoStore, s3: Any, bucket: str, tmp_path: Path) -> None:
    put(s3, bucket, "uploads/j/a.mp4", b"x" * (3 * CHUNK_BYTES))

    def stop() -> None:
        raise InterruptedError("stop")

    with pytest.raises(InterruptedError):
        store.download(bucket, "uploads/j/a.mp4", tmp_path, 10 * CHUNK_BYTES, stop)


def test_other_buckets_are_refused(store: VideoStore, tmp_path: Path) -> None:
    with pytest.raises(PermanentJobError, match=r"s3://elsewhere/uploads/a.mp4 is outside s3://"):
        store.download("elsewhere", "uploads/a.mp4", tmp_path, 100)


def test_artifacts_go_under_the_results_prefix(store: VideoStore, s3: Any, bucket: str, tmp_path: Path) -> None:
    job_id = uuid.uuid4()
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "release.png").write_bytes(b"png")
    (tmp_path / "landmarks.json").write_text("[]")
    prefix = store.artifacts_prefix(job_id, 2)
    keys = store.upload_artifacts(prefix, tmp_path, {"release": "pictures/release.png", "series": "landmarks.json"})
    assert keys == {"release": f"results/{job_id}/2/pictures/release.png",
                    "series": f"results/{job_id}/2/landmarks.json"}
    assert s3.get_object(Bucket=bucket, Key=keys["release"])["Body"].read() == b"png"


@pytest.mark.parametrize("relative", ["../secret.txt", "/etc/hostname", "missing.json", "."])
def test_artifacts_outside_the_output_folder_or_missing_are_refused(store: VideoStore, tmp_path: Path,
                                                                    relative: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "secret.txt").write_text("no")
    with pytest.raises(ValueError, match="is not a file inside"):
        store.upload_artifacts(store.artifacts_prefix(uuid.uuid4(), 1), out, {"x": relative})


def test_safe_file_names() -> None:
    assert safe_file_name("uploads/j/..mp4") == "mp4"
    assert safe_file_name("uploads/j/") == "j"
    assert safe_file_name("uploads/j/clip.mp4") == "clip.mp4"


def test_uploads_report_progress_as_bytes_go_out(store: VideoStore, s3: Any, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "landmarks.npz").write_bytes(b"\0" * (CHUNK_BYTES + 5))
    calls: list[int] = []
    keys = store.upload_artifacts(store.artifacts_prefix(uuid.UUID(int=7), 1), tmp_path, {"landmarks": "landmarks.npz"},
                                  lambda: calls.append(1))
    assert len(s3.get_object(Bucket=bucket, Key=keys["landmarks"])["Body"].read()) == CHUNK_BYTES + 5
    assert len(calls) >= 2  # several chunks, several signs of life


def test_failures_carry_their_kind(store: VideoStore, s3: Any, bucket: str, tmp_path: Path) -> None:
    put(s3, bucket, "uploads/j/empty.mp4", b"")
    with pytest.raises(InvalidVideoError, match="is empty"):
        store.download(bucket, "uploads/j/empty.mp4", tmp_path, 100)
    with pytest.raises(MissingObjectError, match="does not exist"):
        store.download(bucket, "uploads/j/never.mp4", tmp_path, 100)
    put(s3, bucket, "uploads/j/big.mp4", b"x" * 101)
    with pytest.raises(OverLimitError, match="is 101 bytes, over the 100 bytes limit"):
        store.download(bucket, "uploads/j/big.mp4", tmp_path, 100)


def test_a_refused_results_upload_is_permanent_and_names_the_key_and_the_prefix(
        s3: Any, bucket: str, tmp_path: Path) -> None:
    from tests.support.stubs import StubS3

    denying = StubS3()
    denying.deny_puts = True
    store = VideoStore(denying, bucket, "uploads/", "results/")
    (tmp_path / "a.png").write_bytes(b"png")
    job_id = uuid.UUID(int=9)
    with pytest.raises(ForbiddenWriteError) as caught:
        store.upload_artifacts(store.artifacts_prefix(job_id, 1), tmp_path, {"a": "a.png"})
    assert caught.value.permanent
    assert f"s3://{bucket}/results/{job_id}/1/a.png was refused (AccessDenied)" in str(caught.value)
    assert f"may write only under s3://{bucket}/results/" in str(caught.value)
