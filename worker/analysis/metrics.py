"""Cricket coaching metrics from a pose series. Pure: arrays in, a JSON-ready dict out.

Every angle and distance is measured in the image plane, in pixels, so the
numbers do not depend on where the player stands in the frame, how large they
appear, or (for joint angles) a small tilt of the camera. Definitions, units and
limits are in docs/metrics.md; keep the two in step.

Each metric is `{"units", "value", "confidence", "reason"}`. `value` is null
with a `reason` when the joints it needs were not visible enough. `confidence`
(0..1) is coverage x visibility x steadiness: the share of analysed frames in
which the joints were usable, their mean MediaPipe visibility there, and
1 / (1 + (jitter / JITTER_REF)^2) with jitter the landmarks' residual wobble
after the low-pass, in body heights (docs/metrics.md, "What a number can be
trusted for").

Extremes are sustained extremes: the largest (smallest) value the smoothed
series holds for HOLD_S, so a single bad frame cannot set them. Key moments
are given only when their signal moves by more than its own noise floor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from worker.analysis import geometry
from worker.analysis.filters import lowpass, moving_median, noise_sigma
from worker.analysis.series import (BODY_CHAIN, MIN_FRAMES, VISIBLE, Handedness, PoseSeries, body_height, confidence,
                                    guess_handedness, masked, torso_length)

MIN_COVERAGE = 0.25  # of the frames with a pose
STANCE_WINDOW_S = 0.5
STRIDE_STEP = 0.15  # body heights the stride must grow by to count as a step
PLANT_SHARE = 0.95  # share of the stride's growth at which the front foot counts as planted
HOLD_S = 0.12  # an extreme must hold this long (3 frames at 25 fps) to count
NOISE_K = 6.0  # a change must exceed this many noise sigmas to be more than jitter (measured: jitter alone
# makes the smoothed series range over 4-5.5 sigmas of the residual in 4 s)
EXTENSION_BIAS_K = 3.0  # sigmas that jitter adds to a real extension (running minimum down, peak up)
# The least floors are the model's own wander on still photos (scripts/still_photo_noise.py, 2026-12-06):
STILL_ELBOW_DEG = 25.0  # an elbow extension; a still, well-seen elbow read up to 22.9 deg of change in 15 clips
MOMENT_MIN_DEG = 12.0  # a knee-flexion moment; still knees' flexion rose by up to 9.4 deg
MOMENT_MIN_STRIDE = 0.1  # a stride moment, body heights; still strides rose by up to 0.067

ANGLES: dict[str, tuple[str, str, str]] = {
    f"{side}_{joint}_angle": (f"{side}_{a}", f"{side}_{b}", f"{side}_{c}")
    for side in ("left", "right")
    for joint, (a, b, c) in {
        "elbow": ("shoulder", "elbow", "wrist"),
        "knee": ("hip", "knee", "ankle"),
        "hip": ("shoulder", "hip", "knee"),
        "shoulder": ("hip", "shoulder", "elbow"),
    }.items()
}
ELBOW_EXTENSION_NOTE = (
    "Indicator only: a 2D video estimate, with typical errors of 8-23 degrees against motion "
    "capture. It cannot decide whether a delivery complies with the ICC 15-degree law."
)


@dataclass
class MetricsReport:
    metrics: dict
    handedness: Handedness
    angles: dict[str, np.ndarray]  # smoothed, degrees, NaN where not measurable
    raw_angles: dict[str, np.ndarray]
    moments: dict[str, int | None] = field(default_factory=dict)  # key moment -> frame row
    moment_reasons: dict[str, str | None] = field(default_factory=dict)  # why a moment is null
    moment_rises: dict[str, float | None] = field(default_factory=dict)  # sustained range of its signal


@dataclass(frozen=True)
class _Support:
    mask: np.ndarray
    confidence: float | None
    reason: str | None


def _joint_words(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(n.replace("_", " ") for n in names)


def _support(
    series: PoseSeries, names: tuple[str, ...] | list[str], mask: np.ndarray | None = None,
    condition: str = "",
) -> _Support:
    """Which frames a metric may use, how much to trust it, or why it cannot be given.

    `mask` narrows the frames beyond visibility; `condition` says how, for the reason.
    """
    usable = series.visible(names) if mask is None else mask
    with_pose = int(series.detected.sum())
    n = int(usable.sum())
    need = max(MIN_FRAMES, math.ceil(MIN_COVERAGE * with_pose))
    if with_pose == 0:
        return _Support(usable, None, "no person was detected in any analysed frame")
    if n < need:
        return _Support(
            usable, None,
            f"{_joint_words(names)} visible (visibility >= {VISIBLE}){condition} in only {n} of "
            f"{with_pose} frames with a usable pose; at least {need} are needed",
        )
    return _Support(usable, round(confidence(series, names, usable), 3), None)


def sustained(t: np.ndarray, values: np.ndarray, largest: bool, hold_s: float = HOLD_S) -> tuple[float, int] | None:
    """The extreme of the moving median over `hold_s` (centred), and its row; None when nothing is finite.

    A value counts only if most samples within +-hold_s/2 of it agree, so one
    bad frame (or two at 25 fps) cannot set a maximum, while a real peak loses
    at most its slope times hold_s/2.
    """
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).any():
        return None
    level = moving_median(np.asarray(t, dtype=np.float64), v, hold_s / 2)
    row = int(np.nanargmax(level) if largest else np.nanargmin(level))
    return float(level[row]), row


def _num(x: float | None, digits: int = 1) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return round(float(x), digits)


def _metric(units: str, value, support: _Support, **extra) -> dict:
    if support.reason is not None:
        return {"units": units, "value": None, "confidence": None, "reason": support.reason, **extra}
    return {"units": units, "value": value, "confidence": support.confidence, "reason": None, **extra}


def _at(values: np.ndarray, row: int | None, digits: int = 1) -> float | None:
    return None if row is None else _num(values[row], digits)


def _argext(values: np.ndarray, largest: bool, t: np.ndarray | None = None) -> int | None:
    """Row of the sustained extreme (see `sustained`); with no `t`, of the plain extreme."""
    if not np.isfinite(values).any():
        return None
    if t is not None:
        found = sustained(t, values, largest)
        return None if found is None else found[1]
    return int(np.nanargmax(values) if largest else np.nanargmin(values))


def _extreme(t: np.ndarray, values: np.ndarray, largest: bool) -> float | None:
    found = sustained(t, values, largest)
    return None if found is None else found[0]


def _summary(t: np.ndarray, values: np.ndarray, digits: int = 1) -> dict:
    return {
        "min": _num(_extreme(t, values, largest=False), digits),
        "max": _num(_extreme(t, values, largest=True), digits),
        "mean": _num(np.nanmean(values), digits) if np.isfinite(values).any() else None,
    }


@dataclass(frozen=True)
class _Moment:
    row: int | None
    reason: str | None
    rise: float | None = None  # sustained maximum minus sustained minimum, what the floor is compared with


def _moment(t: np.ndarray, values: np.ndarray, noise: float | None, least: float, what: str,
            unit: str) -> _Moment:
    """When `values` is at its maximum: the middle of the stretch around the sustained maximum that
    stays within a band of it; None (with the reason) when the signal does not rise above its noise
    floor over the clip or its maximum does not stand out as one moment.

    The floor, max(least, NOISE_K sigma), is what the series wanders by over a
    whole clip; the band, max(least / 2, NOISE_K sigma), what it wanders by
    within a held position. Within the band which sample is highest is noise:
    its row jumped by 2 s between two readings of one clip (analysed in one and
    in two processes), so the stretch's middle is the moment. A maximum that
    another stretch of the clip also comes within the band of, with a dip
    deeper than the band between them, is not one moment at all.
    """
    top, bottom = sustained(t, values, True), sustained(t, values, False)
    if top is None or bottom is None:
        return _Moment(None, f"{what} could not be followed for {HOLD_S:g} s")
    floor = max(least, NOISE_K * (noise or 0.0))
    digits = 1 if unit == "deg" else 3
    rise = top[0] - bottom[0]
    if rise < floor:
        return _Moment(None, f"{what} changed by only {rise:.{digits}f} {unit} over the clip, "
                             f"within its noise floor of {floor:.{digits}f} {unit}", rise)
    band = max(least / 2, NOISE_K * (noise or 0.0))
    level = moving_median(np.asarray(t, dtype=np.float64), np.asarray(values, dtype=np.float64), HOLD_S / 2)
    near = np.flatnonzero(level >= top[0] - band)
    dips = np.concatenate([[0], np.cumsum(level < top[0] - band)])
    starts = near[np.r_[True, dips[near[1:]] > dips[near[:-1] + 1]]]
    if starts.size > 1:
        times = ", ".join(f"{t[row]:.2f}" for row in starts[:4]) + (", ..." if starts.size > 4 else "")
        return _Moment(None, f"{what} comes within {band:.{digits}f} {unit} of its maximum at {starts.size} "
                             f"separate times ({times} s): no one moment stands out", rise)
    middle = (t[near[0]] + t[near[-1]]) / 2
    return _Moment(int(near[np.argmin(np.abs(t[near] - middle))]), None, rise)


def _smooth_points(series: PoseSeries, name: str, mask: np.ndarray) -> np.ndarray:
    p = series.point(name)
    return np.stack([lowpass(series.t, masked(p[:, k], mask)) for k in (0, 1)], axis=1)


def _front_foot_plant(t: np.ndarray, stride: np.ndarray) -> int | None:
    """The frame where the front foot lands: the stride first reaches 95% of its maximum.

    Only when the feet really step apart (the stride's sustained range is at
    least 0.15 body heights); a player who stays in the stance has no plant moment.
    """
    top, bottom = sustained(t, stride, True), sustained(t, stride, False)
    if top is None or bottom is None:
        return None
    low, high = bottom[0], top[0]
    if high - low < STRIDE_STEP:
        return None
    reached = np.flatnonzero(stride >= low + PLANT_SHARE * (high - low))
    return int(reached[0])


def _elbow_extension(series: PoseSeries, side: str, angle: np.ndarray, raw: np.ndarray) -> dict:
    """Largest straightening of the elbow while the upper arm is raised above the shoulder.

    Bowling-arm extension is judged from upper arm horizontal to release; in
    2D video "elbow above shoulder" is the closest observable window. Measured
    on the smoothed angle (value minus its running minimum) and reported as 0
    unless it exceeds the noise floor: NOISE_K times the angle's own jitter,
    and never less than STILL_ELBOW_DEG. The jitter term covers white noise
    (7-15 degrees of "extension" on a still stick-figure arm); the constant
    covers the model's error that the low-pass keeps, which is correlated over
    a few tenths of a second and which the jitter does not show: a still arm
    read 11.6 degrees against a jitter floor of 2.7.
    Above the floor, the part jitter adds (EXTENSION_BIAS_K sigmas) is taken off.
    """
    names = (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist")
    raised = series.visible(names) & (series.point(names[1])[:, 1] < series.point(names[0])[:, 1])
    raised &= np.isfinite(angle)
    support = _support(series, names, raised, f" with the {side} elbow above the shoulder")
    extra = {"indicator_only": True, "note": ELBOW_EXTENSION_NOTE, "noise_floor_deg": None}
    if support.reason is not None:
        return _metric("deg", None, support, at_s=None, **extra)
    values = angle[raised]
    lowest_so_far = np.minimum.accumulate(values)
    gains = values - lowest_so_far
    best = int(np.argmax(gains))
    at_s = float(series.t[np.flatnonzero(raised)[best]])
    noise = noise_sigma(masked(raw, raised), angle) or 0.0
    floor = max(NOISE_K * noise, STILL_ELBOW_DEG)
    extra["noise_floor_deg"] = _num(floor)
    if gains[best] <= floor:
        return _metric("deg", 0.0, support, at_s=None, **extra)
    return _metric("deg", _num(gains[best] - EXTENSION_BIAS_K * noise), support, at_s=_num(at_s, 3), **extra)


def _stride(series: PoseSeries, front: str, back: str) -> tuple[np.ndarray, np.ndarray, _Support]:
    """Smoothed and raw ankle distance in body heights per frame, and the support of the stride metrics."""
    ankles = (f"{front}_ankle", f"{back}_ankle")
    support = _support(series, ankles)
    height = body_height(series)
    if height is None:
        nothing = np.full(len(series.t), np.nan)
        if support.reason is not None:
            return nothing, nothing, support
        return nothing, nothing, _Support(
            support.mask, None,
            f"body height cannot be estimated: {_joint_words(BODY_CHAIN)} are not all visible in "
            f"at least {MIN_FRAMES} frames",
        )
    raw = masked(geometry.distance(series.point(ankles[0]), series.point(ankles[1])), support.mask) / height
    return lowpass(series.t, raw), raw, support


def _stance_width(series: PoseSeries, stride: np.ndarray) -> float | None:
    rows = np.flatnonzero(np.isfinite(stride))
    if rows.size == 0:
        return None
    setup = rows[series.t[rows] <= series.t[rows[0]] + STANCE_WINDOW_S]
    return _num(float(np.median(stride[setup])), 3)


def _head_stability(series: PoseSeries) -> dict:
    support = _support(series, ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    torso = torso_length(series)
    if support.reason is not None or not torso:
        return _metric("torso lengths", None, support)
    head = _smooth_points(series, "nose", support.mask)
    rows = np.isfinite(head[:, 0])
    offsets = geometry.distance(head[rows], np.median(head[rows], axis=0)) / torso
    peak = sustained(series.t[rows], offsets, largest=True)
    return _metric("torso lengths", {
        "rms_displacement": _num(math.sqrt(float(np.mean(offsets**2))), 3),
        "max_displacement": _num(None if peak is None else peak[0], 3),
    }, support)


def _line_angle(series: PoseSeries, part: str, front: str, back: str, max_stride: int | None) -> dict:
    pair = (f"{back}_{part}", f"{front}_{part}")
    support = _support(series, pair)
    tilt = lowpass(series.t, masked(geometry.line_tilt(series.point(pair[0]), series.point(pair[1])),
                                     support.mask))
    value = None if support.reason else {**_summary(series.t, tilt), "at_max_stride": _at(tilt, max_stride)}
    return _metric("deg", value, support)


def compute_metrics(series: PoseSeries, frames_analyzed: int, handedness: str = "auto") -> MetricsReport:
    """All coaching metrics for one clip; see docs/metrics.md for each definition."""
    hand = guess_handedness(series, handedness)
    front, back = hand.front, hand.back
    metrics: dict[str, dict] = {}
    raw_angles: dict[str, np.ndarray] = {}
    angles: dict[str, np.ndarray] = {}
    supports: dict[str, _Support] = {}
    for name, (a, b, c) in ANGLES.items():
        support = supports[name] = _support(series, (a, b, c))
        raw_angles[name] = masked(geometry.joint_angle(series.point(a), series.point(b), series.point(c)),
                                   support.mask)
        angles[name] = lowpass(series.t, raw_angles[name])
        metrics[name] = _metric("deg", None if support.reason else _summary(series.t, angles[name]), support)

    stride, raw_stride, stride_support = _stride(series, front, back)
    most_stride = _Moment(None, stride_support.reason) if stride_support.reason else _moment(
        series.t, stride, noise_sigma(raw_stride, stride), MOMENT_MIN_STRIDE, "the stride", "body heights")
    top_stride = most_stride.row
    plant = None if top_stride is None else _front_foot_plant(series.t, stride)
    knee = f"{front}_knee_angle"
    flexion = 180.0 - angles[knee]
    most_flexion = _Moment(None, supports[knee].reason) if supports[knee].reason else _moment(
        series.t, flexion, noise_sigma(raw_angles[knee], angles[knee]), MOMENT_MIN_DEG,
        "front-knee flexion", "deg")
    top_flexion = most_flexion.row
    moments = {"front_foot_plant": plant, "max_stride": top_stride, "max_front_knee_flexion": top_flexion}
    reasons = {
        "front_foot_plant": None if plant is not None else most_stride.reason or (
            f"the stride did not grow by {STRIDE_STEP:g} body heights: no step forward"),
        "max_stride": most_stride.reason,
        "max_front_knee_flexion": most_flexion.reason,
    }
    rises = {"max_stride": most_stride.rise, "max_front_knee_flexion": most_flexion.rise}
    widest = sustained(series.t, stride, largest=True)

    metrics["front_knee_flexion"] = _metric(
        "deg",
        None if supports[knee].reason else {
            **{k: v for k, v in _summary(series.t, flexion).items() if k != "mean"},
            "at_max_stride": _at(flexion, top_stride),
            "at_front_foot_plant": _at(flexion, plant),
        },
        supports[knee], side=front,
    )
    metrics["head_stability"] = _head_stability(series)
    metrics["stance_width"] = _metric("body heights", _stance_width(series, stride), stride_support)
    metrics["stride_length"] = _metric(
        "body heights", None if widest is None else _num(widest[0], 3), stride_support,
        at_s=None if top_stride is None else _num(float(series.t[top_stride]), 3),
    )
    for part in ("shoulder", "hip"):
        metrics[f"{part}_line_angle"] = _line_angle(series, part, front, back, top_stride)
    for side in ("left", "right"):
        name = f"{side}_elbow_angle"
        metrics[f"{side}_elbow_extension"] = _elbow_extension(series, side, angles[name], raw_angles[name])

    with_pose = int(series.detected.sum())
    rate = with_pose / frames_analyzed if frames_analyzed else 0.0
    metrics["detection_rate"] = {"units": "ratio", "value": round(rate, 4), "confidence": 1.0, "reason": None}
    return MetricsReport(metrics, hand, angles, raw_angles, moments, reasons, rises)
