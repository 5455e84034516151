"""The artifact files of one analysis: written one by one, and all removed if any fails."""
from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from worker.atomicfile import write_bytes_atomic
from worker.analysis import quality
from worker.analysis.landmarks import NAMES
from worker.analysis.metrics import ANGLES, MetricsReport
from worker.analysis.pictures import SHEET_FRAMES, SheetCell
from worker.analysis.stream import Collected

ARTIFACT_FILES = {
    "landmarks": "landmarks.npz",
    "angles": "angles.csv",
    "contact_sheet": "contact_sheet.png",
    "angle_chart": "angle_chart.png",
    "event_strip": "event_strip.png",
}


@contextlib.contextmanager
def artifacts_or_nothing(out: Path, before_each: Callable[[], None]):
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


def write_landmarks(path: Path, arrays: dict[str, np.ndarray], collected: Collected) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        **arrays,
        landmark_names=np.array(NAMES),
        quality_codes=np.array(quality.CODES),
        frame_size=np.array([collected.width, collected.height], dtype=np.int64),
    )
    write_bytes_atomic(path, buffer.getvalue())


def write_angles_csv(path: Path, t: np.ndarray, arrays: dict[str, np.ndarray], report: MetricsReport) -> None:
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


SHEET_LABELS = {
    "start": "first pose",
    "front_foot_plant": "front foot plant",
    "max_stride": "max stride",
    "max_front_knee_flexion": "max knee flexion",
    "end": "last pose",
}


def sheet_cells(collected: Collected, arrays: dict[str, np.ndarray], report: MetricsReport) -> list[SheetCell]:
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
        label = SHEET_LABELS.get(name, "")
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


def event_times(cricket: dict) -> dict[str, float | None]:
    """The cricket events as chart markers, labelled by their names."""
    return {name.replace("_", " "): event.get("time_s") for name, event in (cricket.get("events") or {}).items()}


def moment_times(report: MetricsReport, t: np.ndarray) -> dict[str, float | None]:
    return {name: None if row is None else float(t[row]) for name, row in report.moments.items()}
