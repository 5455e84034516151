"""How close to the truth any reading of a joint angle at an event can be, on the kinematic players.

Run from the repository root: `.venv/bin/python scripts/event_angle_bound.py [NOISE_PX]` (default 2 px,
400 px player). docs/metrics.md ("Accuracy on synthetic players, and limits") quotes it.

Why: issue #12 asks for every event angle within 3 degrees at 2 px noise. scripts/event_accuracy.py
shows how far the worker's reading is; this script shows how far the best reading could be, so that a
miss can be told apart from a fault. Pixel noise on the three landmarks moves one frame's angle by
sigma_1 (computed here from the model's own geometry at the event); only averaging frames reduces it,
and averaging frames while the angle changes biases the reading. The trade-off has a floor:

- the class: every angle curve whose curvature |theta''| at each instant is no larger than the model's
  own there (its local maximum within 10 ms), plus a free change of slope at the contact of the leg
  the joint belongs to (the front knee when that foot lands): curves no rougher than the model's;
- the reading: any weighted sum of the frames within +-K frames of the true event time (time known
  exactly, no frame lost: both favour the reader), exact for straight lines and for that slope change;
- its risk: the largest bias over the class (the Peano-kernel bound) plus 2.58 spreads of the noise
  (99 readings in 100 inside it), minimised over the weights and over K.

A minimax risk above 3 degrees means no linear reading, however tuned, keeps 99 clips in 100 within
3 degrees for every curve as smooth as the model's; by Donoho (1994, Ann. Statist. 22:238) a non-linear
one gains at most about 12 % in root-mean-square error over such a class. Dropped frames and
event-time errors only add to the floor.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis import kinematics as kin  # noqa: E402
from worker.analysis import geometry  # noqa: E402

Z = 2.58  # spreads either side that hold 99 % of Gaussian noise
DS = 1e-3  # s, grid of the curvature envelope
ENVELOPE_S = 0.01  # the envelope is the curve's largest |theta''| within this of each instant
HALF_WINDOWS_S = (0.05, 0.067, 0.083, 0.1, 0.133, 0.15, 0.2, 0.25, 0.3)


def per_frame_spread(m: kin.Model, names: tuple[str, str, str], t: float, noise_px: float) -> float:
    """One frame's angle spread from `noise_px` on each coordinate of the three landmarks (linearised)."""
    p = m.parts(np.array([t]))
    base = np.stack([p[n][0] for n in names])
    grad = np.zeros(base.shape)
    for i in np.ndindex(base.shape):
        step = np.zeros(base.shape)
        step[i] = 1e-4
        hi, lo = base + step, base - step
        grad[i] = (geometry.joint_angle(*hi) - geometry.joint_angle(*lo)) / 2e-4
    return float(noise_px * np.linalg.norm(grad))


def envelope(m: kin.Model, names: tuple[str, str, str], t: float, span: float, kinks: list[float]):
    """(s, M(s)): the model's local curvature envelope around `t`, the slope changes at `kinks` left out."""
    s = np.arange(-span - ENVELOPE_S, span + ENVELOPE_S + DS / 2, DS)
    p = m.parts(t + s)
    a = geometry.joint_angle(*(p[n] for n in names))
    d2 = np.full_like(a, np.nan)
    d2[1:-1] = np.abs(np.diff(a, 2)) / DS**2
    for k in kinks:
        d2[np.abs(s - k) < 2.5 * DS] = np.nan
    r = int(round(ENVELOPE_S / DS))
    env = np.array([np.nanmax(d2[max(0, i - r):i + r + 1]) for i in range(len(s))])
    keep = np.abs(s) <= span + 1e-12
    return s[keep], env[keep]


def minimax_risk(fps: float, sigma: float, s: np.ndarray, env: np.ndarray, k_frames: int,
                 kinks: list[float]) -> tuple[float, float, float]:
    """(risk, worst bias, noise spread) of the best weights on frames -K..K; see the module docstring."""
    x = np.arange(-k_frames, k_frames + 1) / fps
    pos, neg = s > 0, s < 0
    peano_pos = np.maximum(x[None, :] - s[pos][:, None], 0.0) * (env[pos] * DS)[:, None]
    peano_neg = np.maximum(s[neg][:, None] - x[None, :], 0.0) * (env[neg] * DS)[:, None]
    peano = np.vstack([peano_pos, peano_neg])
    exact = [np.ones_like(x), x] + [np.maximum(np.sign(k) * (x - k), 0.0) if k else np.maximum(x, 0.0)
                                    for k in kinks if abs(k) <= x[-1] + 1e-9]
    c = np.array(exact)
    b = np.zeros(len(c))
    b[0] = 1.0
    w0 = np.linalg.lstsq(c, b, rcond=None)[0]
    free = null_space(c)

    def risk(w: np.ndarray, smooth: float = 0.0) -> float:
        return float(np.sum(np.sqrt((peano @ w) ** 2 + smooth)) + Z * sigma * np.linalg.norm(w))

    starts = [np.zeros(free.shape[1])] + [free.T @ (cand - w0) for cand in _kernels(x, c, b)]
    best = min((w0 + free @ minimize(lambda z: risk(w0 + free @ z, 1e-8), z, method="L-BFGS-B").x
                for z in starts), key=risk)
    return risk(best), float(np.sum(np.abs(peano @ best))), float(sigma * np.linalg.norm(best))


def _kernels(x: np.ndarray, c: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Plain kernels made exact for the constraints: starting points the optimiser can only improve on."""
    out = []
    for shape in (np.ones_like(x), 1 - (x / (x[-1] + 1e-9)) ** 2):
        w = shape / shape.sum()
        out.append(w - c.T @ np.linalg.solve(c @ c.T, c @ w - b))
    return out


def main() -> None:
    noise = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(f"400 px player, {noise:g} px noise: minimax risk = worst bias + {Z} x noise spread (degrees)")
    for kind in ("bowling", "batting"):
        m = kin.bowling() if kind == "bowling" else kin.drive()
        f, arm = m.front, m.back
        knee = (f"{f}_hip", f"{f}_knee", f"{f}_ankle")
        elbow = (f"{arm}_shoulder", f"{arm}_elbow", f"{arm}_wrist")
        contact = m.events["front_foot_contact" if kind == "bowling" else "front_foot_landing"]
        cases = [(knee, "front_foot_contact"), (knee, "release"), (elbow, "upper_arm_horizontal"),
                 (elbow, "release")] if kind == "bowling" else [(knee, "front_foot_landing"), (knee, "impact")]
        for names, event in cases:
            t = m.events[event]
            sigma = per_frame_spread(m, names, t, noise)
            for fps in (60, 30):
                if names == elbow and fps < 50:
                    continue  # the elbow indicator is null below 50 fps
                tries = []
                for half in HALF_WINDOWS_S:
                    k = int(round(half * fps))
                    kinks = [contact - t] if names == knee and abs(contact - t) <= k / fps else []
                    s, env = envelope(m, names, t, (k + 0.5) / fps, kinks)
                    tries.append((minimax_risk(fps, sigma, s, env, k, kinks), k))
                (risk, bias, spread), k = min(tries)
                print(f"  {kind:8s} {names[1]:11s} at {event:22s} {fps} fps: one frame {sigma:.2f}, "
                      f"risk {risk:.2f} = bias {bias:.2f} + {Z} x {spread:.2f} (best window +-{k} frames)")


if __name__ == "__main__":
    main()
