"""Is this pose the tracked player? Position, size and shirt colours against the track's.

The landmarker can slide onto a person walking past, and a search can find
someone else: every pose passes this gate before it is used (track.py), and
one that fails is never mixed into the subject's series. docs/metrics.md
("Tracking: who is analysed, and how he is followed") states the limits.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from worker.analysis.acquire import Person
from worker.analysis.landmarks import INDEX

# Identity gate (see docs/metrics.md): position in body sizes from the prediction, size ratio, colour likeness.
STEP_TRACKED = 0.35  # body sizes a player can move between consecutive frames (over 20 m/s at 25 fps)
STEP_LOST = 0.12  # extra body sizes allowed per frame lost (a sprinter covers ~0.2 body heights a frame at 25 fps)
SIZE_RATIO = 1.45
SIZE_RATIO_LOST = 1.8
MIN_LIKENESS = 0.55  # Bhattacharyya coefficient of torso colour histograms, 0..1
_TORSO = [INDEX[n] for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip")]
_BINS = 4
TORSO_PIXELS = 4000


def torso_colours(bgr: np.ndarray, person: Person) -> np.ndarray | None:
    """Colour histogram of the torso (the shirt), None when the torso is too small to say."""
    quad = person.xy[_TORSO]
    centre = quad.mean(axis=0)
    quad = centre + 0.7 * (quad - centre)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    height, width = bgr.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    step = max(1, int(np.sqrt((x1 - x0) * (y1 - y0) / TORSO_PIXELS)))  # a few thousand pixels are enough
    patch = bgr[y0:y1:step, x0:x1:step]
    mask = np.zeros(patch.shape[:2], dtype=np.uint8)
    cv2.fillConvexPoly(mask, np.round((quad - [x0, y0]) / step).astype(np.int32), 255)
    if cv2.countNonZero(mask) < 24:
        return None
    hist = cv2.calcHist([patch], [0, 1, 2], mask, [_BINS] * 3, [0, 256] * 3).ravel()
    return hist / hist.sum()


def likeness(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None:
        return None
    return float(np.sum(np.sqrt(a * b)))


def alike(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Would the colour test let one torso pass for the other?"""
    like = likeness(a, b)
    return like is not None and like >= MIN_LIKENESS


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    test: str = ""  # the test that failed: position, size or colours


def identity_gate(person: Person, colours: np.ndarray | None, predicted: np.ndarray, size: float,
                  reference: np.ndarray | None, frames_lost: int) -> Verdict:
    """Is `person` the tracked player? Position, size and torso colours must all agree with the track.

    The position allowed grows with the frames lost (STEP_LOST each): a player
    who left the picture can only come back near where he could have walked.
    """
    step = STEP_TRACKED + STEP_LOST * frames_lost
    moved = float(np.linalg.norm(person.centre - predicted)) / size
    if moved > step:
        return Verdict(False, f"{moved:.2f} body sizes from the prediction (limit {step:.2f})", "position")
    ratio = person.size / size
    limit = SIZE_RATIO if frames_lost == 0 else SIZE_RATIO_LOST
    if not 1 / limit <= ratio <= limit:
        return Verdict(False, f"size {ratio:.2f} times the track's (limit {limit:g})", "size")
    like = likeness(colours, reference)
    if like is not None and like < MIN_LIKENESS:
        return Verdict(False, f"torso colours {like:.2f} alike (at least {MIN_LIKENESS} needed)", "colours")
    return Verdict(True, "consistent with the track")
