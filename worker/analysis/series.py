"""The pose series of one clip, and what it says of the body: visibility, size, jitter, stance side.

Shared by the coaching metrics (metrics.py) and the event detectors
(motion.py). Pure: arrays in, dataclasses and arrays out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worker.analysis import geometry
from worker.analysis.filters import lowpass, noise_sigma
from worker.analysis.landmarks import INDEX

VISIBLE = 0.5  # MediaPipe's own default for "this landmark is in view"
MIN_FRAMES = 5
JITTER_REF = 0.015  # body heights of landmark jitter at which confidence halves
BODY_CHAIN = (
    "nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)


@dataclass(frozen=True)
class PoseSeries:
    """Landmarks of every analysed frame, in pixels. Rows without a pose are NaN with visibility 0."""

    t: np.ndarray  # (N,) seconds
    xy: np.ndarray  # (N, 33, 2) pixels
    visibility: np.ndarray  # (N, 33)
    _cache: dict = field(default_factory=dict, compare=False, repr=False)  # per-series results computed once

    @classmethod
    def gated(cls, t: np.ndarray, xy: np.ndarray, visibility: np.ndarray, accepted: np.ndarray) -> PoseSeries:
        """The series the metrics see: frames the quality gates did not accept count as frames without a pose."""
        return cls(t=t, xy=np.where(accepted[:, None, None], xy, np.nan),
                   visibility=np.where(accepted[:, None], visibility, 0.0))

    @property
    def detected(self) -> np.ndarray:
        return np.isfinite(self.xy[:, 0, 0])

    def point(self, name: str) -> np.ndarray:
        return self.xy[:, INDEX[name]]

    def visible(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        cols = [INDEX[n] for n in names]
        return self.detected & np.all(self.visibility[:, cols] >= VISIBLE, axis=1)


@dataclass(frozen=True)
class Handedness:
    value: str  # "right" | "left": the batter's (or bowler's) stance
    source: str  # "option" | "auto" | "default"
    reason: str

    @property
    def front(self) -> str:
        """The side that faces the bowler: the left for a right-hander."""
        return "left" if self.value == "right" else "right"

    @property
    def back(self) -> str:
        return self.value

    def as_dict(self) -> dict:
        return {"value": self.value, "source": self.source, "front_side": self.front, "reason": self.reason}


def jitter(series: PoseSeries, names: tuple[str, ...] | list[str], usable: np.ndarray) -> float | None:
    """Median over `names` of the landmark's residual wobble after the low-pass, in body heights."""
    if "scale" not in series._cache:
        series._cache["scale"] = body_scale(series)
    scale = series._cache["scale"]
    if scale is None:
        return None
    sigmas = []
    for name in names:
        key = ("jitter", name)
        if key not in series._cache:  # each landmark's own jitter, over the frames it is visible in
            p = series.point(name)
            seen = series.visible((name,))
            found = [noise_sigma(masked(p[:, k], seen), lowpass(series.t, masked(p[:, k], seen))) for k in (0, 1)]
            series._cache[key] = [f for f in found if f is not None]
        sigmas += series._cache[key]
    return float(np.median(sigmas)) / scale if sigmas else None


def confidence(series: PoseSeries, names: tuple[str, ...] | list[str], usable: np.ndarray) -> float:
    """coverage x visibility x steadiness, each 0..1 (metrics.py's docstring and docs/metrics.md say why)."""
    cols = [INDEX[x] for x in names]
    coverage = float(usable.sum()) / len(series.t)
    visibility = float(series.visibility[usable][:, cols].mean())
    wobble = jitter(series, names, usable)
    steadiness = 1.0 if wobble is None else 1.0 / (1.0 + (wobble / JITTER_REF) ** 2)
    return coverage * visibility * steadiness


def body_scale(series: PoseSeries) -> float | None:
    """Body height in px for the whole clip (median), or 3.3 torso lengths when the legs are hidden."""
    height = body_height(series)
    if height is not None and np.isfinite(height).any():
        return float(np.nanmedian(height))
    torso = torso_length(series)
    return None if torso is None else 3.3 * torso


def masked(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, values, np.nan)


def guess_handedness(series: PoseSeries, option: str = "auto") -> Handedness:
    """Left- or right-handed stance, from the option or from the picture.

    The guess: a player faces the bowler with the nose ahead of the ears, and
    the front foot (front shoulder, front hip) is the one further along that
    facing direction. For a right-hander the front side is the left. This
    holds whichever side of the pitch the camera stands, as long as it films
    the player side-on; when the evidence is too weak, right-handed is assumed.
    """
    if option in ("left", "right"):
        return Handedness(option, "option", f"set to {option}-handed by the caller")
    nose, ears = series.point("nose"), geometry.midpoint(series.point("left_ear"), series.point("right_ear"))
    face_ok = series.visible(("nose",))
    torso = torso_length(series)
    if face_ok.sum() >= MIN_FRAMES and torso:
        facing = float(np.median(nose[face_ok, 0] - ears[face_ok, 0]))
        if abs(facing) >= 0.05 * torso:
            for part in ("ankle", "hip", "shoulder"):
                pair = (f"left_{part}", f"right_{part}")
                ok = series.visible(pair) & face_ok
                if ok.sum() < MIN_FRAMES:
                    continue
                ahead = float(np.median(series.point(pair[0])[ok, 0] - series.point(pair[1])[ok, 0]))
                if abs(ahead) < 0.1 * torso:
                    continue
                left_in_front = (ahead > 0) == (facing > 0)
                value = "right" if left_in_front else "left"
                front = "left" if left_in_front else "right"
                return Handedness(
                    value, "auto",
                    f"the player faces {'right' if facing > 0 else 'left'} in the frame and the {front} "
                    f"{part} is ahead, so the {front} side is the front side",
                )
    return Handedness("right", "default", "the picture did not show which side faces the bowler; assumed right-handed")


def torso_length(series: PoseSeries) -> float | None:
    names = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    ok = series.visible(names)
    if not ok.any():
        return None
    shoulders = geometry.midpoint(series.point(names[0]), series.point(names[1]))
    hips = geometry.midpoint(series.point(names[2]), series.point(names[3]))
    length = float(np.median(geometry.distance(shoulders[ok], hips[ok])))
    return length if length > 0 else None


def body_height(series: PoseSeries) -> np.ndarray | None:
    """Ankle-to-nose length in pixels, per frame: shin + thigh (mean of both legs) + trunk + neck-and-face.

    A chain of segment lengths hardly changes when the player crouches or
    strides, unlike the height of the bounding box; it is about 0.9 of the
    standing height. It is measured per frame (smoothed, and interpolated
    across frames where a joint is hidden), so that a zoom or a player
    walking towards the camera does not read as a longer stride.
    """
    ok = series.visible(BODY_CHAIN)
    if ok.sum() < MIN_FRAMES:
        return None
    p = {name: series.point(name) for name in BODY_CHAIN}
    legs = sum(
        geometry.distance(p[f"{s}_ankle"], p[f"{s}_knee"]) + geometry.distance(p[f"{s}_knee"], p[f"{s}_hip"])
        for s in ("left", "right")
    ) / 2.0
    shoulders = geometry.midpoint(p["left_shoulder"], p["right_shoulder"])
    hips = geometry.midpoint(p["left_hip"], p["right_hip"])
    chain = lowpass(series.t, masked(legs + geometry.distance(hips, shoulders)
                                      + geometry.distance(shoulders, p["nose"]), ok))
    known = np.isfinite(chain)
    return np.interp(series.t, series.t[known], chain[known])
