"""A kinematic stick player: a bowling delivery and a front-foot drive with known events.

Filmed side-on, in pixels, y down, facing +x (towards the batter, or the
bowler) unless `facing=-1`. Segment lengths are Winter's anthropometric
fractions of the standing height. Every degree of freedom is a smooth curve
of time, so a clip can be sampled at any frame rate and every truth (event
times, joint angles at them) comes from the same noise-free model:

- Feet are driven directly: planted (not moving) between a known contact and
  lift-off, swinging between plants. A foot lands moving down (an impact),
  as a bowling or striding foot does. The knees follow by two-link inverse
  kinematics from the hips, bending forward.
- The hip centre, trunk lean, shoulder turn and arm angles follow keyframes
  through shape-preserving (PCHIP) interpolation.
- Bowling: the bowling arm circles backwards-up-over-forwards. Release is
  placed where the proxy defines it (the bowling wrist's highest point after
  front-foot contact), found numerically on the noise-free model.
- Drive: the hands follow a smooth path (stance -> top of the backlift ->
  impact -> finish); along the swing their speed rises and falls as sin^2 /
  cos^2 around the impact time, so the peak hand speed is exactly at impact.
  Both arms reach the hands by inverse kinematics.

Kinematic truths that are defined by a threshold (movement onset, coming to
rest) are computed with the detector's own thresholds on a dense noise-free
sampling: the tests then check that detection survives noise, sampling and
dropped frames, not that the definition is right.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.interpolate import PchipInterpolator

from worker.analysis import geometry
from worker.analysis.landmarks import COUNT, INDEX
from worker.analysis.series import PoseSeries

# Winter (2009), fractions of standing height
THIGH, SHANK, TRUNK = 0.245, 0.246, 0.288
UPPER_ARM, FOREARM = 0.186, 0.146
ANKLE_HEIGHT, HEEL_BACK, TOE_FORWARD = 0.039, 0.04, 0.11
NECK_UP, NOSE_FORWARD = 0.118, 0.035
CHAIN = SHANK + THIGH + TRUNK + math.hypot(NECK_UP, NOSE_FORWARD)  # series.body_height / standing height
DENSE_HZ = 2000.0

Array = np.ndarray


def curve(*keys: tuple[float, float]) -> Callable[[Array], Array]:
    """A smooth, overshoot-free curve through (time, value) keys, constant beyond the ends."""
    t = np.array([k[0] for k in keys], dtype=float)
    v = np.array([k[1] for k in keys], dtype=float)
    f = PchipInterpolator(t, v)
    return lambda x: f(np.clip(np.asarray(x, dtype=float), t[0], t[-1]))


def _dir(angle_deg: Array, facing: int) -> Array:
    """Unit vector at `angle_deg` from straight down, turning towards the facing direction."""
    a = np.radians(angle_deg)
    return np.stack([facing * np.sin(a), np.cos(a)], axis=-1)


def _ik(root: Array, end: Array, first: float, second: float, bend: Array) -> Array:
    """Middle joint of a two-link chain from `root` to `end`, on the side of the unit vector `bend`."""
    chord = end - root
    d = np.linalg.norm(chord, axis=-1)
    if np.any(d > (first + second) * 1.001):
        i = int(np.argmax(d))
        raise ValueError(f"a limb over-reaches: {d[i]:.1f} px for {first + second:.1f} px of segments (sample {i})")
    d = np.minimum(d, first + second)
    along = (first**2 + d**2 - second**2) / (2 * d)
    across = np.sqrt(np.maximum(first**2 - along**2, 0.0))
    u = chord / d[:, None]
    perp = np.stack([-u[:, 1], u[:, 0]], axis=-1)
    perp *= np.sign(np.sum(perp * bend, axis=-1))[:, None]
    return root + along[:, None] * u + across[:, None] * perp


@dataclass(frozen=True)
class Foot:
    """Plants as (contact time, lift-off time, ankle x); the foot swings between them."""

    plants: tuple[tuple[float, float, float], ...]
    lift: float  # swing height, fraction of standing height
    landing_speed: float = 0.3  # forward speed at contact, share of the swing's mean: a striding foot lands moving
    leaves_fast: bool = False  # a trailing foot is dragged off the ground
    reach_by: float = 1.0  # share of the swing after which the foot only comes down (a batter's placed stride)

    def ankle(self, t: Array, ground: float, height: float, facing: int) -> Array:
        x = np.full(t.shape, self.plants[0][2])
        y = np.full(t.shape, ground)
        for (on, off, x0), (on1, _, x1) in zip(self.plants, self.plants[1:]):
            swing = (t > off) & (t < on1)
            s = (t[swing] - off) / (on1 - off)
            a = self.landing_speed
            s = np.minimum(s / self.reach_by, 1.0) if not self.leaves_fast else s
            shape = (2 * s - s**2) if self.leaves_fast else (1 - a) * (3 * s**2 - 2 * s**3) + a * (2 * s**2 - s**3)
            x[swing] = x0 + (x1 - x0) * shape
            y[swing] = ground - self.lift * height * np.sin(np.pi * (t[swing] - off) / (on1 - off))
            x[t >= on1] = x1
        return np.stack([x, y], axis=-1)

    @property
    def contacts(self) -> tuple[float, ...]:
        return tuple(p[0] for p in self.plants[1:])


@dataclass(eq=False)
class Model:
    """A player whose pose is known at every instant."""

    height: float
    facing: int
    front: str  # the player's front side: "left" for a right-hander
    ground: float  # ankle y when standing
    hip_x: Callable[[Array], Array]
    hip_up: Callable[[Array], Array]  # hip centre height above the ankles' ground level, px
    lean: Callable[[Array], Array]  # trunk forward lean from vertical, deg
    turn: Callable[[Array], Array]  # shoulder turn: 0 side-on (shoulders wide in the picture), 90 chest-on
    feet: dict[str, Foot]
    arms: Callable[[Model, Array, dict[str, Array]], dict[str, tuple[Array, Array]]]
    events: dict[str, float | None] = field(default_factory=dict)
    duration: float = 1.5
    stance_knee: tuple[str, float, Callable[[Array], Array]] | None = None  # (side, from time, knee angle)

    @property
    def back(self) -> str:
        return "right" if self.front == "left" else "left"

    def parts(self, t: Array) -> dict[str, Array]:
        """Named landmark positions, each (len(t), 2), for the times `t` (seconds)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        h, f = self.height, self.facing
        turn = np.radians(self.turn(t))
        hip_half = (0.06 * h * np.cos(0.7 * turn))[:, None] * np.array([f, 0.0])
        hip_up = self.hip_up(t)
        if self.stance_knee is not None:
            side, start, knee = self.stance_knee
            on = t >= start
            sign = 1.0 if side == self.front else -1.0
            dx = self.feet[side].ankle(t[on], self.ground, h, f)[:, 0] - (self.hip_x(t[on]) + sign * hip_half[on, 0])
            chord = np.sqrt(THIGH**2 + SHANK**2 - 2 * THIGH * SHANK * np.cos(np.radians(knee(t[on])))) * h
            hip_up[on] = np.sqrt(chord**2 - dx**2)
        hip = np.stack([self.hip_x(t), self.ground - hip_up], axis=-1)
        lean = np.radians(self.lean(t))
        up = np.stack([f * np.sin(lean), -np.cos(lean)], axis=-1)
        ahead = np.stack([f * np.cos(lean), np.sin(lean)], axis=-1)
        shoulders = hip + TRUNK * h * up
        sh_half = (0.10 * h * np.cos(turn))[:, None] * np.array([f, 0.0])
        p: dict[str, Array] = {
            f"{self.front}_shoulder": shoulders + sh_half, f"{self.back}_shoulder": shoulders - sh_half,
            f"{self.front}_hip": hip + hip_half, f"{self.back}_hip": hip - hip_half,
        }
        forward = np.array([f, 0.0])
        for side, foot in self.feet.items():
            ankle = foot.ankle(t, self.ground, h, f)
            p[f"{side}_ankle"] = ankle
            p[f"{side}_knee"] = _ik(p[f"{side}_hip"], ankle, THIGH * h, SHANK * h, forward)
            p[f"{side}_heel"] = ankle + np.array([-f * HEEL_BACK * h, ANKLE_HEIGHT * h])
            p[f"{side}_foot_index"] = ankle + np.array([f * TOE_FORWARD * h, ANKLE_HEIGHT * h])
        for side, (elbow, wrist) in self.arms(self, t, p).items():
            p[f"{side}_elbow"], p[f"{side}_wrist"] = elbow, wrist
            fore = (wrist - elbow) / np.linalg.norm(wrist - elbow, axis=-1, keepdims=True)
            across = np.stack([-fore[:, 1], fore[:, 0]], axis=-1)
            p[f"{side}_index"] = wrist + 0.08 * h * fore
            p[f"{side}_pinky"] = wrist + 0.07 * h * fore + 0.012 * h * across
            p[f"{side}_thumb"] = wrist + 0.05 * h * fore - 0.012 * h * across
        nose = shoulders + NECK_UP * h * up + NOSE_FORWARD * h * ahead
        p["nose"] = nose
        for side, sign in (("left", 1.0), ("right", -1.0)):
            p[f"{side}_ear"] = shoulders + 0.105 * h * up - 0.01 * h * ahead
            eye = nose + 0.012 * h * up - 0.008 * h * ahead
            p[f"{side}_eye"] = eye
            p[f"{side}_eye_inner"] = eye + 0.004 * h * ahead
            p[f"{side}_eye_outer"] = eye - 0.004 * h * ahead
            p[f"mouth_{side}"] = nose - 0.02 * h * up - 0.005 * h * ahead + sign * 0.002 * h * up
        return p

    def xy(self, t: Array) -> Array:
        p = self.parts(t)
        out = np.empty((len(np.atleast_1d(t)), COUNT, 2))
        for name, i in INDEX.items():
            out[:, i] = p[name]
        return out

    def angle(self, t: float, a: str, b: str, c: str) -> float:
        p = self.parts(np.array([t]))
        return float(geometry.joint_angle(p[a], p[b], p[c])[0])

    def dense(self) -> tuple[Array, dict[str, Array]]:
        t = np.arange(0.0, self.duration, 1.0 / DENSE_HZ)
        return t, self.parts(t)


def _speed(t: Array, p: Array) -> Array:
    return np.linalg.norm(np.gradient(p, t, axis=0), axis=-1)


def _first_below_after(t: Array, v: Array, start: float, level: float) -> float:
    i = np.flatnonzero((t > start) & (v < level))
    return float(t[i[0]])


# ---------------------------------------------------------------- bowling

def bowling(height: float = 400.0, facing: int = 1, arm: str = "right", x0: float | None = None,
            ground: float | None = None) -> Model:
    """A right-arm (or left-arm) fast bowler through the delivery stride, from side-on.

    Back-foot contact at 0.35 s, front-foot contact at 0.55 s, release near
    0.65 s (see `events`), the arm finishing its swing across the body by about 1 s.
    """
    s = height / 400.0
    ground = 640.0 * s if ground is None else ground
    x0 = (180.0 * s if facing > 0 else 1280.0 - 180.0 * s) if x0 is None else x0
    front = "left" if arm == "right" else "right"
    back = arm

    def x(u: float) -> float:  # a forward distance from the start, in px
        return x0 + facing * u * s

    hip_x = curve((0, x(0)), (0.35, x(260)), (0.55, x(420)), (0.65, x(480)), (0.85, x(560)), (0.95, x(580)),
                  (1.5, x(580)))
    bfc, ffc = 0.35, 0.55
    feet = {
        back: Foot(((-1.0, 0.02, x(-60)), (bfc, 0.50, x(270)), (0.95, 9.0, x(605))), lift=0.10, leaves_fast=True),
        front: Foot(((-1.0, 0.08, x(60)), (ffc, 9.0, x(550))), lift=0.12, landing_speed=0.0),
    }

    def knee_height(knee_deg: float, dx: float) -> float:
        d = math.sqrt(THIGH**2 + SHANK**2 - 2 * THIGH * SHANK * math.cos(math.radians(knee_deg))) * height
        return math.sqrt(d**2 - dx**2)

    # the front hip leads the centre by the hip half-width (turn 20 deg at FFC, 80 at release)
    ffc_dx = 550 * s - 420 * s - 0.06 * height * math.cos(math.radians(0.7 * 20))
    hip_up = curve((0, 185 * s), (0.12, 192 * s), (0.35, 188 * s), (0.47, 160 * s), (ffc, knee_height(165, ffc_dx)))
    front_knee = curve((ffc, 165), (0.63, 171), (0.75, 165), (0.95, 150), (1.5, 150))
    lean = curve((0, 5), (0.35, -10), (0.55, 0), (0.65, 25), (0.85, 50), (0.95, 45), (1.5, 45))
    turn = curve((0, 20), (0.35, 0), (0.55, 20), (0.65, 80), (0.85, 90), (1.5, 90))
    bowl = curve((0, 30), (0.35, 50), (0.55, 100), (0.65, 200), (0.75, 290), (0.95, 380), (1.5, 380))
    bowl_elbow = curve((0, 150), (0.5, 160), (0.65, 172), (0.8, 165), (0.95, 160), (1.5, 160))
    lead = curve((0, 60), (0.35, 160), (0.55, 140), (0.65, 60), (0.85, -10), (0.95, -20), (1.5, -20))

    def arms(model: Model, t: Array, p: dict[str, Array]) -> dict[str, tuple[Array, Array]]:
        out = {}
        for side, upper, elbow in ((arm, -bowl(t), bowl_elbow(t)), (front, lead(t), np.full(t.shape, 150.0))):
            sh = p[f"{side}_shoulder"]
            e = sh + UPPER_ARM * height * _dir(upper, facing)
            turn_in = -(180.0 - elbow) if side == arm else 180.0 - elbow
            out[side] = (e, e + FOREARM * height * _dir(upper + turn_in, facing))
        return out

    model = Model(height, facing, front, ground, hip_x, hip_up, lean, turn, feet, arms, duration=1.5,
                  stance_knee=(front, ffc, front_knee))
    t, p = model.dense()
    wrist = p[f"{arm}_wrist"]
    window = (t > ffc) & (t < ffc + 0.35)
    release = float(t[window][np.argmin(wrist[window, 1])])
    upper_dy = p[f"{arm}_elbow"][:, 1] - p[f"{arm}_shoulder"][:, 1]
    up_through = np.flatnonzero((upper_dy[:-1] > 0) & (upper_dy[1:] <= 0) & (t[:-1] < release))[-1]
    hips = (p["left_hip"] + p["right_hip"]) / 2
    from worker.analysis.events import V_REST  # the detector's definition of "at rest"
    rel_speed = _speed(t, wrist - hips) / (CHAIN * height)
    model.events = {
        "back_foot_contact": bfc,
        "front_foot_contact": ffc,
        "upper_arm_horizontal": float(t[up_through]),
        "release": release,
        "end_of_follow_through": _first_below_after(t, rel_speed, release + 0.1, V_REST),
    }
    return model


# ---------------------------------------------------------------- batting

def _bezier(p0: Array, p1: Array, p2: Array, p3: Array, n: int = 4001) -> Array:
    u = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - u) ** 3 * p0 + 3 * (1 - u) ** 2 * u * p1 + 3 * (1 - u) * u**2 * p2 + u**3 * p3


def _along(path: Array, distance: Array) -> Array:
    seg = np.linalg.norm(np.diff(path, axis=0), axis=-1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    return np.stack([np.interp(distance, arc, path[:, k]) for k in (0, 1)], axis=-1)


def _length(path: Array) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=-1).sum())


def drive(height: float = 400.0, facing: int = 1, stance: str = "right", x0: float | None = None,
          ground: float | None = None, impact: float = 1.10, hand_speed: float = 2000.0) -> Model:
    """A front-foot drive: still stance, backlift from 0.5 s, front foot lands at 0.95 s, impact at `impact`."""
    s = height / 400.0
    ground = 640.0 * s if ground is None else ground
    x0 = (560.0 * s if facing > 0 else 1280.0 - 560.0 * s) if x0 is None else x0
    front = "left" if stance == "right" else "right"
    back = stance

    def at(u: float, v: float) -> Array:  # forward u, up v from (x0, ground), px at 400 px height
        return np.array([x0 + facing * u * s, ground - v * s])

    land = 0.95
    feet = {
        back: Foot(((-1.0, 9.0, at(-60, 0)[0]),), lift=0.0),
        front: Foot(((-1.0, 0.70, at(60, 0)[0]), (land, 9.0, at(160, 0)[0])), lift=0.04, landing_speed=0.0,
                    reach_by=0.8),
    }
    hip_x = curve((0, x0), (0.60, x0), (land, at(55, 0)[0]), (impact, at(60, 0)[0]), (1.3, at(62, 0)[0]),
                  (2.0, at(62, 0)[0]))
    hip_up = curve((0, 190 * s), (0.60, 190 * s), (land, 170 * s), (impact, 160 * s), (1.3, 162 * s),
                   (2.0, 162 * s))
    lean = curve((0, 15), (0.60, 15), (land, 20), (impact, 25), (1.35, 15), (2.0, 15))
    turn = curve((0, 30), (0.60, 20), (impact, 65), (impact + 0.15, 88), (2.0, 90))

    stance_hands, top, hit, finish = at(25, 190), at(0, 315), at(115, 185), at(140, 370)
    down = _bezier(top, top + np.array([0, 100.0 * s]), hit - np.array([facing * 130.0 * s, 0]), hit)
    up = _bezier(hit, hit + np.array([facing * 130.0 * s, 0]), finish + np.array([facing * 60.0 * s, 100.0 * s]),
                 finish)
    vp = hand_speed * s
    swing_t = 2 * _length(down) / vp  # the follow-through mirrors the downswing's speed profile
    if _length(up) < _length(down):
        raise ValueError("the follow-through path is shorter than the downswing")
    top_t, finish_t = impact - swing_t, impact + swing_t
    finish = _along(up, np.array([_length(down)]))[0]
    backlift_t = 0.50

    def hands(t: Array) -> Array:
        out = np.repeat(stance_hands[None], len(t), axis=0)
        lift = (t > backlift_t) & (t <= top_t)
        u = ((t[lift] - backlift_t) / (top_t - backlift_t))[:, None]
        out[lift] = stance_hands + (top - stance_hands) * (10 * u**3 - 15 * u**4 + 6 * u**5)
        swing = (t > top_t) & (t <= impact)
        q = (t[swing] - top_t) / swing_t
        out[swing] = _along(down, vp * swing_t / 2 * (q - np.sin(np.pi * q) / np.pi))
        follow = (t > impact) & (t < finish_t)
        q = (t[follow] - impact) / swing_t
        out[follow] = _along(up, vp * swing_t / 2 * (q + np.sin(np.pi * q) / np.pi))
        out[t >= finish_t] = finish
        return out

    def arms(model: Model, t: Array, p: dict[str, Array]) -> dict[str, tuple[Array, Array]]:
        h = hands(t)
        grip = np.array([0.0, 0.02 * height])
        out = {}
        for side, wrist in ((front, h - grip), (back, h + grip)):
            elbow = _ik(p[f"{side}_shoulder"], wrist, UPPER_ARM * height, FOREARM * height, np.array([0.0, 1.0]))
            out[side] = (elbow, wrist)
        return out

    model = Model(height, facing, front, ground, hip_x, hip_up, lean, turn, feet, arms, duration=2.0)
    landed = model.angle(land, f"{front}_hip", f"{front}_knee", f"{front}_ankle")
    knee = curve((land, landed), (land + 0.03, landed + 0.5), (land + 0.08, landed - 4.0), (impact, 134.0),
                 (1.3, 136.0), (2.0, 136.0))
    model.stance_knee = (front, land, knee)
    t, p = model.dense()
    from worker.analysis.events import V_MOVE, V_REST, V_STILL
    body = CHAIN * height
    hand_points = [f"{side}_{part}" for side in ("left", "right") for part in ("wrist", "index", "pinky", "thumb")]
    hand_speed_t = _speed(t, sum(p[n] for n in hand_points) / len(hand_points)) / body
    hips = (p["left_hip"] + p["right_hip"]) / 2
    rel = _speed(t, (p["left_wrist"] + p["right_wrist"]) / 2 - hips) / body
    moving = np.flatnonzero(hand_speed_t >= V_STILL)
    model.events = {
        "set_position": float(t[moving[0] - 1]),
        "trigger": float(t[np.flatnonzero(hand_speed_t >= V_MOVE)[0]]),
        "front_foot_landing": land,
        "top_of_backlift": top_t,
        "impact": impact,
        "end_of_follow_through": _first_below_after(t, rel, impact + 0.1, V_REST),
    }
    return model


# ---------------------------------------------------------------- sampling

def sample(model: Model, fps: float, noise_px: float = 0.0, drop: float = 0.0, seed: int = 0,
           until: float | None = None, visibility: float = 0.9) -> tuple[PoseSeries, np.ndarray]:
    """The model filmed at `fps`: Gaussian pixel noise, a share `drop` of frames lost (no pose)."""
    rng = np.random.default_rng(seed)
    end = model.duration if until is None else until
    t = np.arange(0.0, end, 1.0 / fps)
    xy = model.xy(t) + rng.normal(0.0, noise_px, (len(t), COUNT, 2)) if noise_px else model.xy(t)
    vis = np.full((len(t), COUNT), visibility)
    lost = np.zeros(len(t), dtype=bool)
    if drop:
        lost[rng.choice(np.arange(2, len(t) - 2), int(drop * len(t)), replace=False)] = True
        xy[lost] = np.nan
        vis[lost] = 0.0
    return PoseSeries(t=t, xy=xy, visibility=vis), ~lost
