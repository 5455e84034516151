"""`analyze`: one video in, one result document and its artifact files out.

This is the entry point the worker loop calls (through WORKER_ANALYZER) and
the `cricksy-worker analyze` command wraps. It streams the video once: decode,
pose, keep landmarks (a few hundred bytes a frame) and a bounded set of
player pictures; then metrics, pictures and the landmark series are written to
`out_dir`. The result document lists those files by name; the per-frame
series stays in the artifact, never in the document.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from worker.atomicfile import write_bytes_atomic
from worker.config import pose_model_path
from worker.errors import InvalidVideoError
from worker.options import ACTIVITIES, VIEWS, JobOptions, Subject, parse_options
from worker.analysis.cricket import analyse_cricket, analysed_fps
from worker.analysis.landmarks import COUNT, NAMES
from worker.analysis.metrics import ANGLES, MetricsReport, PoseSeries, compute_metrics
from worker.analysis.model import MODEL_NAME, MODEL_SHA256
from worker.analysis.filters import CUTOFF_HZ
from worker.analysis.pictures import SHEET_FRAMES, CropReservoir, SheetCell, angle_chart, contact_sheet
from worker.analysis import quality
from worker.analysis.strip import event_cells, event_strip
from worker.analysis.pose import PoseFinder, PoseOptions, PoseSample, PoseTracker
from worker.analysis.subject import SubjectHint
from worker.analysis.track import Observation, SubjectTracker, TrackStats
from worker.analysis.video import DecodeStats, VideoInfo, VideoLimits, VideoReader

SCHEMA_VERSION = "1.2"
HANDEDNESS_CHOICES = ("auto", "left", "right")
DEFAULT_MAX_FPS = 60.0  # worker.options.DEFAULT_MAX_FPS_CEILING: events need 50 fps and more (docs/metrics.md)
ARTIFACT_FILES = {
    "landmarks": "landmarks.npz",
    "angles": "angles.csv",
    "contact_sheet": "contact_sheet.png",
    "angle_chart": "angle_chart.png",
    "event_strip": "event_strip.png",
}
PROGRESS_INTERVAL_S = 0.25

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class AnalysisOptions:
    """Knobs of one analysis; the defaults are what the service runs with."""

    max_fps: float | None = DEFAULT_MAX_FPS  # analyse at most this many frames per second; None: every frame
    max_seconds: float = 300.0  # longer videos are refused before decoding (WORKER_MAX_VIDEO_SECONDS)
    handedness: str = "auto"  # "auto" | "left" | "right"
    model_path: str | os.PathLike | None = None  # default: worker.config.pose_model_path()
    pose: PoseOptions = field(default_factory=PoseOptions)
    subject: SubjectHint | None = None  # who to analyse; None: the automatic rule (worker/analysis/subject.py)
    activity: str = "auto"  # "auto" | "batting" | "bowling" (worker/options.py)
    view: str = "auto"  # "auto" | "side-on" | "front-on" | "behind"

    @classmethod
    def from_job(cls, job: JobOptions, **rest: Any) -> AnalysisOptions:
        """The analysis knobs for a job's validated options (`rest`: max_seconds, model_path, pose)."""
        hint = None
        if job.subject is not None:
            s = job.subject
            hint = (SubjectHint(s.x, s.y, t=s.t) if s.w is None or s.h is None
                    else SubjectHint(s.x, s.y, min(1.0, s.x + s.w), min(1.0, s.y + s.h), s.t))
        return cls(max_fps=job.max_fps, handedness=job.handedness, subject=hint, activity=job.activity,
                   view=job.view, **rest)

    def job_options(self) -> JobOptions:
        """These knobs as job options, for the cricket analysis; every-frame reads as the schema's top rate."""
        subject = None
        if self.subject is not None:
            h = self.subject
            subject = (Subject(h.x, h.y, t=h.t) if h.x1 is None or h.y1 is None
                       else Subject(h.x, h.y, h.x1 - h.x, h.y1 - h.y, h.t))
        return JobOptions(activity=self.activity, handedness=self.handedness, view=self.view, subject=subject,
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
        if self.handedness not in HANDEDNESS_CHOICES:
            raise ValueError(f"handedness must be one of {', '.join(HANDEDNESS_CHOICES)}, not {self.handedness!r}")
        if self.max_fps is not None and self.max_fps <= 0:
            raise ValueError(f"max_fps must be positive, not {self.max_fps}")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, not {self.max_seconds}")


@dataclass
class _Collected:
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


def analyze(
    video_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    progress: Progress | None = None,
    options: AnalysisOptions | dict | None = None,
    model_path: str | os.PathLike | None = None,
) -> dict:
    """Analyse one video; write its artifacts into `out_dir` (which must exist); return the result.

    Raises InvalidVideoError for input that can never be analysed, ModelError
    when the pose model is missing or wrong. An exception raised by `progress`
    propagates unchanged. On any failure no artifact is left in `out_dir`.
    `options` may be a job's options document (the worker passes one; it was
    validated there, against the worker's frame-rate ceiling).
    """
    if isinstance(options, dict):
        ceiling = max(float(options.get("max_fps") or DEFAULT_MAX_FPS), DEFAULT_MAX_FPS)
        options = AnalysisOptions.from_job(parse_options(options, max_fps_ceiling=ceiling))
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
        with PoseTracker(opts.model_path, opts.pose) as tracker, \
                PoseFinder(options=opts.pose, model=tracker.model) as finder:
            timings["model_load_s"] = time.perf_counter() - tick
            follow = SubjectTracker(tracker, finder, opts.subject)
            collected = _stream(reader, follow, opts, progress, timings)
    info, stats = reader.info, reader.stats
    with_pose = sum(s is not None for s in collected.samples)
    if with_pose == 0:
        if opts.subject is not None:
            raise InvalidVideoError(
                f"nobody was found at the subject {opts.subject.describe()} in video {info.path.name} "
                f"({stats.frames_analyzed} frames analysed; {follow.stats.subject_reason})")
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
    series = PoseSeries(t=t, xy=np.where(accepted[:, None, None], xy, np.nan),
                        visibility=np.where(accepted[:, None], visibility, 0.0))
    report = compute_metrics(series, stats.frames_analyzed, opts.handedness)
    # The events and their metrics, on the gated series at the rate actually analysed (after the cap).
    cricket = analyse_cricket(series, accepted, opts.job_options(), fps=analysed_fps(series) or None)
    timings["metrics_s"] = time.perf_counter() - tick

    def still_wanted() -> None:
        if progress is not None:
            progress(stats.frames_decoded, info.frames_announced)

    tick = time.perf_counter()
    with _artifacts_or_nothing(out, still_wanted) as write:
        write("landmarks", lambda p: _write_landmarks(p, arrays, collected))
        write("angles", lambda p: _write_angles_csv(p, t, arrays, report))
        write("contact_sheet", lambda p: contact_sheet(_sheet_cells(collected, arrays, report),
                                                       report.handedness.front, p))
        write("angle_chart", lambda p: angle_chart(
            t, report.angles, report.raw_angles, {**_moment_times(report, t), **_event_times(cricket)},
            f"Joint angles in the image plane, low-pass {CUTOFF_HZ:g} Hz - {report.handedness.value}-handed "
            f"({report.handedness.source}), front side {report.handedness.front}", p, report.handedness.front))
        write("event_strip", lambda p: event_strip(
            event_cells(cricket, collected.crops, t, xy, visibility, report.angles, accepted),
            report.handedness.front, p))
        timings["pictures_s"] = time.perf_counter() - tick
        timings["total_s"] = time.perf_counter() - started
        result = _document(info, stats, collected, opts, report, arrays, timings, follow.stats)
        result["cricket"] = cricket
        result["options"] = opts.document()
        validate_result(result)  # inside: a document that breaks its schema leaves no artifacts either
    return result


def _document(info: VideoInfo, stats: DecodeStats, collected: _Collected, opts: AnalysisOptions,
              report: MetricsReport, arrays: dict[str, np.ndarray], timings: dict[str, float],
              track: TrackStats) -> dict:
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
            "key_moment_reasons": dict(report.moment_reasons),
        },
        "tracking": _tracking(arrays, collected.events, opts, track),
        "quality": {
            "frames_accepted": int((arrays["quality"] == quality.OK).sum()),
            "removed_by_gate": quality.gate_counts(arrays["quality"]),
        },
        "metrics": report.metrics,
        "artifacts": dict(ARTIFACT_FILES),
        "model": {"name": MODEL_NAME, "sha256": MODEL_SHA256},
        "timings": {name: round(value, 3) for name, value in timings.items()},
    }


def _tracking(arrays: dict[str, np.ndarray], events: list[str], opts: AnalysisOptions, track: TrackStats) -> dict:
    t = arrays["timestamp_ms"] / 1000.0
    detected = arrays["detected"]
    gaps = []
    rows = np.flatnonzero(detected)
    if rows.size:
        holes = np.flatnonzero(np.diff(rows) > 1)
        gaps = [(float(t[rows[h] + 1]), float(t[rows[h + 1] - 1])) for h in holes]
        if rows[0] > 0:
            gaps.insert(0, (float(t[0]), float(t[rows[0] - 1])))
        if rows[-1] < len(t) - 1:
            gaps.append((float(t[rows[-1] + 1]), float(t[-1])))
    period = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    return {
        "people_seen": track.people_seen,
        "subject": {
            "source": "hint" if opts.subject is not None else "auto",
            "hint": None if opts.subject is None else opts.subject.as_dict(),
            "reason": track.subject_reason,
            "found_at_s": track.subject_time_s,
            "box": None if track.subject_box is None else [round(v, 4) for v in track.subject_box],
        },
        "coverage": round(float(detected.mean()), 4),
        "gaps": [{"start_s": round(a, 3), "end_s": round(b, 3)} for a, b in gaps[:20]],
        "gap_count": len(gaps),
        "longest_gap_s": round(max((b - a + period for a, b in gaps), default=0.0), 3),
        "acquisitions": track.acquisitions,
        "reacquisitions": track.reacquisitions,
        "frames_searching": track.frames_searching,
        "search_share": round(track.frames_searching / len(events), 4) if events else 0.0,
        "model_calls_searching": track.search_calls,
        "rejected_by_identity_gate": track.rejected,
        "gone_at_s": track.gone_at_s,
        "rejected_by_test": dict(track.rejected_reasons),
    }


def _stream(
    reader: VideoReader, follow: SubjectTracker, opts: AnalysisOptions, progress: Progress | None,
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
    last = follow.finish()
    if last is not None:
        collected.withdraw()
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
        quality_codes=np.array(quality.CODES),
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


def _sheet_cells(collected: _Collected, arrays: dict[str, np.ndarray], report: MetricsReport) -> list[SheetCell]:
    """The key moments first, then evenly spread frames, up to SHEET_FRAMES, in time order.

    Only frames whose pose passed the gates are pictured; a moment is shown
    on the nearest such frame that was kept, with that frame's own time.
    """
    accepted = arrays["quality"] == quality.OK
    rows = np.flatnonzero(accepted)
    if rows.size == 0:
        return []
    wanted: list[tuple[int, str]] = [(int(rows[0]), "start")]
    wanted += [(row, name) for name, row in report.moments.items() if row is not None]
    wanted.append((int(rows[-1]), "end"))
    wanted += [(int(rows[round(k)]), "") for k in np.linspace(0, rows.size - 1, SHEET_FRAMES + 2)[1:-1]]
    chosen: dict[int, tuple[object, str]] = {}
    for row, name in wanted:
        crop = collected.crops.nearest(row, lambda r: bool(accepted[r]))
        if crop is None:
            break
        label = _SHEET_LABELS.get(name, "")
        if crop.row in chosen:
            if label and not chosen[crop.row][1]:
                chosen[crop.row] = (crop, label)
        elif len(chosen) < SHEET_FRAMES:
            chosen[crop.row] = (crop, label)
    knee = report.angles[f"{report.handedness.front}_knee_angle"]
    cells = []
    for row in sorted(chosen):
        crop, label = chosen[row]
        flexion = 180.0 - knee[row]
        reading = (f"front-knee flexion {flexion:.0f} deg" if np.isfinite(flexion)
                   else "front knee not measurable here")
        cells.append(SheetCell(
            crop=crop,
            xy=arrays["image"][row, :, :2].astype(np.float64) * [collected.width, collected.height],
            visibility=arrays["visibility"][row],
            caption=f"{arrays['timestamp_ms'][row] / 1000.0:.2f} s  {label}".rstrip(),
            reading=reading,
        ))
    return cells


def _event_times(cricket: dict) -> dict[str, float | None]:
    """The cricket events as chart markers, labelled by their names."""
    return {name.replace("_", " "): event.get("time_s") for name, event in (cricket.get("events") or {}).items()}


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
