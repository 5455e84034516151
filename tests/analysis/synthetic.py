"""Stick figures with known joint angles, as pixel landmarks in BlazePose's layout.

The figure stands upright, seen side-on; `facing` is +1 when it faces the
right of the frame. Legs and arms are set by a segment direction and the
interior angle of the middle joint, so every angle the metrics report is known
exactly (hip angle = 180 - thigh angle; shoulder angle = upper-arm angle).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from worker.analysis.landmarks import COUNT, INDEX
from worker.analysis.series import PoseSeries

TORSO = 100.0
THIGH = 90.0
SHIN = 85.0
UPPER_ARM = 60.0
FOREARM = 55.0
NOSE_FORWARD, NOSE_UP = 0.12 * TORSO, 0.35 * TORSO


@dataclass(frozen=True)
class Figure:
    hip: tuple[float, float] = (320.0, 300.0)
    facing: int = 1
    front_side: str = "left"  # the side ahead in the facing direction (left: right-hander)
    front_thigh: float = 20.0  # degrees from straight down, towards the facing direction
    back_thigh: float = -15.0
    front_knee: float = 150.0  # interior angle, 180 = straight
    back_knee: float = 170.0
    front_upper_arm: float = 30.0  # degrees from straight down, forward; 90 = horizontal; > 90 above
    back_upper_arm: float = 20.0
    front_elbow: float = 160.0
    back_elbow: float = 150.0
    shoulder_tilt: float = 0.0  # degrees, front shoulder raised
    shoulder_width: float = 30.0  # apparent (side-on) distance between the shoulders


def _limb(root: np.ndarray, first: float, bend: float, lengths: tuple[float, float], facing: int) -> tuple:
    """Middle and end point of a two-segment limb hanging from `root`."""
    down = math.radians(first)
    d1 = np.array([facing * math.sin(down), math.cos(down)])
    middle = root + lengths[0] * d1
    turn = math.radians(180.0 - bend)
    rot = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    end = middle + lengths[1] * (rot @ d1)
    return middle, end


def pose(fig: Figure) -> np.ndarray:
    """(33, 2) pixel landmarks of the figure."""
    xy = np.zeros((COUNT, 2))
    f = fig.facing
    front, back = fig.front_side, "right" if fig.front_side == "left" else "left"
    hip_c = np.array(fig.hip, dtype=float)
    sh_c = hip_c + np.array([0.0, -TORSO])
    half = fig.shoulder_width / 2
    rise = half * math.tan(math.radians(fig.shoulder_tilt))
    points = {
        f"{front}_shoulder": sh_c + [f * half, -rise], f"{back}_shoulder": sh_c + [-f * half, rise],
        f"{front}_hip": hip_c + [f * half, 0.0], f"{back}_hip": hip_c + [-f * half, 0.0],
    }
    for side, thigh, knee in ((front, fig.front_thigh, fig.front_knee), (back, fig.back_thigh, fig.back_knee)):
        points[f"{side}_knee"], points[f"{side}_ankle"] = _limb(points[f"{side}_hip"], thigh, knee, (THIGH, SHIN), f)
    for side, arm, elbow in ((front, fig.front_upper_arm, fig.front_elbow), (back, fig.back_upper_arm, fig.back_elbow)):
        points[f"{side}_elbow"], points[f"{side}_wrist"] = _limb(
            points[f"{side}_shoulder"], arm, elbow, (UPPER_ARM, FOREARM), f)
    nose = sh_c + [f * NOSE_FORWARD, -NOSE_UP]
    points["nose"] = nose
    for side in ("left", "right"):
        points[f"{side}_ear"] = sh_c + [0.0, -NOSE_UP]
        for part in ("eye_inner", "eye", "eye_outer"):
            points[f"{side}_{part}"] = nose + [-f * 4.0, -4.0]
        points[f"mouth_{side}"] = nose + [-f * 3.0, 5.0]
        for part in ("pinky", "index", "thumb"):
            points[f"{side}_{part}"] = points[f"{side}_wrist"]
        points[f"{side}_heel"] = points[f"{side}_ankle"] + [-f * 8.0, 4.0]
        points[f"{side}_foot_index"] = points[f"{side}_ankle"] + [f * 18.0, 6.0]
    for name, point in points.items():
        xy[INDEX[name]] = point
    return xy


def body_height() -> float:
    """What worker.analysis.series.body_height must find for any Figure."""
    return THIGH + SHIN + TORSO + math.hypot(NOSE_FORWARD, NOSE_UP)


def series(figures: list[Figure], fps: float = 25.0, visibility: float = 0.9) -> PoseSeries:
    xy = np.stack([pose(f) for f in figures])
    return PoseSeries(
        t=np.arange(len(figures)) / fps,
        xy=xy,
        visibility=np.full(xy.shape[:2], visibility),
    )


def steady(fig: Figure, frames: int = 50, fps: float = 25.0) -> PoseSeries:
    return series([fig] * frames, fps)


def animate(fig: Figure, frames: int = 50, fps: float = 25.0, **ranges: tuple[float, float]) -> PoseSeries:
    """Interpolate the named Figure fields linearly from the first to the second value."""
    figs = []
    for i in range(frames):
        u = i / (frames - 1)
        figs.append(replace(fig, **{k: a + (b - a) * u for k, (a, b) in ranges.items()}))
    return series(figs, fps)


def transformed(s: PoseSeries, scale: float = 1.0, angle_deg: float = 0.0, shift=(0.0, 0.0)) -> PoseSeries:
    """The same series after zooming, turning (counter-clockwise on screen) and moving the camera."""
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # y points down
    centre = np.array([320.0, 240.0])
    xy = (s.xy - centre) @ rot.T * scale + centre + np.asarray(shift)
    return PoseSeries(t=s.t, xy=xy, visibility=s.visibility)
