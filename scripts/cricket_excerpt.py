"""Print the `cricket` block for a synthetic bowler and batter (tests/analysis/kinematics.py), for the README.

Run from the repository root: `.venv/bin/python scripts/cricket_excerpt.py`. The players are the
kinematic models the event tests use, filmed side-on at 60 fps with 2 px of landmark noise.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis import kinematics as kin  # noqa: E402
from worker.analysis.cricket import analyse_cricket  # noqa: E402
from worker.options import parse_options  # noqa: E402


def excerpt(block: dict, metrics: tuple[str, ...]) -> dict:
    """The activity, the event times and a few metrics: what a reader needs to see the shape."""
    return {
        "activity": block["activity"],
        "events": {name: {k: e[k] for k in ("time_s", "confidence")} for name, e in block["events"].items()},
        "metrics": {name: {k: block["metrics"][name].get(k) for k in ("units", "value", "confidence", "reason")}
                    for name in metrics if name in block["metrics"]},
    }


def main() -> None:
    for model, options, metrics in (
        (kin.bowling(), {"view": "side-on"}, ("front_knee_angle_at_front_foot_contact", "stride_length",
                                              "trunk_lateral_flexion_at_release", "bowling_elbow_extension")),
        (kin.drive(), {"view": "side-on"}, ("front_knee_angle_at_impact", "head_position_at_impact",
                                            "backlift_height")),
    ):
        series, usable = kin.sample(model, 60.0, 2.0, 0.05, seed=7)
        block = analyse_cricket(series, usable, parse_options(options), 60.0)
        out = excerpt(block, metrics)
        # One line per event and per metric: the excerpt stays short enough to read in the README.
        lines = [f' "activity": {json.dumps(out["activity"])},', ' "events": {']
        lines += [f'  "{k}": {json.dumps(v)},' for k, v in out["events"].items()]
        lines[-1] = lines[-1].rstrip(",")
        lines += [' },', ' "metrics": {']
        lines += [f'  "{k}": {json.dumps(v)},' for k, v in out["metrics"].items()]
        lines[-1] = lines[-1].rstrip(",")
        print("{\n" + "\n".join(lines) + "\n }\n}")


if __name__ == "__main__":
    main()
