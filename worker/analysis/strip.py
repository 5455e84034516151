"""The event strip: the player at each detected event of the delivery or shot, in time order.

One tile per event the cricket analysis found (worker/analysis/cricket.py),
cut around the player with his skeleton, captioned with the event, the time
of the pictured frame and the angle that matters at that event. Pictures come
from the streaming pass's reservoir (the video is never held in memory), so a
tile shows the kept frame nearest the event; it is used only when that frame's
pose passed the gates and it lies within EVENT_TOLERANCE_S of the event, so
the strip never shows a tile without a pose, nor a frame far from its event.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np

from worker.analysis.pictures import CropReservoir, SheetCell, contact_sheet

EVENT_TOLERANCE_S = 0.1  # a picture further than this from its event would show another phase
STRIP_COLUMNS = 7  # every event of a bowling or batting action fits on one row

# The joint whose angle a coach reads at each event: (role, joint), role "front", "back" or "arm" (bowling arm).
KEY_ANGLE: dict[str, tuple[str, str]] = {
    "back_foot_contact": ("back", "knee"),
    "front_foot_contact": ("front", "knee"),
    "upper_arm_horizontal": ("arm", "elbow"),
    "release": ("arm", "elbow"),
    "set_position": ("front", "knee"),
    "trigger": ("front", "knee"),
    "front_foot_landing": ("front", "knee"),
    "top_of_backlift": ("front", "elbow"),
    "impact": ("front", "elbow"),
    "end_of_follow_through": ("front", "knee"),
}


def _side(role: str, front: str, arm: str) -> str:
    if role == "arm":
        return arm
    if role == "front":
        return front
    return "right" if front == "left" else "left"


def event_cells(cricket: Mapping, crops: CropReservoir, t: np.ndarray, xy: np.ndarray, visibility: np.ndarray,
                angles: Mapping[str, np.ndarray], accepted: np.ndarray) -> list[SheetCell]:
    """One cell per found event that has a gated pose picture near it; `xy` (N, 33, 2) frame pixels."""
    handedness = cricket.get("handedness") or {}
    front = handedness.get("front_side") or "left"
    arm = handedness.get("value") or "right"
    allowed: Callable[[int], bool] = lambda r: bool(accepted[r])  # noqa: E731
    cells: list[SheetCell] = []
    found = [(name, e) for name, e in (cricket.get("events") or {}).items() if e.get("frame") is not None]
    for name, event in sorted(found, key=lambda item: item[1]["time_s"]):
        crop = crops.nearest(int(event["frame"]), allowed)
        if crop is None or abs(float(t[crop.row]) - float(event["time_s"])) > EVENT_TOLERANCE_S:
            continue
        role, joint = KEY_ANGLE.get(name, ("front", "knee"))
        side = _side(role, front, arm)
        value = angles.get(f"{side}_{joint}_angle", np.full(len(t), np.nan))[crop.row]
        reading = (f"{side} {joint} {value:.0f} deg" if np.isfinite(value)
                   else f"{side} {joint} not measurable here")
        cells.append(SheetCell(crop=crop, xy=xy[crop.row], visibility=visibility[crop.row],
                               caption=f"{float(t[crop.row]):.2f} s  {name.replace('_', ' ')}", reading=reading))
    return cells


def event_strip(cells: list[SheetCell], front: str, path: str | os.PathLike) -> None:
    """Write the strip: the cells in one row (the contact sheet's drawing), or a note when there is none."""
    contact_sheet(cells, front, path, columns=STRIP_COLUMNS,
                  empty_note="no detected event has a pose picture that passed the frame gates")
