"""Frame gates: which frames with a pose are good enough to measure from.

Two kinds of frame carry a pose that is wrong in a way the visibility scores do
not show: the first frames after the player is (re)found, while the
landmarker's tracking settles, and frames where the model has stretched or
squashed the body (a limb snapped onto a bat, a shadow, a second person). The
first are known from the tracker's events; the second from the clip itself: in
2D a body segment can look shorter than its true length (foreshortening) but
never longer, and the body's overall size changes smoothly (zoom, walking
towards the camera), never by a quarter from one frame to the next.

Every frame gets one code; the first gate that removes it names it.
"""
from __future__ import annotations

import warnings

import numpy as np

from worker.analysis.landmarks import INDEX
from worker.analysis.filters import moving_median

OK, NO_POSE, SETTLING, SEGMENTS, EDGE, IDENTITY = 0, 1, 2, 3, 4, 5
CODES = ("ok", "no_pose", "settling", "segment_lengths", "frame_edge", "identity")
UNCERTAIN = "reacquired_uncertain"  # the tracker's event for a re-find that someone else could have been
EDGE_MARGIN = 0.1  # a body this share of its size from the side of the picture may be cut off there
EDGE_SETTLE = 5  # poses after the body is whole in the picture again that are still settling (measured: 4-5)
_SIDEWAYS = [INDEX[n] for n in ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                                "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
                                "left_ankle", "right_ankle", "left_foot_index", "right_foot_index")]
RESTARTS = ("acquired", "reacquired", UNCERTAIN, "reframed")  # tracker events after which the landmarker starts afresh
SETTLE_FRAMES = 3  # the (re)acquisition frame and the next two
VISIBLE = 0.5
MAX_STRETCH = 1.4  # a segment longer than this times its clip length (at the frame's scale) is wrong
MAX_SCALE_JUMP = 1.25  # the frame's body scale against its neighbours' (moving median)
SCALE_WINDOW_S = 0.5
SEGMENTS_USED: tuple[tuple[str, str], ...] = tuple(
    (f"{side}_{a}", f"{side}_{b}")
    for side in ("left", "right")
    for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"), ("shoulder", "hip"))
)


def settling(events: list[str], detected: np.ndarray, frames: int = SETTLE_FRAMES) -> np.ndarray:
    """The (re)acquisition frames and the next poses tracked from them: `frames` in all, each way.

    Forward, that is the acquisition frame and the poses after it; poses
    tracked backwards from an acquisition ("backfilled") settle too, so the
    ones just before it are dropped as well. A fresh start of the landmarker on
    a player whose size changed ("reframed", track.py) counts as an acquisition.
    """
    out = np.zeros(len(events), dtype=bool)
    left = 0
    for row, event in enumerate(events):
        if event in RESTARTS:
            left = frames
            back = row - 1
            while back >= 0 and events[back] == "backfilled" and row - back < frames:
                out[back] = bool(detected[back])
                back -= 1
        if detected[row] and left > 0:
            out[row] = True
            left -= 1
    return out


def segment_lengths(xy: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(N, S) pixel lengths of SEGMENTS_USED, NaN where either end is not visible."""
    a = np.array([INDEX[p] for p, _ in SEGMENTS_USED])
    b = np.array([INDEX[q] for _, q in SEGMENTS_USED])
    lengths = np.linalg.norm(xy[:, b] - xy[:, a], axis=-1)
    seen = (visibility[:, a] >= VISIBLE) & (visibility[:, b] >= VISIBLE)
    return np.where(seen, lengths, np.nan)


def bad_segments(t: np.ndarray, xy: np.ndarray, visibility: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Frames (among `usable`) whose body proportions disagree with the clip's own.

    Each segment's reference is its median length over the usable frames; a
    frame's scale is the median of its segments' ratios to those references,
    compared with the moving median of the scale over +-SCALE_WINDOW_S/2.
    """
    lengths = segment_lengths(xy, visibility)
    lengths[~usable] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns and rows are expected
        reference = np.nanmedian(lengths, axis=0)
        ratio = lengths / reference
        scale = np.nanmedian(ratio, axis=1)
        smooth = moving_median(t, scale, SCALE_WINDOW_S / 2)
        jump = np.abs(np.log(scale / smooth)) > np.log(MAX_SCALE_JUMP)
        stretched = np.nanmax(np.where(np.isfinite(ratio), ratio, 0.0), axis=1) > MAX_STRETCH * smooth
    return usable & np.isfinite(scale) & (jump | stretched)


def cut_by_side(xy: np.ndarray, width: float, visibility: np.ndarray | None = None,
                margin: float = EDGE_MARGIN) -> np.ndarray:
    """Whether each body (N, 33, 2 pixels) reaches past the picture's left or right edge, or comes within
    `margin` of its size of it with a landmark the model saw (visibility at least VISIBLE; all of them
    when `visibility` is None). The model squeezes a half body's landmarks inside the picture (measured:
    a player 10-40 % out of the frame had none of them outside it), so touching the edge is what tells a
    cut body; a hidden landmark is a guess and only counts outside the picture."""
    points = xy[:, _SIDEWAYS]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without a pose
        outside = (points[..., 0] < 0).any(axis=1) | (points[..., 0] >= width).any(axis=1)
        if visibility is not None:
            points = np.where((visibility[:, _SIDEWAYS] >= VISIBLE)[..., None], points, np.nan)
        low, high = np.nanmin(points, axis=1), np.nanmax(points, axis=1)
        pad = margin * np.max(high - low, axis=1)
        return outside | (low[:, 0] - pad < 0) | (high[:, 0] + pad >= width)


def at_side_edge(xy: np.ndarray, detected: np.ndarray, width: int, settle: int = EDGE_SETTLE,
                 visibility: np.ndarray | None = None) -> np.ndarray:
    """Poses of a body cut by the left or right edge of the picture (walking in or out), and the next
    `settle` poses after it is whole again.

    Half a body is a guess for the model, and its tracking needs a few frames
    to recover once the player is back in full (measured: the elbow read 137-177
    degrees for 5 frames, against 167 once settled). A body cut at the bottom
    (feet out of shot) is not counted: that is a framing, not a passage.
    """
    cut = detected & cut_by_side(xy, width, visibility)
    out = cut.copy()
    left = 0
    for row in range(len(cut)):
        if cut[row]:
            left = settle
        elif detected[row] and left > 0:
            out[row] = True
            left -= 1
    return out


def unproven(events: list[str], detected: np.ndarray) -> np.ndarray:
    """Poses from the first uncertain re-acquisition on: someone else of the subject's size was where he
    could have come back, so these may be another person, and so may every later find."""
    first = next((row for row, event in enumerate(events) if event == UNCERTAIN), len(events))
    out = np.zeros(len(events), dtype=bool)
    out[first:] = detected[first:]
    return out


def frame_quality(t: np.ndarray, xy: np.ndarray, visibility: np.ndarray, detected: np.ndarray,
                  events: list[str], width: int | None = None) -> np.ndarray:
    """One code per frame (CODES): OK, or the first gate that removed it."""
    code = np.where(detected, OK, NO_POSE).astype(np.uint8)
    settle = settling(events, detected)
    code[settle] = SETTLING
    if width is not None:
        code[at_side_edge(xy, detected, width, visibility=visibility) & (code == OK)] = EDGE
    code[unproven(events, detected)] = IDENTITY
    code[bad_segments(t, xy, visibility, code == OK)] = SEGMENTS
    return code


def gate_counts(code: np.ndarray) -> dict[str, int]:
    return {name: int((code == value).sum()) for value, name in enumerate(CODES) if value not in (OK, NO_POSE)}
