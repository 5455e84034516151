"""The knobs of one analysis, in a module of their own: a segment process unpickles them without
importing the metrics, events and pictures it never runs."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from worker.options import ACTIVITIES, DEFAULT_MAX_FPS_CEILING, HANDEDNESS, VIEWS, JobOptions, Subject
from worker.analysis.pose import PoseOptions

DEFAULT_MAX_FPS = DEFAULT_MAX_FPS_CEILING  # events need 50 fps and more (docs/metrics.md)


@dataclass(frozen=True)
class AnalysisOptions:
    """Knobs of one analysis; the defaults are what the service runs with."""

    max_fps: float | None = DEFAULT_MAX_FPS  # analyse at most this many frames per second; None: every frame
    max_seconds: float = 300.0  # longer videos are refused before decoding (WORKER_MAX_VIDEO_SECONDS)
    handedness: str = "auto"  # "auto" | "left" | "right"
    model_path: str | os.PathLike | None = None  # default: worker.config.pose_model_path()
    pose: PoseOptions = field(default_factory=PoseOptions)
    subject: Subject | None = None  # who to analyse; None: the automatic rule (worker/analysis/subject.py)
    activity: str = "auto"  # "auto" | "batting" | "bowling" (worker/options.py)
    view: str = "auto"  # "auto" | "side-on" | "front-on" | "behind"
    processes: int | None = None  # analysis processes; None: WORKER_ANALYSIS_PROCESSES, else the task's CPUs

    @classmethod
    def from_job(cls, job: JobOptions, **rest: Any) -> AnalysisOptions:
        """The analysis knobs for a job's validated options (`rest`: max_seconds, model_path, pose)."""
        return cls(max_fps=job.max_fps, handedness=job.handedness, subject=job.subject, activity=job.activity,
                   view=job.view, **rest)

    def job_options(self) -> JobOptions:
        """These knobs as job options, for the cricket analysis; every-frame reads as the schema's top rate."""
        return JobOptions(activity=self.activity, handedness=self.handedness, view=self.view, subject=self.subject,
                          max_fps=self.max_fps if self.max_fps is not None else math.inf)

    def document(self) -> dict[str, Any]:
        """The options as applied, echoed in the result (options.schema.json; max_fps null: every frame)."""
        doc = self.job_options().to_document()
        doc["max_fps"] = self.max_fps
        return doc

    def __post_init__(self) -> None:
        if self.activity not in ACTIVITIES:
            raise ValueError(f"activity must be one of {', '.join(ACTIVITIES)}, not {self.activity!r}")
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {self.view!r}")
        if self.handedness not in HANDEDNESS:
            raise ValueError(f"handedness must be one of {', '.join(HANDEDNESS)}, not {self.handedness!r}")
        if self.max_fps is not None and self.max_fps <= 0:
            raise ValueError(f"max_fps must be positive, not {self.max_fps}")
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"processes must be at least 1, not {self.processes}")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, not {self.max_seconds}")
