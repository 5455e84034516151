"""Pose analysis of one video: decode, find the player, measure, draw.

The job service reaches this package only through the WORKER_ANALYZER seam
(`worker.analysis:analyze`), so everything here can change without touching
the queue, the job store or the storage code. Importing the package itself is
cheap (the health check imports `worker.analysis.model`); the pipeline, with
numpy, OpenCV and MediaPipe behind it, loads on first use of its names.
"""
from __future__ import annotations

from typing import Any

__all__ = ["AnalysisOptions", "analyze", "validate_result"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from worker.analysis import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'worker.analysis' has no attribute {name!r}")
