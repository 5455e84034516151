"""`analyze`: one video in, one result document and its artifact files out.

This is the entry point the worker loop calls (through WORKER_ANALYZER) and
the `cricksy-worker analyze` command wraps. It streams the video once: decode,
pose, keep landmarks (a few hundred bytes a frame) and a bounded set of
thumbnails; then metrics, pictures and the landmark series are written to
`out_dir`. The result document lists those files by name; the per-frame
series stays in the artifact, never in the document.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from worker.atomicfile import write_bytes_atomic
from worker.config import pose_model_path
from worker.errors import InvalidVideoError
from worker.analysis.landmarks import COUNT, NAMES
from worker.analysis.metrics import ANGLES, MetricsReport, PoseSeries, compute_metrics
from worker.analysis.model import MODEL_NAME, MODEL_SHA256
from worker.analysis.filters import CUTOFF_HZ
from worker.analysis.pictures import SHEET_FRAMES, SheetFrame, Thumbnail, ThumbnailReservoir, angle_chart, contact_sheet
from worker.analysis.pose import PoseOptions, PoseSample, PoseTracker
from worker.analysis.video import DecodeStats, VideoInfo, VideoLimits, VideoReader

SCHEMA_VERSION = "1.0"
HANDEDNESS_CHOICES = ("auto", "left", "right")
ARTIFACT_FILES = {
    "landmarks": "landmarks.npz",
    "angles": "angles.csv",
    "contact_sheet": "contact_sheet.png",
    "angle_chart": "angle_chart.png",
}
PROGRESS_INTERVAL_S = 0.25

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class AnalysisOptions:
    """Knobs of one analysis; the defaults are what the service runs with."""

    max_fps: float | None = 30.0  # analyse at most this many frames per second of video
    max_seconds: float = 300.0  # longer videos are refused before decoding (WORKER_MAX_VIDEO_SECONDS)
    handedness: str = "auto"  # "auto" | "left" | "right"
    model_path: str | os.PathLike | None = None  # default: worker.config.pose_model_path()
    pose: PoseOptions = field(default_factory=PoseOptions)

    def __post_init__(self) -> None:
        if self.handedness not in HANDEDNESS_CHOICES:
            raise ValueError(f"handedness must be one of {', '.join(HANDEDNESS_CHOICES)}, not {self.handedness!r}")
        if self.max_fps is not None and self.max_fps <= 0:
            raise ValueError(f"max_fps must be positive, not {self.max_fps}")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, not {self.max_seconds}")


@dataclass
class _Collected:
    """What the streaming pass keeps: landmarks of every analysed frame, thumbnails of some."""

    timestamps_ms: list[float] = field(default_factory=list)
    frame_index: list[int] = field(default_factory=list)
    samples: list[PoseSample | None] = field(default_factory=list)
    thumbnails: ThumbnailReservoir = field(default_factory=ThumbnailReservoir)
    width: int = 0
    height: int = 0

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


def analyze(
    video_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    progress: Progress | None = None,
    options: AnalysisOptions | None = None,
    model_path: str | os.PathLike | None = None,
) -> dict:
    """Analyse one video; write its artifacts into `out_dir` (which must exist); return the result.

    Raises InvalidVideoError for input that can never be analysed, ModelError
    when the pose model is missing or wrong. An exception raised by `progress`
    propagates unchanged. On any failure no artifact is left in `out_dir`.
    """
    opts = options or AnalysisOptions()
    if max_seconds is not None:
        opts = replace(opts, max_seconds=max_seconds)
    if model_path is not None or opts.model_path is None:
        opts = replace(opts, model_path=model_path or pose_model_path())
    out = Path(out_dir)
    if not out.is_dir():
        raise NotADirectoryError(f"output folder {out} does not exist")
    started = time.perf_counter()
    timings: dict[str, float] = {}

    with VideoReader(video_path, VideoLimits(max_seconds=opts.max_seconds)) as reader:
        tick = time.perf_counter()
        with PoseTracker(opts.model_path, opts.pose) as tracker:
            timings["model_load_s"] = time.perf_counter() - tick
            collected = _stream(reader, tracker, opts, progress, timings)
    info, stats = reader.info, reader.stats
    with_pose = sum(s is not None for s in collected.samples)
    if with_pose == 0:
        raise InvalidVideoError(
            f"no person was detected in video {info.path.name} ({stats.frames_analyzed} frames analysed); "
            "film the player side-on, whole body in view, filling at least half of the frame height"
        )

    tick = time.perf_counter()
    arrays = collected.arrays()
    t = arrays["timestamp_ms"] / 1000.0
    series = PoseSeries(
        t=t,
        xy=arrays["image"][:, :, :2].astype(np.float64) * [collected.width, collected.height],
        visibility=arrays["visibility"].astype(np.float64),
    )
    report = compute_metrics(series, stats.frames_analyzed, opts.handedness)
    timings["metrics_s"] = time.perf_counter() - tick

    def still_wanted() -> None:
        if progress is not None:
            progress(stats.frames_decoded, info.frames_announced)

    tick = time.perf_counter()
    with _artifacts_or_nothing(out, still_wanted) as write:
        write("landmarks", lambda p: _write_landmarks(p, arrays, collected))
        write("angles", lambda p: _write_angles_csv(p, t, arrays, report))
        write("contact_sheet", lambda p: contact_sheet(_sheet_frames(collected, arrays, report), p))
        write("angle_chart", lambda p: angle_chart(
            t, report.angles, report.raw_angles, _moment_times(report, t),
            f"Joint angles in the image plane, low-pass {CUTOFF_HZ:g} Hz - {report.handedness.value}-handed "
            f"({report.handedness.source})", p))
        timings["pictures_s"] = time.perf_counter() - tick
        timings["total_s"] = time.perf_counter() - started
        result = _document(info, stats, collected, opts, report, arrays, timings)
        validate_result(result)  # inside: a document that breaks its schema leaves no artifacts either
    return result


def _document(info: VideoInfo, stats: DecodeStats, collected: _Collected, opts: AnalysisOptions,
              report: MetricsReport, arrays: dict[str, np.ndarray], timings: dict[str, float]) -> dict:
    t = arrays["timestamp_ms"] / 1000.0
    with_pose = int(arrays["detected"].sum())
    period_s = 1.0 / info.fps if info.fps else 0.0
    return {
        "schema_version": SCHEMA_VERSION,
        "video": {
            "duration_s": round(stats.last_timestamp_ms / 1000.0 + period_s, 3),
            "fps": round(info.fps, 3) if info.fps else None,
            "width": collected.width,
            "height": collected.height,
            "frames_total": stats.frames_decoded,
            "frames_analyzed": stats.frames_analyzed,
            "rotation_deg": info.rotation_deg,
            "max_fps": opts.max_fps,
        },
        "pose": {
            "frames_with_pose": with_pose,
            "detection_rate": round(with_pose / stats.frames_analyzed, 4),
            "handedness": report.handedness.as_dict(),
            "key_moments": {
                name: None if row is None else {"time_s": round(float(t[row]), 3),
                                                "frame": int(arrays["frame_index"][row])}
                for name, row in report.moments.items()
            },
        },
        "metrics": report.metrics,
        "artifacts": dict(ARTIFACT_FILES),
        "model": {"name": MODEL_NAME, "sha256": MODEL_SHA256},
        "timings": {name: round(value, 3) for name, value in timings.items()},
    }


def _stream(
    reader: VideoReader, tracker: PoseTracker, opts: AnalysisOptions, progress: Progress | None,
    timings: dict[str, float],
) -> _Collected:
    collected = _Collected()
    total = reader.info.frames_announced
    decode_s = inference_s = 0.0
    if progress is not None:
        progress(0, total)
    last_report = time.perf_counter()
    frames = reader.frames(opts.max_fps)
    while True:
        tick = time.perf_counter()
        frame = next(frames, None)
        tock = time.perf_counter()
        decode_s += tock - tick
        if frame is None:
            break
        if not collected.samples:
            collected.height, collected.width = frame.image.shape[:2]
        sample = tracker.detect(frame.image, frame.timestamp_ms)
        now = time.perf_counter()
        inference_s += now - tock
        row = len(collected.samples)
        collected.samples.append(sample)
        collected.timestamps_ms.append(frame.timestamp_ms)
        collected.frame_index.append(frame.index)
        collected.thumbnails.offer(row, frame.image)
        if progress is not None and now - last_report >= PROGRESS_INTERVAL_S:
            progress(reader.stats.frames_decoded, total)
            last_report = now
    if progress is not None:
        progress(reader.stats.frames_decoded, total)
    timings["decode_s"] = decode_s
    timings["inference_s"] = inference_s
    return collected


@contextlib.contextmanager
def _artifacts_or_nothing(out: Path, before_each: Callable[[], None]):
    """Write artifacts one by one; if anything in the block fails, remove those already written.

    `before_each` runs before every artifact: the progress callback, so that
    the worker keeps its liveness signal and can still cancel.
    """
    written: list[Path] = []

    def write(name: str, writer: Callable[[Path], None]) -> None:
        before_each()
        path = out / ARTIFACT_FILES[name]
        writer(path)
        written.append(path)

    try:
        yield write
    except BaseException:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise


def _write_landmarks(path: Path, arrays: dict[str, np.ndarray], collected: _Collected) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        **arrays,
        landmark_names=np.array(NAMES),
        frame_size=np.array([collected.width, collected.height], dtype=np.int64),
    )
    write_bytes_atomic(path, buffer.getvalue())


def _write_angles_csv(path: Path, t: np.ndarray, arrays: dict[str, np.ndarray], report: MetricsReport) -> None:
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    names = list(ANGLES)
    out.writerow(["time_s", "frame", "pose", *names])
    for row in range(len(t)):
        values = [report.angles[n][row] for n in names]
        out.writerow([
            f"{t[row]:.3f}", int(arrays["frame_index"][row]), int(arrays["detected"][row]),
            *("" if not np.isfinite(v) else f"{v:.1f}" for v in values),
        ])
    write_bytes_atomic(path, text.getvalue().encode())


_SHEET_LABELS = {
    "start": "first pose",
    "front_foot_plant": "front foot plant",
    "max_stride": "max stride",
    "max_front_knee_flexion": "max knee flexion",
    "end": "last pose",
}


def _sheet_frames(collected: _Collected, arrays: dict[str, np.ndarray], report: MetricsReport) -> list[SheetFrame]:
    """The key moments first, then evenly spread frames, up to SHEET_FRAMES, in time order."""
    detected = np.flatnonzero(arrays["detected"])
    wanted: list[tuple[int, str]] = [(int(detected[0]), "start")]
    wanted += [(row, name) for name, row in report.moments.items() if row is not None]
    wanted.append((int(detected[-1]), "end"))
    wanted += [(int(r), "") for r in np.linspace(detected[0], detected[-1], SHEET_FRAMES + 2)[1:-1]]
    chosen: dict[int, tuple[Thumbnail, str]] = {}
    for row, name in wanted:
        thumb = collected.thumbnails.nearest(row)
        if thumb is None:
            break
        label = _SHEET_LABELS.get(name, "")
        if thumb.row in chosen:
            if label and not chosen[thumb.row][1]:
                chosen[thumb.row] = (thumb, label)
        elif len(chosen) < SHEET_FRAMES:
            chosen[thumb.row] = (thumb, label)
    frames = []
    for row in sorted(chosen):
        thumb, label = chosen[row]
        seconds = arrays["timestamp_ms"][row] / 1000.0
        has_pose = bool(arrays["detected"][row])
        frames.append(SheetFrame(
            thumbnail=thumb,
            xy_norm=arrays["image"][row, :, :2] if has_pose else None,
            visibility=arrays["visibility"][row] if has_pose else None,
            caption=f"{seconds:.2f} s  {label}".rstrip(),
        ))
    return frames


def _moment_times(report: MetricsReport, t: np.ndarray) -> dict[str, float | None]:
    return {name: None if row is None else float(t[row]) for name, row in report.moments.items()}


@functools.lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    schema = json.loads(resources.files("worker.analysis").joinpath("result.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_result(result: dict) -> None:
    """Raise jsonschema.ValidationError if `result` does not follow worker/analysis/result.schema.json."""
    _validator().validate(result)
