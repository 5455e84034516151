"""Fixtures for the worker-loop tests: a per-test stack, worker processes, stand-in clips."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws import Queues
from tests.support.standins import write_clip
from tests.worker.harness import Stack, WorkerProcess
from worker import migrations
from worker.config import load_settings
from worker.jobs import create_engine


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The job store on each supported backend (PostgreSQL is the one CI must pass)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db"
    return request.getfixturevalue("postgres_url")


def _migrate(url: str) -> None:
    engine = create_engine(load_settings({"DATABASE_URL": url}, aws=False).database_url)
    migrations.upgrade(engine)
    engine.dispose()


def _stack(moto_endpoint: str, url: str, bucket: str, queues: Queues, s3: Any, tmp_path: Path) -> Iterator[Stack]:
    _migrate(url)
    stack = Stack(moto_endpoint, url, bucket, queues, s3, tmp_path)
    yield stack
    stack.close()


@pytest.fixture
def stack(moto_endpoint: str, database_url: str, bucket: str, queues: Queues, s3: Any, tmp_path: Path,
          aws_env: dict[str, str]) -> Iterator[Stack]:
    """A migrated job store on each backend, a bucket and a queue pair."""
    yield from _stack(moto_endpoint, database_url, bucket, queues, s3, tmp_path)


@pytest.fixture
def pg_stack(moto_endpoint: str, postgres_url: str, bucket: str, queues: Queues, s3: Any, tmp_path: Path,
             aws_env: dict[str, str]) -> Iterator[Stack]:
    """Like `stack`, on PostgreSQL only (process-level behaviour is proven there)."""
    yield from _stack(moto_endpoint, postgres_url, bucket, queues, s3, tmp_path)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 1-second, 12-frame MP4."""
    return write_clip(tmp_path / "swing.mp4")


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `cricksy-worker run` processes; every one is killed and reaped at teardown."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str]) -> WorkerProcess:
        process = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
