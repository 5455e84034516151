"""Small real stand-ins for the analysis side, and the tiny clips they read.

They honour the analysis contract (`analyze(video_path, out_dir, *, max_seconds,
progress, model_path, options, processes) -> dict` with `artifacts`), really decode video with OpenCV, and raise
`InvalidVideoError` for input they cannot read. They take the job's `options` document;
`count_frames` echoes it, and `processes`, in its result. OpenCV is imported where it is
used, so that loading a stand-in (as `cricksy-worker health` does) stays cheap. The worker selects one with
`WORKER_ANALYZER=tests.support.standins:<function>`.
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from worker.errors import InvalidVideoError

# Seconds to spend on each frame, so that process tests can catch a job mid-analysis.
FRAME_DELAY_ENV = "CRICKSY_TEST_FRAME_DELAY"

Progress = Callable[[int, "int | None"], None] | None


def write_clip(path: Path, frames: int = 12, fps: float = 12.0, size: tuple[int, int] = (64, 48)) -> Path:
    """Write an MP4 (mp4v) of a white bar sliding across a black frame."""
    import cv2
    import numpy as np

    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for index in range(frames):
        frame = np.zeros((height, width, 3), np.uint8)
        left = (index * 4) % width
        frame[:, left:left + 8] = 255
        writer.write(frame)
    writer.release()
    assert path.stat().st_size > 0, f"OpenCV wrote an empty {path}"
    return path


def count_frames(video_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                 max_seconds: float | None = None, progress: Progress = None, model_path: str | None = None,
        options: dict | None = None, processes: int | None = None) -> dict:
    """Decode every frame, report progress per frame, write `frames.json`."""
    import cv2

    delay = float(os.environ.get(FRAME_DELAY_ENV, "0"))
    capture = cv2.VideoCapture(str(video_path))
    if not capture.isOpened():
        raise InvalidVideoError(f"{Path(video_path).name} is not a video this worker can read: "
                                "upload an MP4 or MOV file")
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        fps = capture.get(cv2.CAP_PROP_FPS) or None
        if max_seconds is not None and total and fps and total / fps > max_seconds:
            raise InvalidVideoError(f"the video lasts {total / fps:.1f} s, longer than the {max_seconds:g} s "
                                    "limit: trim it and submit it again")
        frames = 0
        while capture.read()[0]:
            frames += 1
            if delay:
                time.sleep(delay)
            if progress is not None:
                progress(frames, total)
    finally:
        capture.release()
    if frames == 0:
        raise InvalidVideoError(f"{Path(video_path).name} holds no decodable frame: upload the video again")
    Path(out_dir, "frames.json").write_text(json.dumps({"frames": frames}))
    video = {"frames_analyzed": frames, "duration_s": round(frames / fps, 3) if fps else None}
    return {"frames": frames, "fps": fps, "max_seconds": max_seconds, "video": video, "options": options,
            "processes": processes, "artifacts": {"frame_count": "frames.json"}}


def noisy(video_path: str | os.PathLike, out_dir: str | os.PathLike, *,
          max_seconds: float | None = None, progress: Progress = None, model_path: str | None = None,
        options: dict | None = None, processes: int | None = None) -> dict:
    """`count_frames`, after writing to file descriptor 2 the way native libraries (glog, TFLite) do."""
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"W0000 00:00:1795455108.577142   26861 some_calculator.cc:121] a native warning\n")
    return count_frames(video_path, out_dir, max_seconds=max_seconds, progress=progress)


def crash(video_path: str | os.PathLike, out_dir: str | os.PathLike, *,
          max_seconds: float | None = None, progress: Progress = None, model_path: str | None = None,
        options: dict | None = None, processes: int | None = None) -> dict:
    """Fail the way a bug or a flaky dependency does: not a PermanentJobError, so it is retried."""
    raise RuntimeError("stand-in analysis crashed")


def trivial(video_path: str | os.PathLike, out_dir: str | os.PathLike, *,
            max_seconds: float | None = None, progress: Progress = None, model_path: str | None = None,
        options: dict | None = None, processes: int | None = None) -> dict:
    """Next to no work (for measuring the loop's own overhead): one progress call, one tiny artifact."""
    size = Path(video_path).stat().st_size
    if progress is not None:
        progress(1, 1)
    Path(out_dir, "size.json").write_text(json.dumps({"bytes": size}))
    return {"bytes": size, "artifacts": {"size": "size.json"}}


def hang(video_path: str | os.PathLike, out_dir: str | os.PathLike, *,
         max_seconds: float | None = None, progress: Progress = None, model_path: str | None = None,
        options: dict | None = None, processes: int | None = None) -> dict:
    """Report progress on three frames, then block forever inside the fourth, like a frame that never returns."""
    for frame in range(1, 4):
        if progress is not None:
            progress(frame, None)
    while True:
        time.sleep(3600)


def suicide(video_path: str | os.PathLike, out_dir: str | os.PathLike, *,
            max_seconds: float | None = None, progress: Progress = None, model_path: str | None = None,
        options: dict | None = None, processes: int | None = None) -> dict:
    """Die the way a native crash or the OOM killer ends a process: SIGKILL, no exception, no answer."""
    if progress is not None:
        progress(1, 12)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")
