"""The streaming pass: decode each analysed frame, follow the subject, keep landmarks and a few pictures.

Memory stays bounded by the clip's length in landmarks (a few hundred bytes a
frame) plus CropReservoir's fixed set of player pictures, whatever the
resolution.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from worker.analysis.landmarks import COUNT
from worker.analysis.pictures import CropReservoir
from worker.analysis.pose import PoseSample
from worker.analysis.track import Observation, SubjectTracker
from worker.analysis.video import VideoReader

if TYPE_CHECKING:
    from worker.analysis.segments import Segment

PROGRESS_INTERVAL_S = 0.25

Progress = Callable[[int, "int | None"], None]


@dataclass
class Collected:
    """What the streaming pass keeps: landmarks of every analysed frame, player pictures of some."""

    timestamps_ms: list[float] = field(default_factory=list)
    frame_index: list[int] = field(default_factory=list)
    samples: list[PoseSample | None] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    _track_rows: list[int] = field(default_factory=list)
    crops: CropReservoir = field(default_factory=CropReservoir)
    width: int = 0
    height: int = 0

    def record(self, seen: Observation) -> None:
        """Keep one frame's outcome; poses tracked backwards fill earlier rows, a false start is taken back."""
        if seen.withdrawn:
            self.withdraw()
        if seen.event in ("acquired", "reacquired"):
            self._track_rows = []
        row = len(self.samples)
        for back, person in seen.earlier:
            self.samples[row - back] = person.normalised(self.width, self.height)
            self.events[row - back] = "backfilled"
            self._track_rows.append(row - back)
        self.samples.append(None if seen.person is None else seen.person.normalised(self.width, self.height))
        self.events.append(seen.event)
        if seen.person is not None:
            self._track_rows.append(row)

    def withdraw(self) -> None:
        """Take back the poses of the current track: it was a false start."""
        for row in self._track_rows:
            self.samples[row] = None
            self.events[row] = "withdrawn"
        self._track_rows = []

    def arrays(self) -> dict[str, np.ndarray]:
        n = len(self.samples)
        image = np.full((n, COUNT, 3), np.nan, dtype=np.float32)
        world = np.full((n, COUNT, 3), np.nan, dtype=np.float32)
        visibility = np.zeros((n, COUNT), dtype=np.float32)
        presence = np.zeros((n, COUNT), dtype=np.float32)
        for row, sample in enumerate(self.samples):
            if sample is not None:
                image[row], world[row] = sample.image, sample.world
                visibility[row], presence[row] = sample.visibility, sample.presence
        return {
            "timestamp_ms": np.asarray(self.timestamps_ms, dtype=np.float64),
            "frame_index": np.asarray(self.frame_index, dtype=np.int64),
            "detected": np.array([s is not None for s in self.samples], dtype=bool),
            "image": image,
            "world": world,
            "visibility": visibility,
            "presence": presence,
        }


def stream(
    reader: VideoReader, follow: SubjectTracker, max_fps: float | None, progress: Progress | None,
    timings: dict[str, float], segment: Segment | None = None, mark: Callable[[float], None] | None = None,
    further: Callable[[Collected, float], bool] | None = None,
) -> Collected:
    """The pass over the whole clip, or over one segment of it (its warm-up included).

    `mark(ms)` is called before each kept frame; `further(collected, ms)` at the segment's end and at
    each frame after it, and the pass goes on through that frame while it says so (a seam that moves on).
    """
    collected = Collected()
    total = reader.info.frames_announced
    decode_s = inference_s = 0.0
    if progress is not None:
        progress(0, total)
    last_report = time.perf_counter()
    frames = reader.frames(max_fps, skip_before_ms=segment.warm_from_ms if segment else None)
    until_ms = segment.until_ms if segment else None
    keep_from_ms = segment.keep_from_ms if segment else 0.0
    while True:
        tick = time.perf_counter()
        frame = next(frames, None)
        tock = time.perf_counter()
        decode_s += tock - tick
        if frame is None:
            until_ms = None  # the clip ended here
            break
        if until_ms is not None and frame.timestamp_ms >= until_ms and (
                further is None or not further(collected, frame.timestamp_ms)):
            break
        if mark is not None and frame.timestamp_ms >= keep_from_ms:
            mark(frame.timestamp_ms)
        if not collected.samples:
            collected.height, collected.width = frame.image.shape[:2]
        seen = follow.step(frame.image, frame.timestamp_ms)
        now = time.perf_counter()
        inference_s += now - tock
        row = len(collected.samples)
        collected.record(seen)
        collected.timestamps_ms.append(frame.timestamp_ms)
        collected.frame_index.append(frame.index)
        if seen.person is not None:
            collected.crops.offer(row, frame.image, seen.person.box)
        if progress is not None and now - last_report >= PROGRESS_INTERVAL_S:
            progress(reader.stats.frames_decoded, total)
            last_report = now
    if until_ms is None and follow.finish() is not None:  # a segment that ends before the clip goes on
        collected.withdraw()
    if progress is not None:
        progress(reader.stats.frames_decoded, total)
    timings["decode_s"] = decode_s
    timings["inference_s"] = inference_s
    return collected
