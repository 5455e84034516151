"""Pose analysis of one video: decode, find the player, measure, draw.

The job service reaches this package only through the WORKER_ANALYZER seam
(`worker.analysis:analyze`), so everything here can change without touching
the queue, the job store or the storage code. Importing the package, and
loading `analyze` through the seam, is cheap (`cricksy-worker health` does
both); the pipeline, with numpy, OpenCV and MediaPipe behind it, loads on the
first analysis.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["AnalysisOptions", "PoseAnalyzer", "analyze", "validate_result"]
_LAZY = ("AnalysisOptions", "validate_result")


class PoseAnalyzer:
    """The analyzer the service runs: callable with the analysis contract, and able to say what it needs."""

    def __call__(self, video_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                 max_seconds: float | None = None, progress: Callable[[int, int | None], None] | None = None,
                 options: Any = None, model_path: str | os.PathLike | None = None,
                 processes: int | None = None) -> dict:
        from worker.analysis import pipeline, video

        video.init_opencv()
        return pipeline.analyze(video_path, out_dir, max_seconds=max_seconds, progress=progress, options=options,
                                model_path=model_path, processes=processes)

    def check(self, options: Mapping[str, Any]) -> None:
        """Raise (ModelError, one line) unless the pinned pose model is at `options["model_path"]`."""
        from worker.analysis.model import load_verified_model

        load_verified_model(options.get("model_path"))


analyze = PoseAnalyzer()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from worker.analysis import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'worker.analysis' has no attribute {name!r}")
