"""The streaming pass over one clip, on one process or split into segments across several.

One PoseLandmarker keeps one core busy and no more (the Tasks API exposes no
thread count), so a task with two vCPUs analyses two segments at once. The
first segment runs in this process; each other one in a child started
through worker.supervisor (spawned, killed when this process ends or fails,
its crash reported as AnalysisCrashed).
Children seek to their warm-up (the frames a pass from the start would
select, see VideoReader.frames; segments.join numbers them as a count).
Every seam is checked
(segments.seam_problem). The first one floats: this process goes on past
its planned end until the next segment's rows agree with its own
(`seam_moved_s`). Where a later seam fails, everything from the earlier
segment on is analysed again in this process (`seam_reruns`).
"""
from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.analysis.model import load_verified_model
from worker.analysis.pose import PoseFinder, PoseTracker
from worker.analysis.segments import (WHOLE_CLIP, FloatingSeam, Handicap, Part, Segment, join, merge_stats, plan,
                                      seam_problem)
from worker.analysis.stream import Collected, Progress, stream
from worker.analysis.track import SubjectTracker
from worker.analysis.video import (DecodeStats, VideoInfo, VideoLimits, VideoReader, init_opencv,
                                   opencv_threads)

if TYPE_CHECKING:
    from worker.analysis.knobs import AnalysisOptions

_SEGMENT_SPEC = "worker.analysis.parallel:analyse_segment"
# Wall seconds, measured with both cores busy on 720p and 1080p clips: a child's first frame comes
# 0.25-0.5 s after this process's (spawn, imports and its seek; the model loads meanwhile here too,
# wherever the warm-up is); an analysed frame costs 23 ms at 720p and 26 ms at 1080p (the model, plus
# decoding at 2.4 ms per megapixel).
CHILD_START_S = 0.4
FRAME_S, FRAME_S_PER_MPX = 0.021, 0.0024


class _Cancelled(Exception):
    """This process stopped: the segment children are to be killed."""


def analyse_segment(video_path: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                    progress: Progress | None, segment: Segment, options: AnalysisOptions,
                    model: bytes | None = None, further: Callable[[Collected, float], bool] | None = None) -> Part:
    """One segment's pass (the whole clip for WHOLE_CLIP); a child's entry point too.

    A child reads the model itself (`model` None, 30 ms): the bytes in its start-up
    arguments would be written into a pipe that blocks for good when the child
    dies before reading them (CPython's spawn keeps the pipe's read end open).
    `further`: see stream.stream (the caller knows where the segment then ended).
    """
    init_opencv()
    model = model if model is not None else load_verified_model(options.model_path)
    timings: dict[str, float] = {}
    opts = options
    shared = segment != WHOLE_CLIP  # a share of the clip: other processes take the other cores
    with opencv_threads(1 if shared else None), \
            VideoReader(video_path, VideoLimits(max_seconds=opts.max_seconds)) as reader:
        tick = time.perf_counter()
        with PoseTracker(options=opts.pose, model=model) as tracker, \
                PoseFinder(options=opts.pose, model=model) as finder:
            timings["model_load_s"] = time.perf_counter() - tick
            follow = SubjectTracker(tracker, finder, opts.subject)
            marks: list[tuple[float, Any]] = []

            def mark(ms: float) -> None:
                if not marks or marks[-1][1] != follow.stats:
                    marks.append((ms, copy.deepcopy(follow.stats)))

            collected = stream(reader, follow, opts.max_fps, progress, timings, segment, mark, further)
        return Part(segment, collected, reader.stats, follow.stats, timings, marks)


def collect(video_path: str | os.PathLike, opts: AnalysisOptions, processes: int, progress: Progress | None,
            timings: dict[str, float], prepare: Callable[[], None] | None = None,
            ) -> tuple[VideoInfo, Collected, DecodeStats, Any]:
    """The joined pass: (video header, collected rows, decode counts, tracking stats). Adds to `timings`.

    The header's limits are checked before the model is read: a video that can never be analysed
    is refused without it. `prepare` is work the caller does after the pass in this process anyway
    (its imports): with several processes it is done when the first segment reaches its planned end,
    where this process waits for the next segment when that one is late. The plan is not changed for
    it: where the seam falls moves the later segment's landmarks by a few pixels (README, "One clip
    on every vCPU")."""
    with VideoReader(video_path, VideoLimits(max_seconds=opts.max_seconds)) as reader:
        info = reader.info
    tick = time.perf_counter()
    model = load_verified_model(opts.model_path)  # read and checked once here; a child reads its own
    read_s = time.perf_counter() - tick
    duration = info.frames_announced / info.fps if info.frames_announced and info.fps else None
    segments = plan(duration, processes, handicap=_handicap(info, opts.max_fps))
    timings["processes"] = float(len(segments))
    if len(segments) == 1:
        part = analyse_segment(video_path, progress=progress, segment=segments[0], options=opts, model=model)
        parts = [part]
    else:
        parts, timings["seam_moved_s"] = _in_parallel(video_path, opts, model, segments,
                                                      _Combined(progress, info, segments), prepare, timings)
    reruns = 0
    for k in range(1, len(parts)):
        if seam_problem(parts[k - 1], parts[k]) is not None:
            tick = time.perf_counter()
            redo = replace(parts[k - 1].segment, until_ms=None)
            parts = parts[:k - 1] + [analyse_segment(video_path, progress=_again(progress, info, redo),
                                                     segment=redo, options=opts, model=model)]
            reruns, timings["rerun_s"] = 1, time.perf_counter() - tick
            break
    timings["seam_reruns"] = float(reruns)
    collected, decode = join(parts)
    timings["model_load_s"] = read_s + max(p.timings["model_load_s"] for p in parts)
    for name in ("decode_s", "inference_s"):
        timings[name] = sum(p.timings[name] for p in parts)
    return info, collected, decode, merge_stats([p.kept_stats() for p in parts])


def _handicap(info: VideoInfo, max_fps: float | None) -> Handicap:
    """A child's late start in seconds of clip analysed meanwhile (segments.plan gives it to the first)."""
    fps = info.fps or 25.0
    mpx = info.width * info.height / 1e6
    clip_s_per_s = 1.0 / ((FRAME_S + FRAME_S_PER_MPX * mpx) * min(fps, max_fps or fps))
    return Handicap(start_s=CHILD_START_S * clip_s_per_s)


def _again(progress: Progress | None, info: VideoInfo, redo: Segment) -> Progress | None:
    """Progress of a re-run as more work on top of the pass already reported: the total grows by the
    re-run's frames, so the count never goes back and the worker's liveness and stop-window projection
    keep working."""
    if progress is None or not info.frames_announced:
        return progress
    total = info.frames_announced
    first = int(redo.warm_from_ms * (info.fps or 25.0) / 1000.0)
    return lambda decoded, _: progress(total + max(0, min(decoded, total) - first), 2 * total - first)


class _Combined:
    """Progress of all segments as one count of the clip's frames (warm-ups included in the total).

    Once the first segment goes past its planned end (a floating seam), the rest of the clip after
    that end is added to the total, as the most it may have to do: the count never goes back, and
    the worker's stop-window projection is not told the job is nearly done when it may not be."""

    def __init__(self, progress: Progress | None, info: VideoInfo, segments: list[Segment]) -> None:
        self.progress, self.total = progress, info.frames_announced or 0
        fps = info.fps or 25.0
        self.first = [int(s.warm_from_ms * fps / 1000.0) for s in segments]
        self.last = [int(s.until_ms * fps / 1000.0) if s.until_ms is not None else self.total for s in segments]
        self.done = [0] * len(segments)
        self.seam: FloatingSeam | None = None
        self.complete = False
        self.lock = threading.Lock()

    def segment(self, k: int) -> Progress:
        """Segment k's progress; one lock, so the caller's callback is never entered from two threads."""
        def report(decoded: int, total: int | None) -> None:
            with self.lock:
                self.done[k] = max(0, min(decoded, self.last[k]) - self.first[k])
                self._report()
        return report

    def finished(self) -> None:
        with self.lock:
            self.done = [b - a for a, b in zip(self.first, self.last)]
            self.complete = True
            self._report()

    def _report(self) -> None:
        work = sum(b - a for a, b in zip(self.first, self.last)) or 1
        done = min(round(self.total * sum(self.done) / work), self.total)
        if self.progress is None:
            return
        beyond = self.seam.went_on if self.seam is not None else 0  # frames the first segment went on
        if beyond > 0:
            rest = max(self.total - self.last[0], beyond)
            self.progress(done + (rest if self.complete else beyond), self.total + rest)
        else:
            self.progress(done, self.total or None)


def _in_parallel(video_path: str | os.PathLike, opts: AnalysisOptions, model: bytes, segments: list[Segment],
                 combined: _Combined, prepare: Callable[[], None] | None,
                 timings: dict[str, float]) -> tuple[list[Part], float]:
    from worker.supervisor import Supervised

    supervised = Supervised(_SEGMENT_SPEC, name="cricksy-segment")
    stop = threading.Event()
    results: dict[int, Part] = {}
    failures: list[BaseException] = []

    def watch() -> None:
        if stop.is_set():
            raise _Cancelled()

    def child(segment: Segment) -> None:
        try:
            part = supervised(video_path, Path(os.devnull), progress=combined.segment(segment.index), watch=watch,
                              segment=segment, options=opts)
            results[segment.index] = part
        except _Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=child, args=(s,), name=f"segment-{s.index}", daemon=True)
               for s in segments[1:]]
    for thread in threads:
        thread.start()
    own = combined.segment(0)

    def here(decoded: int, total: int | None) -> None:
        if failures:
            raise failures[0]
        own(decoded, total)

    def finished(k: int) -> Part:
        nonlocal prepare
        if prepare is not None and not failures:  # at this process's planned end, where it may wait
            tick = time.perf_counter()
            prepare()
            prepare, timings["prepared_s"] = None, time.perf_counter() - tick
        while k not in results:
            threads[k - 1].join(0.1)
            if failures:
                raise failures[0]
            if not threads[k - 1].is_alive() and k not in results:
                raise RuntimeError(f"segment {k} ended without an answer")
        return results[k]

    seam = combined.seam = FloatingSeam(segments, finished)
    try:
        first = analyse_segment(video_path, progress=here, segment=segments[0], options=opts, model=model,
                                further=seam)
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(0.1)
            if failures:
                raise failures[0]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    combined.finished()
    return seam.parts(first, [results[s.index] for s in segments[1:]]), round(seam.moved_s, 3)
