"""What the pose model reads on still photos, where every change of a joint angle is its own error.

Run by hand from the repository root:

    .venv/bin/python scripts/still_photo_noise.py [--photos messi,basketball,astronaut] [--motions ...]

Each clip is a still photo that only the "camera" moves: held, zoomed, turned,
panned (see MOTIONS), none of which changes a joint angle in the picture. The
first six motions (8 s, 640x360) set metrics.STILL_ELBOW_DEG; the last two
(12 s, 1280x720) were not looked at while choosing it and check it.

Two tables:

1. For the two-process test's clip ("moving") and each joint angle with at
   least 50 accepted frames: the jitter (what the 6 Hz low-pass removes, the
   sigma of filters.noise_sigma), the error the low-pass keeps (standard
   deviation of the smoothed series about its median), their ratio, and the
   smoothed series' range. A ratio well above 1 means the error is correlated
   from frame to frame, so a floor taken from the jitter alone is too low.
2. For every clip and elbow: the largest straightening (value minus running
   minimum, what the elbow extension metric measures) and bending (running
   maximum minus value) of the smoothed angle, and the share of frames the
   angle was measured in. Elbows seen in under 90 % of the frames are
   listed but left out of the floor: their confidence already falls with
   their coverage.
3. For every clip: how far the signals of the key moments rose (sustained
   maximum minus minimum: the stride in body heights, front-knee flexion in
   degrees), which a still player should not have, and whether the moment
   was found (with its time) or null (with the reason).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.analysis.helpers import MOVING  # noqa: E402
from tests.support.media import Motion, person_photo, synthesize_video  # noqa: E402
from worker.analysis import AnalysisOptions, analyze  # noqa: E402
from worker.analysis.filters import noise_sigma  # noqa: E402
from worker.analysis.metrics import (MOMENT_MIN_DEG, MOMENT_MIN_STRIDE, NOISE_K, STILL_ELBOW_DEG,  # noqa: E402
                                     MetricsReport, compute_metrics)
from worker.analysis.quality import OK  # noqa: E402
from worker.analysis.series import PoseSeries  # noqa: E402

WIDE = dict(size=(1280, 720), seconds=12.0)
MOTIONS = {
    "moving": MOVING,
    "reversed": Motion(seconds=8.0, scale=(1.0, 0.7), angle=(6.0, -6.0), shift_x=(0.1, -0.1)),
    "held": Motion(seconds=8.0, scale=(0.9, 0.9)),
    "panned": Motion(seconds=8.0, scale=(0.8, 0.8), shift_x=(-0.15, 0.15), shift_y=(0.05, -0.05)),
    "zoomed out": Motion(seconds=8.0, scale=(0.5, 0.95)),
    "turned": Motion(seconds=8.0, scale=(0.85, 0.85), angle=(-10.0, 10.0)),
    "drifting 720p (check)": Motion(**WIDE, scale=(0.6, 0.8), shift_x=(0.1, -0.05), angle=(3.0, -3.0)),
    "small 720p (check)": Motion(**WIDE, scale=(0.35, 0.35), shift_x=(-0.2, 0.2)),
}
WELL_SEEN = 0.9
MOMENTS = ("max_stride", "max_front_knee_flexion")


def still_clip_report(photo: str, motion: Motion, work: Path) -> tuple[MetricsReport, np.ndarray]:
    """The metrics of one still photo's clip, from the accepted frames in landmarks.npz, and its frame times."""
    name = f"{photo}-{abs(hash(motion))}"
    video = synthesize_video(person_photo(photo), work / f"{name}.mp4", motion)
    out = work / name
    out.mkdir()
    result = analyze(video, out, options=AnalysisOptions(processes=1))
    with np.load(out / result["artifacts"]["landmarks"]) as npz:
        accepted = npz["quality"] == OK
        xy = npz["image"][:, :, :2].astype(np.float64) * npz["frame_size"][:2]
        t, visibility = npz["timestamp_ms"] / 1000.0, npz["visibility"].astype(np.float64)
    return compute_metrics(PoseSeries.gated(t, xy, visibility, accepted), len(t)), t


def angle_errors(report: MetricsReport) -> list[tuple[str, float, float, float]]:
    """(angle, jitter, kept, range) in degrees for each angle with at least 50 accepted frames."""
    rows = []
    for name, smooth in report.angles.items():
        jitter = noise_sigma(report.raw_angles[name], smooth)
        kept = smooth[np.isfinite(smooth)]
        if jitter is None or kept.size < 50:
            continue
        rows.append((name, jitter, float(np.std(kept - np.median(kept))), float(np.ptp(kept))))
    return rows


def elbow_changes(report: MetricsReport, frames: int) -> list[tuple[str, float, float, float, float]]:
    """(elbow, coverage, jitter, largest straightening, largest bending) of each elbow measured in 50+ frames."""
    rows = []
    for side in ("left", "right"):
        name = f"{side}_elbow_angle"
        smooth = report.angles[name]
        values = smooth[np.isfinite(smooth)]
        if values.size < 50:
            continue
        straightening = float(np.max(values - np.minimum.accumulate(values)))
        bending = float(np.max(np.maximum.accumulate(values) - values))
        rows.append((name, values.size / frames, noise_sigma(report.raw_angles[name], smooth) or 0.0,
                     straightening, bending))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default="messi,basketball,astronaut")
    parser.add_argument("--motions", default=",".join(MOTIONS), help="names from MOTIONS, comma-separated")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="still-photo-noise-"))
    photos = [p for p in args.photos.split(",") if p]
    motions = [m for m in args.motions.split(",") if m]
    reports = {(p, m): still_clip_report(p, MOTIONS[m], work) for p in photos for m in motions}

    print("| photo | angle | jitter, deg | kept by the low-pass, deg | kept / jitter | range of the smoothed series, deg |")
    print("|---|---|---|---|---|---|")
    for (photo, motion), (report, _) in reports.items():
        if motion == "moving":
            for name, jitter, kept, spread in angle_errors(report):
                print(f"| {photo} | {name} | {jitter:.2f} | {kept:.2f} | {kept / jitter:.1f} | {spread:.1f} |")

    print("\n| photo | clip | elbow | seen in | jitter floor (6 sigma), deg | straightening, deg | bending, deg |")
    print("|---|---|---|---|---|---|---|")
    worst = {False: 0.0, True: 0.0}
    for (photo, motion), (report, t) in reports.items():
        for name, coverage, jitter, straightening, bending in elbow_changes(report, len(t)):
            print(f"| {photo} | {motion} | {name} | {coverage:.0%} | {NOISE_K * jitter:.1f} | "
                  f"{straightening:.1f} | {bending:.1f} |")
            if coverage >= WELL_SEEN:
                check = "(check)" in motion
                worst[check] = max(worst[check], straightening, bending)
    print("\n| photo | clip | stride rose, body heights | max_stride | flexion rose, deg | max_front_knee_flexion |")
    print("|---|---|---|---|---|---|")
    rose = {name: {False: 0.0, True: 0.0} for name in MOMENTS}
    for (photo, motion), (report, t) in reports.items():
        cells = []
        for name in MOMENTS:
            row, rise = report.moments[name], report.moment_rises[name]
            cells += ["-" if rise is None else f"{rise:.3g}",
                      f"**at {t[row]:.2f} s**" if row is not None else f"null: {report.moment_reasons[name]}"]
            if rise is not None:
                rose[name]["(check)" in motion] = max(rose[name]["(check)" in motion], rise)
        print(f"| {photo} | {motion} | " + " | ".join(cells) + " |")
    for name, floor in zip(MOMENTS, (MOMENT_MIN_STRIDE, MOMENT_MIN_DEG)):
        print(f"\nlargest rise of the {name} signal on a still photo: {rose[name][False]:.3g} in the clips that set "
              f"the floor, {rose[name][True]:.3g} in the check clips; least floor {floor:g}")
    print(f"\nlargest change of a still elbow seen in >= {WELL_SEEN:.0%} of frames: {worst[False]:.1f} deg in the "
          f"clips that set the floor, {worst[True]:.1f} deg in the check clips; "
          f"metrics.STILL_ELBOW_DEG = {STILL_ELBOW_DEG:g} deg")


if __name__ == "__main__":
    main()
