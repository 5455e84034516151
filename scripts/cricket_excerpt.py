"""Print the `cricket` block for a synthetic bowler and batter (tests/analysis/kinematics.py), for the README.

Run from the repository root: `.venv/bin/python scripts/cricket_excerpt.py [--strip DIR]`. The players
are the kinematic models the event tests use, filmed side-on at 60 fps with 2 px of landmark noise. With
`--strip`, it also writes the event strips `DIR/event_strip_bowling.png` and `DIR/event_strip_batting.png`
through the pipeline's own strip code (worker/analysis/strip.py), the "player" drawn as a plain
silhouette of the model's true pose under the skeleton the analysis measured.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis import kinematics as kin  # noqa: E402
from worker.analysis.cricket import analyse_cricket  # noqa: E402
from worker.analysis import geometry  # noqa: E402
from worker.analysis.filters import lowpass  # noqa: E402
from worker.analysis.landmarks import INDEX  # noqa: E402
from worker.analysis.pictures import CropReservoir  # noqa: E402
from worker.analysis.series import PoseSeries  # noqa: E402
from worker.analysis.strip import event_cells, event_strip  # noqa: E402
from worker.options import parse_options  # noqa: E402

LIMBS = [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
         ("right_shoulder", "right_hip")] + [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right") for a, b in (
             ("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"), ("heel", "foot_index"))]
JOINTS = {"elbow": ("shoulder", "elbow", "wrist"), "knee": ("hip", "knee", "ankle")}


def excerpt(block: dict, metrics: tuple[str, ...]) -> dict:
    """The activity, the event times and a few metrics: what a reader needs to see the shape."""
    return {
        "activity": block["activity"],
        "events": {name: {k: e[k] for k in ("time_s", "confidence")} for name, e in block["events"].items()},
        "metrics": {name: {k: block["metrics"][name].get(k) for k in ("units", "value", "confidence", "reason")}
                    for name in metrics if name in block["metrics"]},
    }


def silhouette(model: kin.Model, t: float) -> np.ndarray:
    """A 1280 x 720 frame: the model's true pose as a thick grey figure on a pitch-coloured background."""
    image = np.full((720, 1280, 3), (70, 120, 80), np.uint8)
    p = {k: v[0] for k, v in model.parts(np.array([t])).items()}
    width = max(2, int(model.height * 0.05))
    for a, b in LIMBS:
        cv2.line(image, tuple(int(v) for v in p[a]), tuple(int(v) for v in p[b]), (200, 200, 200), width, cv2.LINE_AA)
    cv2.circle(image, tuple(int(v) for v in p["nose"]), int(model.height * 0.06), (200, 200, 200), -1, cv2.LINE_AA)
    return image


def strip(model: kin.Model, series: PoseSeries, usable: np.ndarray, block: dict, path: Path) -> None:
    """The event strip the pipeline would draw for this clip, the silhouette standing in for the video."""
    crops = CropReservoir()
    for row, t in enumerate(series.t):
        if crops.wants(row) and usable[row]:
            known = series.xy[row][np.isfinite(series.xy[row]).all(axis=1)]
            box = (*known.min(axis=0), *known.max(axis=0))
            crops.offer(row, silhouette(model, float(t)), box)
    angles = {}
    for side in ("left", "right"):
        for joint, (a, b, c) in JOINTS.items():
            raw = geometry.joint_angle(*(series.xy[:, INDEX[f"{side}_{n}"]] for n in (a, b, c)))
            angles[f"{side}_{joint}_angle"] = lowpass(series.t, raw)
    cells = event_cells(block, crops, series.t, series.xy, series.visibility, angles, usable)
    event_strip(cells, block["handedness"]["front_side"], path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strip", type=Path, help="also write the two event strips into this directory")
    args = parser.parse_args()
    for model, options, metrics in (
        (kin.bowling(), {"view": "side-on"}, ("front_knee_angle_at_front_foot_contact", "stride_length",
                                              "trunk_lateral_flexion_at_release", "bowling_elbow_extension")),
        (kin.drive(), {"view": "side-on"}, ("front_knee_angle_at_impact", "head_position_at_impact",
                                            "backlift_height")),
    ):
        series, usable = kin.sample(model, 60.0, 2.0, 0.05, seed=7)
        block = analyse_cricket(series, usable, parse_options(options), 60.0)
        if args.strip is not None:
            strip(model, series, usable, block, args.strip / f"event_strip_{block['activity']['value']}.png")
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
