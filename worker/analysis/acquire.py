"""Finding people at any size in one frame: the pose model itself, on overlapping, upscaled tiles.

MediaPipe's person detector keys on the face and misses anyone below about a
quarter of the frame height (measured: 0% of frames at 20%, 15% and 10%). The
same model finds the same player in a window where he is a quarter or more of
the window's height. So a frame is searched level by level, from the whole
frame down to tiles sized for a person of ~8% of the frame height; each tile
is one IMAGE-mode call (~30 ms), which is why tiling runs only while acquiring
and never on frames where a player is tracked.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from worker.analysis.landmarks import INDEX
from worker.analysis.pose import PoseFinder, PoseSample
from worker.analysis.window import Window, grid

TILE_SIDE = 512  # long side of a tile fed to the model, px
LEVELS = (0.45, 0.2, 0.1)  # person heights (share of the frame height) each search level is made for
PERSON_IN_TILE = 0.3  # the detector sees a tile at 224 px: a person this share of it is found reliably
MIN_SCORE = 0.7  # mean visibility of head and shoulders below which a find is ignored
MIN_SHARE = 0.6 * LEVELS[-1]  # a find smaller than this share of the frame height is a bit of a body or a lamp
EXTENT = ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee",
          "left_ankle", "right_ankle", "left_wrist", "right_wrist", "left_heel", "right_heel",
          "left_foot_index", "right_foot_index", "left_elbow", "right_elbow")
_UPPER = [INDEX[n] for n in ("nose", "left_shoulder", "right_shoulder")]
_EXTENT = [INDEX[n] for n in EXTENT]


@dataclass(frozen=True)
class Person:
    """One person's landmarks in frame pixels, with what the model said about them."""

    xy: np.ndarray  # (33, 2) frame pixels
    sample: PoseSample  # as the model gave it, normalised to `window`
    window: Window
    frame: tuple[int, int] | None = None  # width, height in pixels

    @cached_property
    def box(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 in frame pixels, around the body's landmarks, clipped to the frame.

        Hidden landmarks are the model's guesses and may lie outside the picture
        (the legs of a head-and-shoulders shot); clipping keeps the box, and the
        crop scaled on it, steady. (Visible landmarks alone would make it shrink
        whenever a limb's visibility dips, and the crop with it.)
        """
        pts = self.xy[_EXTENT]
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        if self.frame is not None:
            width, height = self.frame
            x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
            y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
        return float(x0), float(y0), float(x1), float(y1)

    @cached_property
    def size(self) -> float:
        """The larger side of the body box, px: what a crop around the player is scaled by."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0, 1.0)

    @cached_property
    def centre(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    @property
    def score(self) -> float:
        """Mean visibility of the head and shoulders: what every framing of a person shows (legs may be cut off)."""
        return float(self.sample.visibility[_UPPER].mean())

    def normalised(self, width: int, height: int) -> PoseSample:
        """The landmarks normalised to the whole frame, as the artifacts keep them."""
        image = self.sample.image.copy()
        image[:, 0] = self.xy[:, 0] / width
        image[:, 1] = self.xy[:, 1] / height
        image[:, 2] = self.sample.image[:, 2] * self.window.w / width
        return PoseSample(image, self.sample.world, self.sample.visibility, self.sample.presence)


def located(sample: PoseSample, window: Window, frame: tuple[int, int]) -> Person:
    """A find in a window, in frame pixels. A landmark that falls outside the frame cannot have been
    seen, whatever the model says (a crop reaching past the frame edge is grey there, and the model
    may draw legs into the grey): its visibility becomes 0."""
    xy = window.to_frame(sample.image)
    width, height = frame
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
    if not inside.all():
        visibility = np.where(inside, sample.visibility, 0.0).astype(np.float32)
        sample = PoseSample(sample.image, sample.world, visibility, sample.presence)
    return Person(xy, sample, window, frame)


def same_person(a: Person, b: Person) -> bool:
    """Two finds of one person (from overlapping tiles): hips close together and sizes alike,
    or one box lying mostly inside the other (a part of the body taken for a whole small person)."""
    ha, hb = a.size, b.size
    hips = [INDEX["left_hip"], INDEX["right_hip"]]
    gap = float(np.linalg.norm(a.xy[hips].mean(axis=0) - b.xy[hips].mean(axis=0)))
    if gap < 0.25 * max(ha, hb) and 0.6 < ha / hb < 1 / 0.6:
        return True
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.box, b.box
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return smaller > 0 and inter / smaller > 0.6


def merge(people: list[Person]) -> list[Person]:
    """One entry per person: of several finds, the most visible (then largest) is kept."""
    kept: list[Person] = []
    for person in sorted(people, key=lambda p: (p.score, p.size), reverse=True):
        if not any(same_person(person, other) for other in kept):
            kept.append(person)
    return kept


def level_windows(width: int, height: int, person_share: float, shifted: bool = False) -> list[Window]:
    """Tiles in which a person `person_share` of the frame height is PERSON_IN_TILE of a tile."""
    tile_h = person_share * height / PERSON_IN_TILE
    rows = max(1, math.ceil(1.5 * height / tile_h - 0.5))
    cols = max(1, math.ceil(1.5 * width / tile_h - 0.5))  # tiles about square
    if rows == 1 and cols <= 2:
        return [Window.fit(0, 0, width, height, min(max(width, height), 2 * TILE_SIDE))]
    return grid(width, height, rows, cols, TILE_SIDE, shifted=shifted)


@dataclass
class Scan:
    people: list[Person]
    windows: int  # model calls spent
    level: float | None  # person height share of the last level searched


def find_in(finder: PoseFinder, rgb: np.ndarray, windows: list[Window], min_size: float = 0.0) -> list[Person]:
    """People in the windows, in frame pixels; finds smaller than `min_size` px (bits of a body, lamps) dropped."""
    found = []
    for window in windows:
        for sample in finder.find(window.cut(rgb)):
            person = located(sample, window, (rgb.shape[1], rgb.shape[0]))
            if person.score >= MIN_SCORE and person.size >= min_size:
                found.append(person)
    return merge(found)


def scan(finder: PoseFinder, rgb: np.ndarray, enough: Callable[[list[Person]], bool],
         levels: tuple[float, ...] = LEVELS, shifted: bool = False) -> Scan:
    """Search level by level, coarse to fine, until `enough(people so far)` says stop."""
    height, width = rgb.shape[:2]
    people: list[Person] = []
    calls, last = 0, None
    for share in levels:
        windows = level_windows(width, height, share, shifted)
        people = merge(people + find_in(finder, rgb, windows, MIN_SHARE * height))
        calls, last = calls + len(windows), share
        if enough(people):
            break
    return Scan(people, calls, last)
