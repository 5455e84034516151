"""`analyze`: one video in, one result document and its artifact files out.

This is the entry point the worker loop calls (through WORKER_ANALYZER) and
the `cricksy-worker analyze` command wraps. It streams the video once: decode,
pose, keep landmarks (a few hundred bytes a frame) and a bounded set of
player pictures; then metrics, pictures and the landmark series are written to
`out_dir`. The result document lists those files by name; the per-frame
series stays in the artifact, never in the document.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from worker.config import pose_model_path
from worker.cpus import analysis_processes
from worker.errors import InvalidVideoError
from worker.options import parse_options
from worker.analysis import quality
from worker.analysis.artifacts import (artifacts_or_nothing, event_times, moment_times, sheet_cells,
                                       write_angles_csv, write_landmarks)
from worker.analysis.cricket import analyse_cricket, analysed_fps
from worker.analysis.filters import CUTOFF_HZ
from worker.analysis.metrics import compute_metrics
from worker.analysis.pictures import angle_chart, contact_sheet, load_chart_library
from worker.analysis.parallel import collect
from worker.analysis.knobs import DEFAULT_MAX_FPS, AnalysisOptions
from worker.analysis.result import document, load_validator, validate_result
from worker.analysis.series import PoseSeries
from worker.analysis.stream import Progress
from worker.analysis.strip import event_cells, event_strip

__all__ = ["AnalysisOptions", "analyze", "validate_result"]

def analyze(
    video_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    progress: Progress | None = None,
    options: AnalysisOptions | dict | None = None,
    model_path: str | os.PathLike | None = None,
    processes: int | None = None,
) -> dict:
    """Analyse one video; write its artifacts into `out_dir` (which must exist); return the result.

    Raises InvalidVideoError for input that can never be analysed, ModelError
    when the pose model is missing or wrong. An exception raised by `progress`
    propagates unchanged. On any failure no artifact is left in `out_dir`.
    `options` may be a job's options document (the worker passes one; it was
    validated there, against the worker's frame-rate ceiling). `processes`
    (the worker's validated WORKER_ANALYSIS_PROCESSES) overrides the options'; with
    neither, the variable is read here, else the task's usable CPUs.
    """
    if isinstance(options, dict):
        ceiling = max(float(options.get("max_fps") or DEFAULT_MAX_FPS), DEFAULT_MAX_FPS)
        options = AnalysisOptions.from_job(parse_options(options, max_fps_ceiling=ceiling))
    opts = options or AnalysisOptions()
    if max_seconds is not None:
        opts = replace(opts, max_seconds=max_seconds)
    if processes is not None:
        opts = replace(opts, processes=processes)
    if model_path is not None or opts.model_path is None:
        opts = replace(opts, model_path=model_path or pose_model_path())
    out = Path(out_dir)
    if not out.is_dir():
        raise NotADirectoryError(f"output folder {out} does not exist")
    started = time.perf_counter()
    timings: dict[str, float] = {}

    processes = opts.processes or analysis_processes()
    last: list[tuple[int, int | None]] = []  # what progress said last: repeated while the files are written

    def remember(done: int, total: int | None) -> None:
        last[:] = [(done, total)]
        progress(done, total)

    info, collected, stats, track = collect(video_path, opts, processes, progress and remember, timings,
                                            prepare=_prepare_tail)
    with_pose = sum(s is not None for s in collected.samples)
    if with_pose == 0:
        if opts.subject is not None:
            raise InvalidVideoError(
                f"nobody was found at the subject {opts.subject.describe()} in video {info.path.name} "
                f"({stats.frames_analyzed} frames analysed; {track.subject_reason})")
        raise InvalidVideoError(
            f"no person was detected in video {info.path.name} ({stats.frames_analyzed} frames analysed); "
            "film the player side-on, whole body in view, at least a tenth of the frame height"
        )

    tick = time.perf_counter()
    arrays = collected.arrays()
    t = arrays["timestamp_ms"] / 1000.0
    xy = arrays["image"][:, :, :2].astype(np.float64) * [collected.width, collected.height]
    visibility = arrays["visibility"].astype(np.float64)
    arrays["quality"] = quality.frame_quality(t, xy, visibility, arrays["detected"], collected.events,
                                              collected.width)
    accepted = arrays["quality"] == quality.OK
    series = PoseSeries.gated(t, xy, visibility, accepted)
    report = compute_metrics(series, stats.frames_analyzed, opts.handedness)
    # The events and their metrics, on the gated series at the rate actually analysed (after the cap).
    cricket = analyse_cricket(series, accepted, opts.job_options(), fps=analysed_fps(series) or None)
    timings["metrics_s"] = time.perf_counter() - tick

    def still_wanted() -> None:
        if progress is not None:
            progress(*(last[0] if last else (stats.frames_decoded, info.frames_announced)))

    tick = time.perf_counter()
    with artifacts_or_nothing(out, still_wanted) as write:
        write("landmarks", lambda p: write_landmarks(p, arrays, collected))
        write("angles", lambda p: write_angles_csv(p, t, arrays, report))
        write("contact_sheet", lambda p: contact_sheet(sheet_cells(collected, arrays, report),
                                                       report.handedness.front, p))
        write("angle_chart", lambda p: angle_chart(
            t, report.angles, report.raw_angles, {**moment_times(report, t), **event_times(cricket)},
            f"Joint angles in the image plane, low-pass {CUTOFF_HZ:g} Hz - {report.handedness.value}-handed "
            f"({report.handedness.source}), front side {report.handedness.front}", p, report.handedness.front))
        write("event_strip", lambda p: event_strip(
            event_cells(cricket, collected.crops, t, xy, visibility, report.angles, accepted),
            report.handedness.front, p))
        timings["pictures_s"] = time.perf_counter() - tick
        timings["total_s"] = time.perf_counter() - started
        result = document(info, stats, collected, opts, report, arrays, timings, track)
        result["cricket"] = cricket
        result["options"] = opts.document()
        validate_result(result)  # inside: a document that breaks its schema leaves no artifacts either
    return result


def _prepare_tail() -> None:
    """What the serial end of a job imports (matplotlib for the chart, jsonschema), done early where a
    process would otherwise sit waiting (`collect`'s `prepare`)."""
    load_chart_library()
    load_validator()
