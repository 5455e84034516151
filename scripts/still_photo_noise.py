"""How much of the pose model's angle error survives the low-pass, next to the jitter the noise floor is measured from.

Run by hand from the repository root:

    .venv/bin/python scripts/still_photo_noise.py [--photos messi,basketball,astronaut]

Each photo is still: it is only zoomed from 70 to 100 % of a 640x360 frame,
turned by +-6 degrees and moved sideways over 8 s, which changes no joint angle
in the picture. So every change in an angle series is the model's error. For
each joint angle with at least 50 accepted frames it prints:

- jitter: what the 6 Hz low-pass removes (filters.noise_sigma), the sigma that
  the noise floors of extensions and key moments are multiples of;
- kept: the standard deviation of the smoothed series about its median, the
  error the low-pass lets through;
- their ratio, and the smoothed series' range (what a min, a max or an
  extension of a still joint reads at worst).

A ratio well above 1 means the model's error is correlated from frame to
frame, and a floor taken from jitter alone is too low for extremes.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.analysis.test_parallel import MOVING  # noqa: E402
from tests.support.media import person_photo, synthesize_video  # noqa: E402
from worker.analysis import AnalysisOptions, analyze  # noqa: E402
from worker.analysis.filters import noise_sigma  # noqa: E402
from worker.analysis.metrics import compute_metrics  # noqa: E402
from worker.analysis.quality import OK  # noqa: E402
from worker.analysis.series import PoseSeries  # noqa: E402

STILL = MOVING  # the two-process test's clip: a still photo zoomed, turned and moved over 8 s


def angle_errors(photo: str, work: Path) -> list[tuple[str, float, float, float]]:
    """(angle, jitter, kept, range) in degrees for one still photo's clip."""
    video = synthesize_video(person_photo(photo), work / f"{photo}.mp4", STILL)
    out = work / photo
    out.mkdir()
    result = analyze(video, out, options=AnalysisOptions(processes=1))
    with np.load(out / result["artifacts"]["landmarks"]) as npz:
        accepted = npz["quality"] == OK
        xy = npz["image"][:, :, :2].astype(np.float64) * npz["frame_size"][:2]
        t, visibility = npz["timestamp_ms"] / 1000.0, npz["visibility"].astype(np.float64)
    series = PoseSeries(t=t, xy=np.where(accepted[:, None, None], xy, np.nan),
                        visibility=np.where(accepted[:, None], visibility, 0.0))
    report = compute_metrics(series, len(t))
    rows = []
    for name, smooth in report.angles.items():
        jitter = noise_sigma(report.raw_angles[name], smooth)
        kept = smooth[np.isfinite(smooth)]
        if jitter is None or kept.size < 50:
            continue
        rows.append((name, jitter, float(np.std(kept - np.median(kept))), float(np.ptp(kept))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default="messi,basketball,astronaut")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="still-photo-noise-"))
    print("| photo | angle | jitter, deg | kept by the low-pass, deg | kept / jitter | range of the smoothed series, deg |")
    print("|---|---|---|---|---|---|")
    for photo in [p for p in args.photos.split(",") if p]:
        for name, jitter, kept, spread in angle_errors(photo, work):
            print(f"| {photo} | {name} | {jitter:.2f} | {kept:.2f} | {kept / jitter:.1f} | {spread:.1f} |")


if __name__ == "__main__":
    main()
