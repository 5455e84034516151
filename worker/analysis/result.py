"""The result document of one analysis, and its schema (result.schema.json, package data)."""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from worker.analysis import quality
from worker.analysis.artifacts import ARTIFACT_FILES
from worker.analysis.metrics import MetricsReport
from worker.analysis.model import MODEL_NAME, MODEL_SHA256
from worker.analysis.stream import Collected
from worker.analysis.track import TrackStats
from worker.analysis.video import DecodeStats, VideoInfo

if TYPE_CHECKING:
    from worker.analysis.knobs import AnalysisOptions

SCHEMA_VERSION = "1.3"


def document(info: VideoInfo, stats: DecodeStats, collected: Collected, opts: AnalysisOptions,
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
        "tracking": tracking(arrays, collected.events, opts, track),
        "quality": {
            "frames_accepted": int((arrays["quality"] == quality.OK).sum()),
            "removed_by_gate": quality.gate_counts(arrays["quality"]),
        },
        "metrics": report.metrics,
        "artifacts": dict(ARTIFACT_FILES),
        "model": {"name": MODEL_NAME, "sha256": MODEL_SHA256},
        "timings": {name: round(value, 3) for name, value in timings.items()},
    }


def tracking(arrays: dict[str, np.ndarray], events: list[str], opts: AnalysisOptions, track: TrackStats) -> dict:
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
            "hint": None if opts.subject is None else opts.subject.to_document(),
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
        "uncertain_reacquisitions": track.uncertain,
        "identity_uncertain_at_s": track.uncertain_at_s,
        "rejected_by_test": dict(track.rejected_reasons),
    }


@functools.lru_cache(maxsize=1)
def _validator():
    """The shipped schema is checked against its meta-schema by the tests (tests/analysis/helpers.py), not
    here: that check cost every analysis process 0.1 s of its serial tail."""
    from jsonschema import Draft202012Validator

    schema = json.loads(resources.files("worker.analysis").joinpath("result.schema.json").read_text())
    return Draft202012Validator(schema)


def load_validator() -> None:
    """Import jsonschema and read the schema now rather than at the first validation."""
    _validator()


def validate_result(result: dict) -> None:
    """Raise jsonschema.ValidationError if `result` does not follow worker/analysis/result.schema.json."""
    _validator().validate(result)
