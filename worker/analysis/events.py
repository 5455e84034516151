"""The phases of a delivery and of a shot, found in a gated pose series. Pure: arrays in, dataclasses out.

Every event is a kinematic proxy seen in the picture, not the physical
moment itself (no ball, bat or ground force is observed): a foot "contacts"
when it stops descending and stays still; "release" is the bowling wrist's
highest point; "impact" is the hands' fastest moment in front of the body.
docs/metrics.md ("Cricket events and event metrics") defines each one, and
its limits; keep the two in step.

The detectors live in bowling.py and batting.py, on the smoothed motion of
motion.py; this module chooses the activity and the arm, then runs one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worker.analysis import geometry
from worker.analysis.batting import V_MOVE, V_STILL, batting_events
from worker.analysis.bowling import bowling_events
from worker.analysis.cutoff import cutoff_hz
from worker.analysis.series import Handedness, PoseSeries, guess_handedness
from worker.analysis.motion import V_REST, Event, Tracks

__all__ = ["Activity", "Event", "EventsReport", "Tracks", "V_MOVE", "V_REST", "V_STILL", "bowling_arm",
           "choose_activity", "detect_events", "facing"]

RAISED = 0.15  # body heights above the nose a bowling wrist reaches
HANDS_TOGETHER = 0.15  # body heights: a batter's wrists on the handle stay closer than this


@dataclass(frozen=True)
class Activity:
    value: str  # "batting" | "bowling"
    source: str  # "option" | "auto"
    reason: str

    def as_dict(self) -> dict:
        return {"value": self.value, "source": self.source, "reason": self.reason}


def facing(tracks: Tracks) -> int:
    """+1 when the player faces the right of the frame: the nose ahead of the ears, else the hips' travel."""
    nose, ears = tracks.raw(("nose",)), tracks.raw(("left_ear", "right_ear"))
    ahead = nose[:, 0] - ears[:, 0]
    if np.isfinite(ahead).sum() >= 5 and abs(float(np.nanmedian(ahead))) > 0:
        return 1 if float(np.nanmedian(ahead)) > 0 else -1
    hips = tracks.raw(("left_hip", "right_hip"))[:, 0]
    known = hips[np.isfinite(hips)]
    return 1 if known.size < 2 or known[-1] >= known[0] else -1


def _raised(tracks: Tracks, side: str) -> np.ndarray:
    """How far the wrist is above the nose, in body heights, per frame."""
    if tracks.height is None:
        return np.full(tracks.n, np.nan)
    return (tracks.point("nose")[:, 1] - tracks.point(f"{side}_wrist")[:, 1]) / tracks.height


def choose_activity(tracks: Tracks, option: str = "auto") -> Activity:
    """Bowling or batting, from the option or from the arms.

    A bowling arm goes straight up over the head, the wrists far apart; a
    batter's hands stay together on the handle, below or about the head.
    """
    if option in ("batting", "bowling"):
        return Activity(option, "option", f"set to {option} by the caller")
    if tracks.height is None:
        return Activity("batting", "default", "the body was not seen well enough to tell; assumed batting")
    lw, rw = tracks.point("left_wrist"), tracks.point("right_wrist")
    apart = geometry.distance(lw, rw) / tracks.height
    seen = np.isfinite(apart)
    together = float(np.mean(apart[seen] < HANDS_TOGETHER)) if seen.any() else 0.0
    reach = np.fmax(_raised(tracks, "left"), _raised(tracks, "right"))
    if not np.isfinite(reach).any():
        return Activity("batting", "default", "no wrist was seen; assumed batting")
    top_row = int(np.nanargmax(reach))
    top, split = float(reach[top_row]), float(apart[top_row])
    share = f"the wrists were within {HANDS_TOGETHER} body heights of each other in {together:.0%} of frames"
    height = f"a wrist rose {top:.2f} body heights above the nose, {split:.2f} body heights from the other wrist"
    if top >= RAISED and split >= 2 * HANDS_TOGETHER:
        return Activity("bowling", "auto", f"{height} (bowling: one arm at least {RAISED} above the nose, "
                                           f"the other away from it)")
    if together >= 0.5:
        return Activity("batting", "auto", f"{share} (hands on the handle) and {height}")
    return Activity("bowling", "auto", f"weak evidence: {share} and {height}; chose bowling")


def _sweep(tracks: Tracks, side: str) -> float:
    """Degrees the upper arm (shoulder to elbow) turns through around its shoulder over the clip."""
    arm = tracks.point(f"{side}_elbow") - tracks.point(f"{side}_shoulder")
    seen = np.isfinite(arm).all(axis=1)
    if seen.sum() < 2:
        return -math.inf
    turned = np.degrees(np.unwrap(np.arctan2(arm[seen, 1], arm[seen, 0])))
    return float(turned.max() - turned.min())


def bowling_arm(tracks: Tracks, option: str = "auto") -> Handedness:
    """The bowling arm is the one that circles: its upper arm sweeps furthest around the shoulder.

    A bowling arm turns through 300-360 degrees from the delivery stride to the
    follow-through; the front arm rises and falls through less than 200. Which
    wrist is highest does not tell them apart: the front arm is also raised
    straight up at back-foot contact, and a frame rate that misses the
    bowling wrist's top can leave the front wrist higher.
    """
    if option in ("left", "right"):
        return Handedness(option, "option", f"set to {option}-arm by the caller")
    sweeps = {side: _sweep(tracks, side) for side in ("left", "right")}
    side = max(sweeps, key=sweeps.get)
    if not math.isfinite(sweeps[side]):
        return Handedness("right", "default", "neither arm was seen; assumed right-arm")
    other = "left" if side == "right" else "right"
    return Handedness(side, "auto", f"the {side} upper arm swept through {sweeps[side]:.0f} deg around the "
                                    f"shoulder, the {other} through {max(sweeps[other], 0.0):.0f} deg: the {side} "
                                    "arm circles, so it is the bowling arm")


@dataclass(frozen=True)
class EventsReport:
    activity: Activity
    handedness: Handedness
    facing: int
    cutoff_hz: float
    events: dict[str, Event]
    tracks: Tracks


def detect_events(series: PoseSeries, usable: np.ndarray, fps: float, activity: str = "auto",
                  handedness: str = "auto") -> EventsReport:
    """Choose the activity (unless given), then find its events; see the module docstring."""
    probe = Tracks(series, usable, cutoff_hz("auto", fps))
    chosen = choose_activity(probe, activity)
    cutoff = cutoff_hz(chosen.value, fps)
    tracks = probe if cutoff == probe.cutoff else Tracks(series, usable, cutoff)
    side = facing(tracks)
    if chosen.value == "bowling":
        hand = bowling_arm(tracks, handedness)
        events = bowling_events(tracks, hand)
    else:
        hand = guess_handedness(tracks.series, handedness)
        events = batting_events(tracks, hand, side)
    return EventsReport(chosen, hand, side, tracks.cutoff, events, tracks)
