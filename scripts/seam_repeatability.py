"""How far two processes move the numbers, next to how far one process moves them on the same clip shifted by a pixel.

Run by hand from the repository root:

    .venv/bin/python scripts/seam_repeatability.py [--seconds 8] [--shifts 1,-1,2]

A later segment starts its tracker afresh, so after the seam its crops and
landmarks differ by a pixel or two from a single pass's (README, "One clip on
every vCPU"). Whether that matters is a question of the instrument's own
repeatability: the clip of tests/analysis/test_parallel.py (a photo moved,
zoomed and turned) is analysed on one process as it is and moved sideways by
whole pixels, which changes no angle in the picture, and on two processes as it
is. Each run is compared with the one-process run of the unmoved clip: the
largest difference of the angle means, of single values (extensions, the
angles at events), of the extremes (minima, maxima), of event and key-moment
times where both found one, and which events and key moments one found and
the other did not.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.analysis.helpers import MOVING, degree_summaries  # noqa: E402
from tests.support.media import Motion, person_photo, synthesize_video  # noqa: E402
from worker.analysis import AnalysisOptions, analyze  # noqa: E402


def _degrees(result: dict, keys: tuple[str, ...]) -> dict[str, float]:
    return {**degree_summaries(result["metrics"], keys), **degree_summaries(result["cricket"]["metrics"], keys)}


def _confidence(result: dict, name: str) -> float | None:
    metric = result["metrics"].get(name) or result["cricket"]["metrics"].get(name) or {}
    return metric.get("confidence")


def _times(result: dict) -> dict[str, float | None]:
    events = {f"event {k}": v["time_s"] for k, v in result["cricket"]["events"].items()}
    moments = {f"moment {k}": (v or {}).get("time_s") for k, v in result["pose"]["key_moments"].items()}
    return {**events, **moments}


def compare(base: dict, other: dict) -> dict[str, float | int | str]:
    """The largest differences of `other` from `base` (degrees, seconds, and where) and the flips."""
    def worst(keys: tuple[str, ...]) -> tuple[float, str]:
        a, b = _degrees(base, keys), _degrees(other, keys)
        if a.keys() != b.keys():
            return np.inf, "a summary found by one only: " + ", ".join(sorted(a.keys() ^ b.keys()))
        size, key = max(((abs(a[k] - b[k]), k) for k in a), default=(0.0, ""))
        return size, f"{key}, confidence {_confidence(base, key.split('.')[0])}" if key else key

    ta, tb = _times(base), _times(other)
    both = [k for k in ta if ta[k] is not None and tb.get(k) is not None]
    (means, where_mean), (values, where_value) = worst(("mean",)), worst(("value",))
    extremes, where_extreme = worst(("min", "max"))
    return {
        "means_deg": means, "where_mean": where_mean, "values_deg": values, "where_value": where_value,
        "extremes_deg": extremes, "where_extreme": where_extreme,
        "times_s": max((abs(ta[k] - tb[k]) for k in both), default=0.0),
        "flips": ", ".join(k for k in ta if (ta[k] is None) != (tb.get(k) is None)) or "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--shifts", default="1,-1,2", help="whole-pixel sideways moves of the clip")
    args = parser.parse_args()
    base = dataclasses.replace(MOVING, seconds=args.seconds)
    photo = person_photo("messi")
    work = Path(tempfile.mkdtemp(prefix="seam-repeatability-"))

    def run(motion: Motion, processes: int) -> dict:
        name = f"shift{motion.shift_x[0]:+.5f}-p{processes}"
        video = work / f"{name}.mp4"
        if not video.exists():
            synthesize_video(photo, video, motion)
        out = work / name
        out.mkdir()
        return analyze(video, out, options=AnalysisOptions(processes=processes))

    reference = run(base, 1)
    rows = []
    for px in [int(p) for p in args.shifts.split(",") if p]:
        step = px / base.size[0]
        moved = dataclasses.replace(base, shift_x=(base.shift_x[0] + step, base.shift_x[1] + step))
        rows.append((f"1 process, clip moved {px:+d} px", compare(reference, run(moved, 1))))
    two = run(base, 2)
    rows.append((f"2 processes (seam moved {two['timings'].get('seam_moved_s', 0):g} s)", compare(reference, two)))
    print(f"clip: {args.seconds:g} s, {base.size[0]}x{base.size[1]} at {base.fps:g} fps; "
          "against 1 process on the unmoved clip")
    print("| run | means, max diff deg | single values (extensions, event angles), max diff deg "
          "| extremes, max diff deg | event/moment times, max diff s | found by one only |")
    print("|---|---|---|---|---|---|")
    for label, d in rows:
        print(f"| {label} | {d['means_deg']:.1f} ({d['where_mean']}) | {d['values_deg']:.1f} ({d['where_value']}) "
              f"| {d['extremes_deg']:.1f} ({d['where_extreme']}) | {d['times_s']:.2f} | {d['flips']} |")


if __name__ == "__main__":
    main()
