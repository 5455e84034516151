"""Issue 15: a job analysed by several processes keeps the stop window and survives a crashed segment.

Real `cricksy-worker run`, the real analysis (MediaPipe) with two processes
per job, a moto server and PostgreSQL. A 16 s clip makes two segments: the
analysis process runs the first and supervises a second, spawned, process.
"""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.media import Motion, person_photo, synthesize_video
from tests.worker.harness import Stack, WorkerProcess, assert_handed_back, wait_until
from worker.config import pose_model_path

StartWorker = Callable[[dict[str, str]], WorkerProcess]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parallel") / "walk-16s.mp4"
    return synthesize_video(person_photo("messi"), path,
                            Motion(seconds=16.0, scale=(0.7, 1.0), angle=(-6.0, 6.0), shift_x=(-0.1, 0.1)))


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie waiting for its parent to read its status has ended."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def segment_processes(worker: WorkerProcess) -> tuple[int, list[int]]:
    """The analysis process and the segment processes it started, once there are some."""
    found: dict[str, tuple[int, list[int]]] = {}

    def started() -> bool:
        for pid in children(worker.proc.pid):
            if "multiprocessing.spawn" in command(pid):
                grandchildren = [p for p in children(pid) if "multiprocessing.spawn" in command(p)]
                if grandchildren:
                    found["it"] = (pid, grandchildren)
                    return True
        return False

    wait_until(started, 90, "a segment process")
    return found["it"]


def parallel_env(stack: Stack, **overrides: str) -> dict[str, str]:
    return stack.env(WORKER_ANALYZER="worker.analysis:analyze", WORKER_ANALYSIS_PROCESSES="2",
                     POSE_MODEL_PATH=str(pose_model_path()), **overrides)


def test_sigterm_hands_back_a_two_process_job_and_leaves_no_process_behind(
        pg_stack: Stack, long_clip: Path, start_worker: StartWorker) -> None:
    job_id = str(pg_stack.submit(long_clip))
    worker = start_worker(parallel_env(pg_stack, WORKER_STOP_TIMEOUT_SECONDS="2"))
    worker.wait_for("job.analysis_started", timeout=60, job_id=job_id)
    analysis, segments = segment_processes(worker)
    time.sleep(1.0)
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert time.monotonic() - signalled < 10  # the 2 s window, with room for a loaded machine
    assert_handed_back(worker, pg_stack, job_id)
    wait_until(lambda: not any(alive(pid) for pid in (analysis, *segments)), 10, "every analysis process to end")
    assert pg_stack.job_scratch() == []


def test_a_crashed_segment_process_retries_the_job_which_then_completes(
        pg_stack: Stack, long_clip: Path, start_worker: StartWorker) -> None:
    job_id = str(pg_stack.submit(long_clip))
    worker = start_worker(parallel_env(pg_stack, WORKER_VISIBILITY_TIMEOUT_SECONDS="3"))
    worker.wait_for("job.analysis_started", timeout=60, job_id=job_id)
    analysis, segments = segment_processes(worker)
    time.sleep(2.0)  # past its start-up: analysing
    os.kill(segments[0], signal.SIGKILL)  # what the out-of-memory killer or a native crash does
    retry = worker.wait_for("job.retry", timeout=60, job_id=job_id)
    assert retry["error"].startswith("AnalysisCrashed: the analysis process died without an answer "
                                     "(killed by SIGKILL)")
    wait_until(lambda: not alive(analysis), 10, "the first attempt's analysis process to end")
    worker.wait_for("job.completed", timeout=240, job_id=job_id)
    row = pg_stack.row(job_id)
    assert (row["status"], row["attempts"]) == ("completed", 2)
    assert row["results"]["timings"]["processes"] == 2
    assert row["results"]["video"]["frames_analyzed"] == 400
