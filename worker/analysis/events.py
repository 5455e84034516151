"""The phases of a delivery and of a shot, found in a gated pose series. Pure: arrays in, dataclasses out.

Every event is a kinematic proxy seen in the picture, not the physical
moment itself (no ball, bat or ground force is observed): a foot "contacts"
when it stops descending and stays still; "release" is the bowling wrist's
highest point; "impact" is the hands' fastest moment in front of the body.
docs/metrics.md ("Cricket events and event metrics") defines each one, and
its limits; keep the two in step.

Speeds are in body heights per second (metrics.body_height, per frame), so
the thresholds hold for a player 120 or 600 px tall. The series is low-passed
at cutoff.cutoff_hz(activity, fps) before differentiating; the contact times
are then refined on the unsmoothed foot height, which the filter would blur.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from worker.analysis import geometry
from worker.analysis.cutoff import cutoff_hz
from worker.analysis.filters import MAX_GAP_S, lowpass
from worker.analysis.landmarks import INDEX
from worker.analysis.metrics import VISIBLE, Handedness, PoseSeries, body_height, guess_handedness

V_PLANT = 0.25  # body heights/s: a foot slower than this is planted
V_LIFT = 0.5  # body heights/s: a planted foot has lifted again only once it moves faster than this
V_DESCENT = 0.25  # body heights/s downwards: the foot was coming down before it planted
DESCENT_WINDOW_S = 0.2
MIN_PLANT_S = 0.05
LANDING_SAMPLES = 4
GROUND_BAND = 3.0  # x the foot's jitter: closer to the planted height than this counts as down
V_STILL = 0.3  # body heights/s: hands and feet slower than this are still
STILL_MIN_S = 0.1
V_MOVE = 0.6  # body heights/s: the hands or a foot moving this fast have started the trigger
V_REST = 0.8  # body heights/s: a wrist moving slower than this relative to the hips has finished its swing
REST_HOLD_S = 0.1
V_SWING = 1.5  # body heights/s: slower hands at their peak did not play a shot
MAX_FFC_TO_RELEASE_S = 0.4
MAX_BFC_TO_FFC_S = 0.6
MAX_LANDING_TO_IMPACT_S = 0.6
EVENT_WINDOW_S = 0.1  # around an event, for its confidence
EDGE_FRAMES = 2  # an extreme this close to the end of the data may lie beyond it
RAISED = 0.15  # body heights above the nose a bowling wrist reaches
HANDS_TOGETHER = 0.15  # body heights: a batter's wrists on the handle stay closer than this

FOOT = ("ankle", "heel", "foot_index")
HAND = tuple(f"{side}_{part}" for side in ("left", "right") for part in ("wrist", "index", "pinky", "thumb"))


@dataclass(frozen=True)
class Event:
    time_s: float | None
    frame: int | None  # row of the analysed series
    confidence: float | None
    method: str
    reason: str | None

    @property
    def found(self) -> bool:
        return self.frame is not None

    def as_dict(self) -> dict:
        return {"time_s": self.time_s, "frame": self.frame, "confidence": self.confidence,
                "method": self.method, "reason": self.reason}


def missing(method: str, reason: str) -> Event:
    return Event(None, None, None, method, reason)


@dataclass(frozen=True)
class Activity:
    value: str  # "batting" | "bowling"
    source: str  # "option" | "auto"
    reason: str

    def as_dict(self) -> dict:
        return {"value": self.value, "source": self.source, "reason": self.reason}


@dataclass(frozen=True)
class Plant:
    onset: int  # first row at which the smoothed foot is still
    contact_s: float  # the refined landing time
    end: int  # last still row


class Tracks:
    """The landmark series of one clip, gated, low-passed and differentiated once for every detector.

    A landmark counts in a frame only when the frame is usable (the caller's
    gate: the tracked player, a pose of acceptable quality) and its own
    visibility is at least metrics.VISIBLE. Smoothed series are interpolated
    across holes up to filters.MAX_GAP_S, never further.
    """

    def __init__(self, series: PoseSeries, usable: np.ndarray, cutoff: float) -> None:
        usable = np.asarray(usable, dtype=bool) & series.detected
        visibility = np.where(usable[:, None], series.visibility, 0.0)
        self.series = PoseSeries(series.t, series.xy, visibility)
        self.t = np.asarray(series.t, dtype=float)
        self.cutoff = cutoff
        self.height = body_height(self.series)  # px per frame, or None when the body chain was never seen
        self._cache: dict[tuple[str, ...], np.ndarray] = {}

    @property
    def n(self) -> int:
        return len(self.t)

    @property
    def step(self) -> float:
        return float(np.median(np.diff(self.t))) if self.n > 1 else math.inf

    def seen(self, names: tuple[str, ...]) -> np.ndarray:
        return self.series.visible(names)

    def raw(self, names: tuple[str, ...]) -> np.ndarray:
        """Mean position of the landmarks that are visible, per frame; NaN where none is."""
        cols = [INDEX[n] for n in names]
        ok = self.series.visibility[:, cols] >= VISIBLE
        pts = np.where(ok[..., None], self.series.xy[:, cols], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a frame with none of them: NaN, as intended
            return np.nanmean(pts, axis=1)

    def point(self, *names: str) -> np.ndarray:
        """Low-passed mean position of `names`, (N, 2) px, NaN where it cannot be bridged."""
        key = ("p",) + names
        if key not in self._cache:
            raw = self.raw(names)
            self._cache[key] = np.stack([_bridge(self.t, lowpass(self.t, raw[:, k], self.cutoff)) for k in (0, 1)],
                                        axis=1)
        return self._cache[key]

    def velocity(self, *names: str) -> np.ndarray:
        """(N, 2) in body heights per second."""
        key = ("v",) + names
        if key not in self._cache:
            self._cache[key] = self.derivative(self.point(*names))
        return self._cache[key]

    def derivative(self, p: np.ndarray) -> np.ndarray:
        if self.height is None or self.n < 3:
            return np.full_like(p, np.nan)
        return np.gradient(p, self.t, axis=0) / self.height[:, None]

    def speed(self, *names: str) -> np.ndarray:
        return np.linalg.norm(self.velocity(*names), axis=1)

    def angle(self, a: str, b: str, c: str) -> np.ndarray:
        """Joint angle ABC in degrees, low-passed as an angle series (as metrics.py does).

        Filtering the three points first would blur a foot's abrupt stop into
        the knee angle for a few frames either side of the landing.
        """
        key = ("a", a, b, c)
        if key not in self._cache:
            raw = geometry.joint_angle(self.raw((a,)), self.raw((b,)), self.raw((c,)))
            self._cache[key] = _bridge(self.t, lowpass(self.t, raw, self.cutoff))
        return self._cache[key]

    def confidence(self, row: int, names: tuple[str, ...]) -> float | None:
        """Mean visibility of `names` around `row` x the share of those frames in which all were seen."""
        near = np.abs(self.t - self.t[row]) <= EVENT_WINDOW_S
        seen = self.seen(names)[near]
        if not seen.any():
            return None
        cols = [INDEX[n] for n in names]
        vis = float(self.series.visibility[near][seen][:, cols].mean())
        return round(vis * float(seen.mean()), 3)

    def event(self, row: int, names: tuple[str, ...], method: str, time_s: float | None = None) -> Event:
        """The event at `row`, or at `time_s` (refined between frames) and the row nearest to it."""
        if time_s is not None:
            row = self.row_at(time_s)
        conf = self.confidence(row, names)
        if conf is None:
            return missing(method, f"{', '.join(n.replace('_', ' ') for n in names)} not seen near "
                                   f"{self.t[row]:.3f} s")
        return Event(round(float(self.t[row] if time_s is None else time_s), 4), int(row), conf, method, None)

    def row_at(self, time_s: float) -> int:
        return int(np.argmin(np.abs(self.t - time_s)))


def _bridge(t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation across holes no longer than MAX_GAP_S; longer holes stay NaN."""
    known = np.flatnonzero(np.isfinite(values))
    out = values.copy()
    if known.size < 2:
        return out
    for a, b in zip(known[:-1], known[1:]):
        if b - a > 1 and t[b] - t[a] <= MAX_GAP_S:
            out[a + 1:b] = np.interp(t[a + 1:b], [t[a], t[b]], [values[a], values[b]])
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) rows of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _landing_time(t: np.ndarray, y: np.ndarray, noise: float, onset: int, end: int, step: float) -> float:
    """When the descending foot reached its planted height, from the unsmoothed foot height.

    The planted height is the median over the plant's first 0.2 s. The last
    LANDING_SAMPLES frames clearly (3 x `noise`, the foot's jitter in px) above
    it give the descent line; the landing is where that line meets the planted
    height, kept between the last frame clearly in the air and the first frame
    on the ground. Smoothing would blur the stop.
    """
    run = np.arange(onset, min(end, onset + int(round(0.2 / step))) + 1)
    planted = y[run][np.isfinite(y[run])]
    if planted.size < 2:
        return float(t[onset])
    level = float(np.median(planted))
    window = np.flatnonzero((t >= t[onset] - DESCENT_WINDOW_S) & (t <= t[onset]) & np.isfinite(y))
    grounded = window[y[window] >= level - GROUND_BAND * noise]
    if grounded.size == 0:
        return float(t[onset])
    above = window[window < grounded[0]]
    above = above[-LANDING_SAMPLES:]
    if above.size < 2:
        return float(t[onset])
    slope, intercept = np.polyfit(t[above], y[above], 1)
    if slope <= 0:
        return float(t[onset])
    return float(np.clip((level - intercept) / slope, t[above[-1]], t[grounded[0]]))


def plants(tracks: Tracks, side: str) -> list[Plant]:
    """Each landing of one foot: descending, then still for at least MIN_PLANT_S."""
    names = tuple(f"{side}_{p}" for p in FOOT)
    speed = tracks.speed(*names)
    down = tracks.velocity(*names)[:, 1]
    raw_y = tracks.raw(names)[:, 1]
    jitter = np.abs(raw_y - tracks.point(*names)[:, 1])
    noise = 1.4826 * float(np.nanmedian(jitter)) if np.isfinite(jitter).any() else 0.0
    found = []
    with np.errstate(invalid="ignore"):
        still = speed < V_PLANT
    merged: list[tuple[int, int]] = []
    for first, last in _runs(still):
        if merged and not np.nanmax(speed[merged[-1][1]:first + 1]) > V_LIFT:
            merged[-1] = (merged[-1][0], last)  # a flicker of noise, not a step
        else:
            merged.append((first, last))
    for first, last in merged:
        if (last - first + 1) * tracks.step < MIN_PLANT_S - 1e-9 and last < tracks.n - 1:
            continue
        before = (tracks.t >= tracks.t[first] - DESCENT_WINDOW_S) & (tracks.t <= tracks.t[first])
        if not np.nanmax(np.where(before, down, -np.inf)) > V_DESCENT:
            continue
        found.append(Plant(int(first), _landing_time(tracks.t, raw_y, noise, int(first), int(last), tracks.step),
                           int(last)))
    return found


def _before(found: list[Plant], t_end: float, span: float) -> Plant | None:
    """The last plant whose contact lies within `span` seconds before `t_end`."""
    hits = [p for p in found if t_end - span <= p.contact_s <= t_end]
    return hits[-1] if hits else None


def _contact_event(tracks: Tracks, plant: Plant, side: str, method: str) -> Event:
    row = tracks.row_at(plant.contact_s)
    return tracks.event(row, tuple(f"{side}_{p}" for p in FOOT), method, time_s=plant.contact_s)


def _vertex(tracks: Tracks, values: np.ndarray, row: int) -> float:
    """Time of the extreme of a parabola through the values at row-1, row, row+1 (sampling refines a peak)."""
    if row < 1 or row > tracks.n - 2 or not np.isfinite(values[row - 1:row + 2]).all():
        return float(tracks.t[row])
    a, b, c = values[row - 1:row + 2]
    curvature = a - 2 * b + c
    shift = 0.0 if curvature == 0 else float(np.clip(0.5 * (a - c) / curvature, -0.5, 0.5))
    neighbour = row + 1 if shift > 0 else row - 1
    return float(tracks.t[row] + abs(shift) * (tracks.t[neighbour] - tracks.t[row]))


def _crossing(tracks: Tracks, values: np.ndarray, row: int, level: float) -> float:
    """When `values` crossed `level` between `row` and the next row, by linear interpolation."""
    if row + 1 >= tracks.n or not np.isfinite(values[row:row + 2]).all() or values[row] == values[row + 1]:
        return float(tracks.t[row])
    frac = float(np.clip((level - values[row]) / (values[row + 1] - values[row]), 0.0, 1.0))
    return float(tracks.t[row] + frac * (tracks.t[row + 1] - tracks.t[row]))


def _speed_peak(tracks: Tracks, points: np.ndarray, row: int) -> float:
    """Time of the speed peak near `row`, from a cubic spline through the smoothed positions.

    Differencing neighbouring frames measures the chord, not the path: where the
    path curves more on one side of the peak, the peak shifts by up to a frame.
    """
    rows = np.arange(max(0, row - 3), min(tracks.n, row + 4))
    rows = rows[np.isfinite(points[rows]).all(axis=1)]
    if rows.size < 4 or row - 1 not in rows or row + 1 not in rows:
        return float(tracks.t[row])
    spline = CubicSpline(tracks.t[rows], points[rows])
    grid = np.linspace(tracks.t[row - 1], tracks.t[row + 1], 101)
    return float(grid[int(np.argmax(np.linalg.norm(spline(grid, 1), axis=1)))])


def facing(tracks: Tracks) -> int:
    """+1 when the player faces the right of the frame: the nose ahead of the ears, else the hips' travel."""
    nose, ears = tracks.raw(("nose",)), tracks.raw(("left_ear", "right_ear"))
    ahead = nose[:, 0] - ears[:, 0]
    if np.isfinite(ahead).sum() >= 5 and abs(float(np.nanmedian(ahead))) > 0:
        return 1 if float(np.nanmedian(ahead)) > 0 else -1
    hips = tracks.raw(("left_hip", "right_hip"))[:, 0]
    known = hips[np.isfinite(hips)]
    return 1 if known.size < 2 or known[-1] >= known[0] else -1


# ---------------------------------------------------------------- activity and handedness

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


def bowling_arm(tracks: Tracks, option: str = "auto") -> Handedness:
    """The bowling arm is the one whose wrist reaches highest above the nose."""
    if option in ("left", "right"):
        return Handedness(option, "option", f"set to {option}-arm by the caller")
    tops = {side: np.nanmax(r) if np.isfinite(r := _raised(tracks, side)).any() else -math.inf
            for side in ("left", "right")}
    side = max(tops, key=tops.get)
    if not math.isfinite(tops[side]):
        return Handedness("right", "default", "neither wrist was seen; assumed right-arm")
    return Handedness(side, "auto", f"the {side} wrist reached highest ({tops[side]:.2f} body heights above "
                                    "the nose), so it is the bowling arm")


# ---------------------------------------------------------------- bowling

RELEASE_METHOD = ("bowling wrist's highest point (smallest smoothed image y) within "
                  f"{MAX_FFC_TO_RELEASE_S} s after front-foot contact")
CONTACT_METHOD = (f"foot (ankle, heel, toe) still (speed < {V_PLANT} body heights/s for >= {MIN_PLANT_S} s) "
                  "after descending; landing time = where the descent line of the unsmoothed foot height meets its "
                  "planted height")
REST_METHOD = (f"first frame, >= 0.1 s after the event, from which the wrist moves slower than {V_REST} body "
               f"heights/s relative to the hip centre for {REST_HOLD_S} s")
HORIZONTAL_METHOD = "last frame before release at which the rising upper arm (shoulder to elbow) is horizontal"


def _extreme_row(values: np.ndarray, lo: int, hi: int, seen: np.ndarray) -> tuple[int | None, str | None]:
    """Row of the smallest value in rows lo..hi, or why it cannot be trusted.

    `seen` marks the rows with data: an extreme at the edge of the data, or
    beside a hole in it, may really lie beyond it.
    """
    window = values[lo:hi + 1]
    if not np.isfinite(window).any():
        return None, "not seen"
    row = lo + int(np.nanargmin(window))
    known = np.flatnonzero(seen)
    if row >= known[-1] - EDGE_FRAMES + 1 or row <= known[0] + EDGE_FRAMES - 1:
        return None, "edge"
    if not seen[row - 1:row + 2].all():
        return None, "gap"
    return row, None


def _at_rest(tracks: Tracks, names: tuple[str, ...], start_s: float, method: str) -> Event:
    hips = tracks.point("left_hip", "right_hip")
    rel = np.linalg.norm(tracks.derivative(tracks.point(*names) - hips), axis=1)
    hold = max(1, int(round(REST_HOLD_S / tracks.step)))
    for row in np.flatnonzero(tracks.t >= start_s + 0.1):
        window = rel[row:row + hold]
        if window.size == hold and np.isfinite(window).all() and (window < V_REST).all():
            return tracks.event(int(row), names + ("left_hip", "right_hip"), method,
                                time_s=_crossing(tracks, rel, int(row) - 1, V_REST))
    return missing(method, "the swing had not come to rest when the clip (or the usable frames) ended")


def bowling_events(tracks: Tracks, arm: Handedness) -> dict[str, Event]:
    """Back-foot contact, front-foot contact, upper arm horizontal, release, end of follow-through."""
    bowl, front, back = arm.value, arm.front, arm.back
    wrist_y = tracks.point(f"{bowl}_wrist")[:, 1]
    shoulder_y = tracks.point(f"{bowl}_shoulder")[:, 1]
    front_plants, back_plants = plants(tracks, front), plants(tracks, back)
    events: dict[str, Event] = {}

    above = np.where(wrist_y < shoulder_y, wrist_y, np.nan)
    seen = np.isfinite(wrist_y)
    ffc, release_row, why = None, None, None
    for plant in reversed(front_plants):
        lo = tracks.row_at(plant.contact_s)
        hi = tracks.row_at(plant.contact_s + MAX_FFC_TO_RELEASE_S)
        row, problem = _extreme_row(above, lo, hi, seen)
        if problem == "not seen":
            continue  # the arm was not up after this landing: a run-up stride
        ffc, release_row = plant, row
        if problem == "edge":
            why = f"the {bowl} wrist was still rising when the clip (or the usable frames) ended: release is " \
                  "not in the clip"
        elif problem == "gap":
            why = f"the {bowl} wrist was not seen around its highest point (a gap in the usable frames)"
        break
    if ffc is None:
        ffc = front_plants[-1] if front_plants else None
        why = f"the {bowl} wrist did not rise above the shoulder within {MAX_FFC_TO_RELEASE_S} s of front-foot contact"
        if ffc is None:
            why = "front-foot contact was not found, and release is looked for only after it"
            _, problem = _extreme_row(above, 0, tracks.n - 1, seen)
            if problem == "edge":
                why += f"; the {bowl} wrist was still rising when the clip ended: release is not in the clip"
    release_s = None if release_row is None else float(tracks.t[release_row])
    events["front_foot_contact"] = _contact_event(tracks, ffc, front, CONTACT_METHOD) if ffc is not None else \
        missing(CONTACT_METHOD, f"no landing of the {front} (front) foot was found (a foot must be seen still for "
                                f"{MIN_PLANT_S} s, so a landing in the clip's last frames cannot be confirmed)")
    events["release"] = tracks.event(release_row, (f"{bowl}_wrist",), RELEASE_METHOD,
                                     time_s=_vertex(tracks, wrist_y, release_row)) \
        if release_row is not None else missing(RELEASE_METHOD, why or "not found")

    bfc = None if ffc is None else _before([p for p in back_plants if p.contact_s < ffc.contact_s - tracks.step],
                                           ffc.contact_s, MAX_BFC_TO_FFC_S)
    events["back_foot_contact"] = _contact_event(tracks, bfc, back, CONTACT_METHOD) if bfc is not None else \
        missing(CONTACT_METHOD, f"no landing of the {back} (back) foot was found in the {MAX_BFC_TO_FFC_S} s "
                                "before front-foot contact" if ffc is not None else
                "front-foot contact was not found, so the delivery stride cannot be placed")

    events["upper_arm_horizontal"] = _upper_arm_horizontal(tracks, bowl, release_row)
    events["end_of_follow_through"] = _at_rest(tracks, (f"{bowl}_wrist",), release_s, REST_METHOD) \
        if release_s is not None else missing(REST_METHOD, "release was not found")
    order = ("back_foot_contact", "front_foot_contact", "upper_arm_horizontal", "release", "end_of_follow_through")
    return {k: events[k] for k in order}


def _upper_arm_horizontal(tracks: Tracks, bowl: str, release_row: int | None) -> Event:
    if release_row is None:
        return missing(HORIZONTAL_METHOD, "release was not found")
    rise = tracks.point(f"{bowl}_elbow")[:, 1] - tracks.point(f"{bowl}_shoulder")[:, 1]
    rows = np.arange(max(0, release_row - int(round(MAX_FFC_TO_RELEASE_S / tracks.step))), release_row)
    crossing = [r for r in rows if rise[r] > 0 >= rise[r + 1]]
    if not crossing:
        return missing(HORIZONTAL_METHOD, "the upper arm was not seen rising through horizontal before release")
    r = crossing[-1]
    frac = rise[r] / (rise[r] - rise[r + 1])
    time_s = float(tracks.t[r] + frac * (tracks.t[r + 1] - tracks.t[r]))
    return tracks.event(r if frac < 0.5 else r + 1, (f"{bowl}_shoulder", f"{bowl}_elbow"), HORIZONTAL_METHOD,
                        time_s=time_s)


# ---------------------------------------------------------------- batting

IMPACT_METHOD = ("peak speed of the hands (mean of the wrists) while they are below the shoulders, ahead of "
                 "the hip centre and moving towards the bowler")
SET_METHOD = (f"last frame of the last still spell (hands and feet slower than {V_STILL} body heights/s for "
              f">= {STILL_MIN_S} s) before front-foot landing")
TRIGGER_METHOD = f"first frame after the set position at which the hands or a foot move faster than {V_MOVE} " \
                 "body heights/s"
TOP_METHOD = "highest point of the hands in the 0.6 s before impact"


def _impact(tracks: Tracks, hands: np.ndarray, speed: np.ndarray, shoulders: np.ndarray, hips: np.ndarray,
            facing_sign: int) -> tuple[int | None, str | None]:
    """Row of the hands' peak speed in front of the body, moving towards the bowler; or why there is none."""
    with np.errstate(invalid="ignore"):
        forward = facing_sign * tracks.velocity("left_wrist", "right_wrist")[:, 0] > 0
        in_front = (hands[:, 1] > shoulders[:, 1]) & (facing_sign * (hands[:, 0] - hips[:, 0]) > 0) & forward
    row, problem = _extreme_row(np.where(in_front, -speed, np.nan), 0, tracks.n - 1, np.isfinite(speed))
    if problem == "edge":
        return None, "the hands were still speeding up when the clip (or the usable frames) ended: impact is " \
                     "not in the clip"
    if problem == "gap":
        return None, "the hands were not seen around their fastest moment (a gap in the usable frames)"
    if row is None:
        return None, "the hands were not seen in front of the body moving towards the bowler"
    if speed[row] < V_SWING:
        return None, f"the hands never moved faster than {V_SWING} body heights/s in front of the body: no shot"
    return row, None


def batting_events(tracks: Tracks, hand: Handedness, facing_sign: int) -> dict[str, Event]:
    """Set position, trigger, front-foot landing, top of the backlift, impact, end of follow-through."""
    front, back = hand.front, hand.back
    wrists = ("left_wrist", "right_wrist")
    hands = tracks.point(*wrists)
    speed = tracks.speed(*wrists)
    shoulders = tracks.point("left_shoulder", "right_shoulder")
    hips = tracks.point("left_hip", "right_hip")
    events: dict[str, Event] = {}

    impact_row, why = _impact(tracks, hands, speed, shoulders, hips, facing_sign)
    impact_s = None if impact_row is None else float(tracks.t[impact_row])

    front_plants = plants(tracks, front)
    landing = _before(front_plants, impact_s, MAX_LANDING_TO_IMPACT_S) if impact_s is not None \
        else (front_plants[-1] if front_plants else None)
    events_landing = _contact_event(tracks, landing, front, CONTACT_METHOD) if landing is not None else \
        missing(CONTACT_METHOD, f"the {front} (front) foot did not step and land"
                + ("" if impact_s is None else f" in the {MAX_LANDING_TO_IMPACT_S} s before impact"))

    reference = landing.onset if landing is not None else impact_row
    set_row = trigger_row = None
    motion = np.full(tracks.n, np.nan)
    set_why = "neither front-foot landing nor impact was found"
    if reference is not None:
        motion = np.nanmax(np.stack([tracks.speed(*HAND), tracks.speed(*(f"{front}_{p}" for p in FOOT)),
                                     tracks.speed(*(f"{back}_{p}" for p in FOOT))]), axis=0)
        with np.errstate(invalid="ignore"):
            still = (motion < V_STILL)[:reference]
        spells = [(a, b) for a, b in _runs(still) if (b - a + 1) * tracks.step >= STILL_MIN_S - 1e-9]
        if not spells:
            set_why = "the batter was never still before the front foot landed: the stance is not in the clip"
        else:
            set_row = int(spells[-1][1])
            moving = np.flatnonzero(motion[set_row + 1:reference + 1] >= V_MOVE)
            trigger_row = set_row + 1 + int(moving[0]) if moving.size else None
    body = HAND + tuple(f"{s}_{p}" for s in ("left", "right") for p in FOOT)
    events["set_position"] = tracks.event(set_row, body, SET_METHOD,
                                          time_s=_crossing(tracks, motion, set_row, V_STILL)) \
        if set_row is not None else \
        missing(SET_METHOD, set_why)
    events["trigger"] = tracks.event(trigger_row, body, TRIGGER_METHOD,
                                     time_s=_crossing(tracks, motion, trigger_row - 1, V_MOVE)) \
        if trigger_row is not None else \
        missing(TRIGGER_METHOD, set_why if set_row is None else "no movement followed the set position")
    events["front_foot_landing"] = events_landing

    top_row = None
    if impact_row is not None:
        lo = max(0, impact_row - int(round(0.6 / tracks.step)))
        top_row, _ = _extreme_row(hands[:, 1], lo, impact_row - 1, np.isfinite(hands[:, 1]))
    events["top_of_backlift"] = tracks.event(top_row, wrists, TOP_METHOD,
                                             time_s=_vertex(tracks, hands[:, 1], top_row)) \
        if top_row is not None else \
        missing(TOP_METHOD, "impact was not found" if impact_row is None else "the hands' highest point "
                "before impact was not seen")
    events["impact"] = tracks.event(impact_row, wrists, IMPACT_METHOD, time_s=_speed_peak(tracks, hands, impact_row)) \
        if impact_row is not None else \
        missing(IMPACT_METHOD, why)
    events["end_of_follow_through"] = _at_rest(tracks, wrists, impact_s, REST_METHOD) \
        if impact_s is not None else missing(REST_METHOD, "impact was not found")
    return events


# ---------------------------------------------------------------- entry point

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
