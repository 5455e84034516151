"""Cricket metrics at the events of a delivery or a shot. Pure: arrays in, a JSON-ready dict out.

One entry point, `analyse_cricket`, returns the `cricket` block of the result
(schema: cricket.schema.json): the activity chosen and why, each event, and
each metric as `{"units", "value", "confidence", "reason", ...}` like
metrics.py, `value` null with a reason when it cannot be measured honestly.

Measurements in the image plane mean different things from different
cameras: stride, knee angles, head-over-foot and trunk forward flexion need a
side-on view (the movement crosses the picture); trunk lateral flexion needs a
front-on or behind view. A metric whose view does not match is null with a
reason rather than a number that looks right and is not. `view: auto` is
taken as side-on, and the metric says it assumed so. Definitions and limits:
docs/metrics.md, "Cricket events and event metrics".
"""
from __future__ import annotations

import math

import numpy as np

from worker.analysis import geometry
from worker.analysis.events import Event, EventsReport, Tracks, detect_events
from worker.analysis.metrics import ELBOW_EXTENSION_NOTE
from worker.analysis.series import PoseSeries
from worker.options import JobOptions

BODY_PER_STANDING = 0.9  # series.body_height (ankle to nose) / standing height, Winter's proportions
ELBOW_MIN_FPS = 50.0
HEAD_OVER = 0.05  # body heights either side of the front foot that still count as "over" it
STRIDE_STEP = 0.1  # body heights of front-foot travel below which the batter did not stride
KNEE_CHANGE_HOLD = 5.0  # deg: a smaller change of the front knee counts as holding its angle
SIDE_ON = ("side-on", "auto")
FRONTAL = ("front-on", "behind")


def _metric(units: str, value, confidence: float | None, reason: str | None = None, **extra) -> dict:
    if value is not None and reason is None and confidence is None:
        reason = "the joints it needs were not seen around the event"
    if value is None or reason is not None:
        return {"units": units, "value": None, "confidence": None, "reason": reason or "not measurable", **extra}
    return {"units": units, "value": value, "confidence": confidence, "reason": None, **extra}


def _num(x: float | None, digits: int = 1) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


class _Reader:
    """Reads values at events and scores their confidence; the reason when a value is missing."""

    def __init__(self, tracks: Tracks, events: dict[str, Event], view: str) -> None:
        self.tracks, self.events, self.view = tracks, events, view

    def need(self, *names: str) -> str | None:
        for name in names:
            if not self.events[name].found:
                return f"{name.replace('_', ' ')} was not found: {self.events[name].reason}"
        return None

    def view_note(self, allowed: tuple[str, ...]) -> tuple[str | None, dict]:
        if self.view not in allowed:
            kind = "side-on" if allowed == SIDE_ON else "front-on or behind"
            return f"needs a {kind} view; this clip was marked {self.view}", {}
        return None, ({"view_assumed": "side-on"} if self.view == "auto" and allowed == SIDE_ON else {})

    def row(self, event: str) -> int:
        return int(self.events[event].frame)

    def at(self, values: np.ndarray, event: str) -> float:
        """The value at the event's own time (between frames where the event was refined)."""
        t = self.events[event].time_s
        ok = np.isfinite(values)
        if ok.sum() < 2:
            return math.nan
        value = float(np.interp(t, self.tracks.t[ok], values[ok]))
        gap = np.min(np.abs(self.tracks.t[ok] - t))
        return value if gap <= 1.5 * self.tracks.step else math.nan

    def confidence(self, events: tuple[str, ...], names: tuple[str, ...]) -> float | None:
        scores = [self.events[e].confidence for e in events]
        scores += [self.tracks.confidence(self.row(e), names) for e in events]
        if any(s is None for s in scores):
            return None
        return round(float(min(scores)), 3)

    def angle(self, names: tuple[str, str, str], event: str) -> float:
        return self.at(self.tracks.angle(*names), event)

    def height(self, event: str) -> float:
        return float(self.tracks.height[self.row(event)]) if self.tracks.height is not None else math.nan


def _missing_joints(names: tuple[str, ...], event: str) -> str:
    return f"{', '.join(n.replace('_', ' ') for n in names)} not measurable at {event.replace('_', ' ')}"


def _knee(r: _Reader, side: str, event: str) -> dict:
    names = (f"{side}_hip", f"{side}_knee", f"{side}_ankle")
    why, extra = r.view_note(SIDE_ON)
    why = why or r.need(event)
    if why:
        return _metric("deg", None, None, why, side=side, **extra)
    value = _num(r.angle(names, event))
    return _metric("deg", value, r.confidence((event,), names), None if value is not None else
                   _missing_joints(names, event), side=side, **extra)


def _knee_change(r: _Reader, side: str, first: str, second: str) -> dict:
    names = (f"{side}_hip", f"{side}_knee", f"{side}_ankle")
    why, extra = r.view_note(SIDE_ON)
    why = why or r.need(first, second)
    if why:
        return _metric("deg", None, None, why, side=side, **extra)
    a, b = r.angle(names, first), r.angle(names, second)
    change = _num(b - a)
    if change is None:
        return _metric("deg", None, None, _missing_joints(names, f"{first} or {second}"), side=side, **extra)
    pattern = "extends" if change >= KNEE_CHANGE_HOLD else "flexes" if change <= -KNEE_CHANGE_HOLD else "holds"
    return _metric("deg", change, r.confidence((first, second), names), pattern=pattern, side=side, **extra)


def _planted(r: _Reader, side: str, event: str) -> np.ndarray:
    """Where the foot stands at a contact: the median unsmoothed ankle over the next 0.1 s."""
    t = r.tracks.t
    start = r.events[event].time_s
    near = (t >= start) & (t <= start + 0.1)
    ankle = r.tracks.raw((f"{side}_ankle",))[near]
    ankle = ankle[np.isfinite(ankle).all(axis=1)]
    return np.median(ankle, axis=0) if len(ankle) else np.full(2, np.nan)


def _ground(r: _Reader, side: str, event: str) -> float:
    """Image y of the ground under a planted foot: its lowest landmark."""
    return float(np.nanmax([r.at(r.tracks.point(f"{side}_{p}")[:, 1], event) for p in ("heel", "foot_index")]))


def _height_ratio(r: _Reader, point: str | tuple[str, ...], foot: str, event: str) -> tuple[float, tuple]:
    names = (point,) if isinstance(point, str) else point
    y = r.at(r.tracks.point(*names)[:, 1], event)
    standing = r.height(event) / BODY_PER_STANDING
    return (_ground(r, foot, event) - y) / standing, names + tuple(f"{foot}_{p}" for p in ("heel", "foot_index"))


def _trunk_tilt(r: _Reader, event: str) -> tuple[float, float]:
    """Trunk line (hip centre to shoulder centre) from vertical: (forward, towards the image's +x) degrees."""
    hips = r.tracks.point("left_hip", "right_hip")
    shoulders = r.tracks.point("left_shoulder", "right_shoulder")
    d = shoulders - hips
    dx, dy = r.at(d[:, 0], event), r.at(d[:, 1], event)
    return math.degrees(math.atan2(dx, -dy)), dy


TRUNK = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")


def bowling_metrics(report: EventsReport, view: str, fps: float) -> dict[str, dict]:
    r = _Reader(report.tracks, report.events, view)
    arm, front, back = report.handedness.value, report.handedness.front, report.handedness.back
    out: dict[str, dict] = {
        "front_knee_angle_at_front_foot_contact": _knee(r, front, "front_foot_contact"),
        "front_knee_angle_at_release": _knee(r, front, "release"),
        "front_knee_change_to_release": _knee_change(r, front, "front_foot_contact", "release"),
    }

    why, extra = r.view_note(SIDE_ON)
    why = why or r.need("back_foot_contact", "front_foot_contact")
    if why:
        out["stride_length"] = _metric("body heights", None, None, why, **extra)
    else:
        gap = geometry.distance(_planted(r, back, "back_foot_contact"), _planted(r, front, "front_foot_contact"))
        value = _num(float(gap) / r.height("front_foot_contact"), 3)
        names = (f"{back}_ankle", f"{front}_ankle")
        out["stride_length"] = _metric("body heights", value, r.confidence(("back_foot_contact", "front_foot_contact"),
                                                                           names),
                                       None if value is not None else _missing_joints(names, "the contacts"), **extra)

    why, extra = r.view_note(SIDE_ON)
    why = why or r.need("release")
    if why:
        out["trunk_forward_flexion_at_release"] = _metric("deg", None, None, why, **extra)
    else:
        tilt, _ = _trunk_tilt(r, "release")
        value = _num(tilt * report.facing)
        out["trunk_forward_flexion_at_release"] = _metric(
            "deg", value, r.confidence(("release",), TRUNK), None if value is not None else
            _missing_joints(TRUNK, "release"), **extra)

    why, _ = r.view_note(FRONTAL)
    why = why or r.need("release")
    if why:
        out["trunk_lateral_flexion_at_release"] = _metric("deg", None, None, why)
    else:
        tilt, _ = _trunk_tilt(r, "release")
        towards = r.at(r.tracks.point(f"{front}_shoulder")[:, 0] - r.tracks.point(f"{arm}_shoulder")[:, 0], "release")
        value = _num(tilt * (1.0 if towards >= 0 else -1.0))
        out["trunk_lateral_flexion_at_release"] = _metric(
            "deg", value, r.confidence(("release",), TRUNK), None if value is not None else
            _missing_joints(TRUNK, "release"), towards="non-bowling side")

    why = r.need("release", "front_foot_contact")
    if why:
        out["release_height"] = _metric("standing heights", None, None, why)
    else:
        ratio, names = _height_ratio(r, f"{arm}_wrist", front, "release")
        value = _num(ratio, 3)
        out["release_height"] = _metric("standing heights", value, r.confidence(("release",), names),
                                        None if value is not None else _missing_joints(names, "release"))

    out["bowling_elbow_extension"] = _elbow(r, arm, view, fps)
    return out


def _elbow(r: _Reader, arm: str, view: str, fps: float) -> dict:
    extra = {"indicator_only": True, "note": ELBOW_EXTENSION_NOTE, "side": arm}
    names = (f"{arm}_shoulder", f"{arm}_elbow", f"{arm}_wrist")
    if fps < ELBOW_MIN_FPS:
        return _metric("deg", None, None, f"needs at least {ELBOW_MIN_FPS:g} analysed frames per second "
                       f"(this clip: {fps:g}); slower, the bowling arm turns tens of degrees between frames", **extra)
    if view != "side-on":
        return _metric("deg", None, None, "needs a clip marked view: side-on (this one: "
                       f"{view}); from any other view the elbow bends out of the picture's plane", **extra)
    why = r.need("upper_arm_horizontal", "release")
    if why:
        return _metric("deg", None, None, why, **extra)
    start, end = r.angle(names, "upper_arm_horizontal"), r.angle(names, "release")
    change = _num(end - start)
    if change is None:
        return _metric("deg", None, None, _missing_joints(names, "upper arm horizontal or release"), **extra)
    return _metric("deg", change, r.confidence(("upper_arm_horizontal", "release"), names),
                   at_upper_arm_horizontal=_num(start), at_release=_num(end), **extra)


def batting_metrics(report: EventsReport, view: str) -> dict[str, dict]:
    r = _Reader(report.tracks, report.events, view)
    front, back, f = report.handedness.front, report.handedness.back, report.facing
    out: dict[str, dict] = {}

    why, extra = r.view_note(SIDE_ON)
    why = why or r.need("front_foot_landing")
    names = (f"{front}_ankle", f"{back}_ankle")
    if why:
        out["stride_length"] = _metric("body heights", None, None, why, **extra)
    else:
        a = _planted(r, front, "front_foot_landing")
        b = r.at(r.tracks.point(f"{back}_ankle")[:, 0], "front_foot_landing"), \
            r.at(r.tracks.point(f"{back}_ankle")[:, 1], "front_foot_landing")
        value = _num(float(geometry.distance(a, np.array(b))) / r.height("front_foot_landing"), 3)
        travel = direction = None
        if report.events["set_position"].found:
            start = r.tracks.raw((f"{front}_ankle",))[r.row("set_position")]
            travel = _num(f * float(a[0] - start[0]) / r.height("front_foot_landing"), 3)
            if travel is not None:
                direction = "forward" if travel >= STRIDE_STEP else "back" if travel <= -STRIDE_STEP else "none"
        out["stride_length"] = _metric(
            "body heights", value, r.confidence(("front_foot_landing",), names),
            None if value is not None else _missing_joints(names, "front-foot landing"),
            front_foot_travel=travel, direction=direction, **extra)

    out["front_knee_angle_at_front_foot_landing"] = _knee(r, front, "front_foot_landing")
    out["front_knee_angle_at_impact"] = _knee(r, front, "impact")

    why, extra = r.view_note(SIDE_ON)
    why = why or r.need("impact", "front_foot_landing")
    head_names = ("nose", f"{front}_heel", f"{front}_foot_index")
    if why:
        out["head_position_at_impact"] = _metric("body heights", None, None, why, **extra)
    else:
        nose = r.at(r.tracks.point("nose")[:, 0], "impact")
        foot = r.at(r.tracks.point(f"{front}_heel", f"{front}_foot_index")[:, 0], "impact")
        value = _num(f * (nose - foot) / r.height("impact"), 3)
        position = None if value is None else "ahead" if value > HEAD_OVER else "behind" if value < -HEAD_OVER \
            else "over"
        out["head_position_at_impact"] = _metric(
            "body heights", value, r.confidence(("impact",), head_names),
            None if value is not None else _missing_joints(head_names, "impact"), position=position, **extra)

    why = r.need("top_of_backlift", "impact")
    if why:
        out["head_sway_downswing"] = _metric("body heights", None, None, why)
    else:
        a, b = r.row("top_of_backlift"), r.row("impact")
        nose = r.tracks.point("nose")[a:b + 1]
        ok = np.isfinite(nose).all(axis=1)
        if ok.sum() < 2:
            out["head_sway_downswing"] = _metric("body heights", None, None, _missing_joints(("nose",), "downswing"))
        else:
            scale = float(np.median(r.tracks.height[a:b + 1]))
            moved = nose[ok] - nose[ok][0]
            value = _num(float(np.max(np.linalg.norm(moved, axis=1))) / scale, 3)
            out["head_sway_downswing"] = _metric(
                "body heights", value, r.confidence(("top_of_backlift", "impact"), ("nose",)),
                forward=_num(f * float(moved[-1, 0]) / scale, 3), down=_num(float(moved[-1, 1]) / scale, 3))

    why = r.need("top_of_backlift")
    hands = ("left_wrist", "right_wrist")
    if why:
        out["backlift_height"] = _metric("standing heights", None, None, why)
    else:
        feet = [_ground(r, side, "top_of_backlift") for side in (front, back)]
        y = r.at(r.tracks.point(*hands)[:, 1], "top_of_backlift")
        standing = r.height("top_of_backlift") / BODY_PER_STANDING
        value = _num((float(np.nanmax(feet)) - y) / standing, 3)
        names = hands + tuple(f"{s}_{p}" for s in (front, back) for p in ("heel", "foot_index"))
        out["backlift_height"] = _metric("standing heights", value, r.confidence(("top_of_backlift",), names),
                                         None if value is not None else _missing_joints(names, "top of backlift"))
    return out


def analysed_fps(series: PoseSeries) -> float:
    """The analysed frame rate, from the median time step."""
    steps = np.diff(series.t)
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if steps.size else 0.0


def analyse_cricket(series: PoseSeries, usable: np.ndarray, options: JobOptions, fps: float | None = None) -> dict:
    """The `cricket` block of the result: activity, events and event metrics.

    `usable` (N,) marks the frames the pipeline's quality gate kept (the
    tracked player, a pose it trusts); `fps` is the analysed rate after any
    cap (default: from the timestamps).
    """
    rate = analysed_fps(series) if fps is None else float(fps)
    if rate <= 0 or len(series.t) < 5:
        return _nothing(options, "fewer than 5 analysed frames")
    report = detect_events(series, usable, rate, options.activity, options.handedness)
    if report.tracks.height is None:
        return _nothing(options, "the body (ankles to nose) was not seen in at least 5 usable frames")
    if report.activity.value == "bowling":
        metrics = bowling_metrics(report, options.view, rate)
    else:
        metrics = batting_metrics(report, options.view)
    return {
        "activity": report.activity.as_dict(),
        "handedness": report.handedness.as_dict(),
        "view": options.view,
        "facing": "right" if report.facing > 0 else "left",
        "analysed_fps": round(rate, 3),
        "cutoff_hz": round(report.cutoff_hz, 2),
        "events": {name: e.as_dict() for name, e in report.events.items()},
        "metrics": metrics,
        "reason": None,
    }


def _nothing(options: JobOptions, reason: str) -> dict:
    return {"activity": None, "handedness": None, "view": options.view, "facing": None, "analysed_fps": None,
            "cutoff_hz": None, "events": {}, "metrics": {}, "reason": reason}
