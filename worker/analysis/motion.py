"""Landmark motion for the event detectors: smoothed positions, speeds in body heights, foot plants.

Speeds are in body heights per second (series.body_height, per frame), so
the thresholds hold for a player 120 or 600 px tall. The series is low-passed
at cutoff.cutoff_hz(activity, fps) before differentiating; the contact times
are then refined on the unsmoothed foot height, which the filter would blur.
Pure: arrays in, dataclasses out.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from worker.analysis import geometry
from worker.analysis.filters import MAX_GAP_S, lowpass
from worker.analysis.landmarks import INDEX
from worker.analysis.series import VISIBLE, PoseSeries, body_height

V_PLANT = 0.25  # body heights/s: a foot slower than this is planted
V_LIFT = 0.5  # body heights/s: a planted foot has lifted again only once it moves faster than this
V_DESCENT = 0.25  # body heights/s downwards: the foot was coming down before it planted
DESCENT_WINDOW_S = 0.2
MIN_PLANT_S = 0.05
DESCENT_FIT_S = 0.3  # the landing hinge is fitted to the foot's height from this long before it stopped
V_REST = 0.8  # body heights/s: a wrist moving slower than this relative to the hips has finished its swing
REST_HOLD_S = 0.1
EVENT_WINDOW_S = 0.1  # around an event, for its confidence
EDGE_FRAMES = 2  # an extreme this close to the end of the data may lie beyond it

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
class Plant:
    onset: int  # first row at which the smoothed foot is still
    contact_s: float  # the refined landing time
    end: int  # last still row


class Tracks:
    """The landmark series of one clip, gated, low-passed and differentiated once for every detector.

    A landmark counts in a frame only when the frame is usable (the caller's
    gate: the tracked player, a pose of acceptable quality) and its own
    visibility is at least series.VISIBLE. Smoothed series are interpolated
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
            self._cache[key] = np.stack([bridge(self.t, lowpass(self.t, raw[:, k], self.cutoff)) for k in (0, 1)],
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
            self._cache[key] = bridge(self.t, lowpass(self.t, raw, self.cutoff))
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
            time_s = round(float(time_s), 4)  # the reported time; its row is the one nearest to what is reported
            row = self.row_at(time_s)
        conf = self.confidence(row, names)
        if conf is None:
            return missing(method, f"{', '.join(n.replace('_', ' ') for n in names)} not seen near "
                                   f"{self.t[row]:.3f} s")
        return Event(round(float(self.t[row]), 4) if time_s is None else time_s, int(row), conf, method, None)

    def row_at(self, time_s: float) -> int:
        return int(np.argmin(np.abs(self.t - time_s)))


def bridge(t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation across holes no longer than MAX_GAP_S; longer holes stay NaN."""
    known = np.flatnonzero(np.isfinite(values))
    out = values.copy()
    if known.size < 2:
        return out
    for a, b in zip(known[:-1], known[1:]):
        if b - a > 1 and t[b] - t[a] <= MAX_GAP_S:
            out[a + 1:b] = np.interp(t[a + 1:b], [t[a], t[b]], [values[a], values[b]])
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) rows of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _landing_time(t: np.ndarray, y: np.ndarray, onset: int, end: int, step: float) -> float:
    """When the descending foot reached its planted height, from the unsmoothed foot height.

    A hinge is fitted by least squares to every frame from DESCENT_FIT_S before
    the smoothed foot stopped to 0.2 s after: a descent (a parabola, the foot
    slowing or speeding as it comes down) meeting, without a jump, the planted
    height (a constant). The landing is the hinge time that fits best,
    searched from DESCENT_WINDOW_S before the smoothed stop to one frame
    after it (a fifth of a frame apart, then a fiftieth around the best). All
    frames count, so a lost or noisy landing frame moves the time by a
    fraction of a frame; smoothing would blur the stop.
    """
    stop = t[min(end, onset + int(round(0.2 / step)))]
    near = np.flatnonzero((t >= t[onset] - DESCENT_FIT_S) & (t <= stop) & np.isfinite(y))
    if near.size < 6:
        return float(t[onset])
    tt, yy = t[near], y[near]
    lo, hi = t[onset] - DESCENT_WINDOW_S, t[onset] + step
    coarse = np.arange(lo, hi, step / 5.0)
    best = min(coarse, key=lambda h: _hinge_misfit(tt, yy, h))
    fine = np.arange(max(lo, best - step / 5.0), min(hi, best + step / 5.0), step / 50.0)
    best = min(fine, key=lambda h: _hinge_misfit(tt, yy, h), default=best)
    return float(best) if math.isfinite(_hinge_misfit(tt, yy, best)) else float(t[onset])


def _hinge_misfit(t: np.ndarray, y: np.ndarray, hinge: float) -> float:
    """Squared residuals of the best descent-then-level hinge at `hinge`; inf when it cannot be a landing."""
    d = np.minimum(t - hinge, 0.0)
    if np.count_nonzero(d < 0) < 3 or np.count_nonzero(d == 0) < 2:
        return math.inf
    design = np.stack([np.ones(d.size), d, d**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    if coef[1] <= 0:  # image y grows downwards: the foot must be coming down onto the level
        return math.inf
    return float(np.sum((design @ coef - y) ** 2))


def plants(tracks: Tracks, side: str) -> list[Plant]:
    """Each landing of one foot: descending, then still for at least MIN_PLANT_S."""
    names = tuple(f"{side}_{p}" for p in FOOT)
    speed = tracks.speed(*names)
    down = tracks.velocity(*names)[:, 1]
    raw_y = tracks.raw(names)[:, 1]
    found = []
    with np.errstate(invalid="ignore"):
        still = speed < V_PLANT
    merged: list[tuple[int, int]] = []
    for first, last in runs(still):
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
        found.append(Plant(int(first), _landing_time(tracks.t, raw_y, int(first), int(last), tracks.step),
                           int(last)))
    return found


def last_plant_before(found: list[Plant], t_end: float, span: float) -> Plant | None:
    """The last plant whose contact lies within `span` seconds before `t_end`."""
    hits = [p for p in found if t_end - span <= p.contact_s <= t_end]
    return hits[-1] if hits else None


CONTACT_METHOD = (f"foot (ankle, heel, toe) still (speed < {V_PLANT} body heights/s for >= {MIN_PLANT_S} s) "
                  "after descending; landing time = where the descent line of the unsmoothed foot height meets its "
                  "planted height")
REST_METHOD = (f"first frame, >= 0.1 s after the event, from which the wrist moves slower than {V_REST} body "
               f"heights/s relative to the hip centre for {REST_HOLD_S} s")


def contact_event(tracks: Tracks, plant: Plant, side: str, method: str) -> Event:
    row = tracks.row_at(plant.contact_s)
    return tracks.event(row, tuple(f"{side}_{p}" for p in FOOT), method, time_s=plant.contact_s)


def vertex(tracks: Tracks, values: np.ndarray, row: int) -> float:
    """Time of the extreme of a parabola through the values at row-1, row, row+1 (sampling refines a peak)."""
    if row < 1 or row > tracks.n - 2 or not np.isfinite(values[row - 1:row + 2]).all():
        return float(tracks.t[row])
    a, b, c = values[row - 1:row + 2]
    curvature = a - 2 * b + c
    shift = 0.0 if curvature == 0 else float(np.clip(0.5 * (a - c) / curvature, -0.5, 0.5))
    neighbour = row + 1 if shift > 0 else row - 1
    return float(tracks.t[row] + abs(shift) * (tracks.t[neighbour] - tracks.t[row]))


def flat_vertex(tracks: Tracks, values: np.ndarray, row: int, half_window_s: float) -> float:
    """Time of the extreme of a least-squares parabola through `values` within half_window_s of `row`.

    For a broad, flat extreme (the hands at the top of the backlift hang there)
    three frames cannot place it: noise moves the highest frame by one or two.
    The window's frames together can, as long as the extreme is parabola-like
    over it. Kept within the window; the three-frame vertex when the fitted
    parabola does not turn the same way as the extreme at `row`.
    """
    near = np.flatnonzero((np.abs(tracks.t - tracks.t[row]) <= half_window_s + 1e-9) & np.isfinite(values))
    if near.size < 5:
        return vertex(tracks, values, row)
    dt = tracks.t[near] - tracks.t[row]
    a, b, _ = np.polyfit(dt, values[near], 2)
    is_minimum = values[row] <= np.mean(values[near])
    if a == 0 or (a > 0) != is_minimum:
        return vertex(tracks, values, row)
    return float(tracks.t[row] + np.clip(-b / (2 * a), dt[0], dt[-1]))


def crossing(tracks: Tracks, values: np.ndarray, row: int, level: float) -> float:
    """When `values` crossed `level` between `row` and the next row, by linear interpolation."""
    if row + 1 >= tracks.n or not np.isfinite(values[row:row + 2]).all() or values[row] == values[row + 1]:
        return float(tracks.t[row])
    frac = float(np.clip((level - values[row]) / (values[row + 1] - values[row]), 0.0, 1.0))
    return float(tracks.t[row] + frac * (tracks.t[row + 1] - tracks.t[row]))


def speed_peak(tracks: Tracks, points: np.ndarray, row: int, seen: np.ndarray) -> float:
    """Time of the speed peak near `row`, from a cubic spline through the smoothed positions.

    Differencing neighbouring frames measures the chord, not the path: where the
    path curves more on one side of the peak, the peak shifts by up to a frame.
    Only frames in which the points were `seen` carry the spline: a lost frame's
    smoothed position is bridged along the chord, which would cut the curve.
    The peak is searched a frame and a half either side of `row`.
    """
    rows = np.arange(max(0, row - 4), min(tracks.n, row + 5))
    rows = rows[np.isfinite(points[rows]).all(axis=1) & seen[rows]]
    if rows.size < 5 or row - 1 < rows[0] or row + 1 > rows[-1]:
        return float(tracks.t[row])
    lo = max(tracks.t[rows[0]], tracks.t[row] - 1.5 * tracks.step)
    hi = min(tracks.t[rows[-1]], tracks.t[row] + 1.5 * tracks.step)
    grid = np.linspace(lo, hi, 151)
    return float(grid[int(np.argmax(np.linalg.norm(spline_slope(tracks.t[rows], points[rows], grid), axis=1)))])


def spline_slope(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """First derivative, at `at`, of the not-a-knot cubic spline through (x, y) (scipy's CubicSpline
    default; its import would cost every job 0.3-0.5 s for these few points). x increasing, 4+ points."""
    n, h = len(x), np.diff(x)
    slope = np.diff(y, axis=0) / h[:, None]
    system, rhs = np.zeros((n, n)), np.zeros((n,) + y.shape[1:])
    for i in range(1, n - 1):  # moments M (second derivatives) with continuous first derivatives
        system[i, i - 1:i + 2] = h[i - 1], 2 * (h[i - 1] + h[i]), h[i]
        rhs[i] = 6 * (slope[i] - slope[i - 1])
    system[0, :3] = h[1], -(h[0] + h[1]), h[0]  # not-a-knot: third derivative continuous at x[1], x[-2]
    system[-1, -3:] = h[-1], -(h[-2] + h[-1]), h[-2]
    m = np.linalg.solve(system, rhs)
    i = np.clip(np.searchsorted(x, at, side="right") - 1, 0, n - 2)
    left, right, hi = (at - x[i])[:, None], (x[i + 1] - at)[:, None], h[i][:, None]
    return (m[i + 1] * left**2 - m[i] * right**2) / (2 * hi) + slope[i] - (m[i + 1] - m[i]) * hi / 6


def extreme_row(values: np.ndarray, lo: int, hi: int, seen: np.ndarray) -> tuple[int | None, str | None]:
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


def at_rest(tracks: Tracks, names: tuple[str, ...], start_s: float, method: str) -> Event:
    hips = tracks.point("left_hip", "right_hip")
    rel = np.linalg.norm(tracks.derivative(tracks.point(*names) - hips), axis=1)
    hold = max(1, int(round(REST_HOLD_S / tracks.step)))
    for row in np.flatnonzero(tracks.t >= start_s + 0.1):
        window = rel[row:row + hold]
        if window.size == hold and np.isfinite(window).all() and (window < V_REST).all():
            return tracks.event(int(row), names + ("left_hip", "right_hip"), method,
                                time_s=crossing(tracks, rel, int(row) - 1, V_REST))
    return missing(method, "the swing had not come to rest when the clip (or the usable frames) ended")
