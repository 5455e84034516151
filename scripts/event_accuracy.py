"""Measure the cricket events and event angles on the kinematic players (tests/analysis/kinematics.py).

Run from the repository root: `.venv/bin/python scripts/event_accuracy.py [SEEDS]` (default 40 noise
draws per filming). For each filming (frame rate, player height, landmark noise; 5 % of frames lost) it
prints, per event, the mean, root-mean-square and worst timing error in frames, and per angle at an
event the same in degrees. The figures in docs/metrics.md ("Accuracy on synthetic players") come from it.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis import kinematics as kin  # noqa: E402
from worker.analysis.cricket import analyse_cricket  # noqa: E402
from worker.options import parse_options  # noqa: E402

FILMING = [(60, 400, 2.0), (30, 400, 2.0), (60, 120, 1.0), (30, 120, 1.0)]


def truths(m: kin.Model, kind: str) -> dict[str, float]:
    """The model's angles at its events, under the names of the result's metrics."""
    f, arm = m.front, m.back
    knee = lambda e: m.angle(m.events[e], f"{f}_hip", f"{f}_knee", f"{f}_ankle")  # noqa: E731
    if kind == "batting":
        return {"front_knee_angle_at_front_foot_landing": knee("front_foot_landing"),
                "front_knee_angle_at_impact": knee("impact")}
    elbow = lambda e: m.angle(m.events[e], f"{arm}_shoulder", f"{arm}_elbow", f"{arm}_wrist")  # noqa: E731
    p = m.parts(np.array([m.events["release"]]))
    trunk = (p["left_shoulder"] + p["right_shoulder"] - p["left_hip"] - p["right_hip"])[0] / 2
    return {"front_knee_angle_at_front_foot_contact": knee("front_foot_contact"),
            "front_knee_angle_at_release": knee("release"),
            "bowling_elbow_extension": elbow("release") - elbow("upper_arm_horizontal"),
            "bowling_elbow_extension.at_upper_arm_horizontal": elbow("upper_arm_horizontal"),
            "bowling_elbow_extension.at_release": elbow("release"),
            "trunk_forward_flexion_at_release": m.facing * math.degrees(math.atan2(trunk[0], -trunk[1]))}


def reading(out: dict, name: str) -> float | None:
    metric, _, key = name.partition(".")
    return out["metrics"][metric].get(key or "value")


def line(name: str, errors: list[float | None], unit: str) -> str:
    known = np.array([e for e in errors if e is not None])
    nulls = len(errors) - known.size
    if not known.size:
        return f"  {name:50s} all null"
    worst = known[np.argmax(np.abs(known))]
    return (f"  {name:50s} mean {known.mean():+.2f}  rms {np.sqrt(np.mean(known ** 2)):.2f}  worst {worst:+.2f} "
            f"{unit}" + (f"  ({nulls} null)" if nulls else ""))


def main() -> None:
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
    for kind in ("bowling", "batting"):
        for fps, height, noise in FILMING:
            m = kin.bowling(height=height) if kind == "bowling" else kin.drive(height=height)
            truth = truths(m, kind)
            times: dict[str, list] = {}
            angles: dict[str, list] = {}
            for seed in seeds:
                series, usable = kin.sample(m, fps, noise, 0.05, seed=seed)
                out = analyse_cricket(series, usable, parse_options({"view": "side-on"}), fps)
                for name, event in out["events"].items():
                    t = event["time_s"]
                    times.setdefault(name, []).append(None if t is None else (t - m.events[name]) * fps)
                for name, value in truth.items():
                    got = reading(out, name)
                    angles.setdefault(name, []).append(None if got is None else got - value)
            print(f"{kind}, {fps} fps, {height:g} px player, {noise:g} px noise, {len(seeds)} draws")
            print("\n".join(line(n, e, "frames") for n, e in times.items()))
            print("\n".join(line(n, e, "deg") for n, e in angles.items()))


if __name__ == "__main__":
    main()
