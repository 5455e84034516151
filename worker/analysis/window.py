"""A rectangle of the frame, cut out and resized for the pose model, and the way back to frame pixels.

The pose model sees every image at its own input size, so a small player in a
large frame is a few dozen model pixels tall and goes unnoticed. Cutting a
window around where the player is (or might be) and scaling it up makes the
same player large for the model. Landmarks found in the window are mapped back
to frame pixels, where all measuring happens. A window may reach past the frame
edge; the part outside is filled with grey, which the model ignores.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FILL = (114, 114, 114)


@dataclass(frozen=True)
class Window:
    """x0, y0: top-left corner in frame pixels; w, h: size in frame pixels; the image is `scale` times that."""

    x0: float
    y0: float
    w: float
    h: float
    scale: float

    @classmethod
    def square(cls, cx: float, cy: float, side: float, out_side: int) -> Window:
        return cls(cx - side / 2, cy - side / 2, side, side, out_side / side)

    @classmethod
    def fit(cls, x0: float, y0: float, w: float, h: float, long_side: int) -> Window:
        return cls(x0, y0, w, h, long_side / max(w, h))

    @property
    def out_size(self) -> tuple[int, int]:
        return max(1, round(self.w * self.scale)), max(1, round(self.h * self.scale))

    def cut(self, rgb: np.ndarray) -> np.ndarray:
        """The window as an image of `out_size`; one warp does crop, pad and resize in one pass."""
        matrix = np.array([[self.scale, 0.0, -self.x0 * self.scale], [0.0, self.scale, -self.y0 * self.scale]])
        if self.scale < 0.5:
            # warpAffine samples without averaging, which aliases when shrinking a lot: shrink the part of
            # the frame the window covers to twice the output size first (bilinear, cheap), then warp
            height, width = rgb.shape[:2]
            x0, y0 = max(0, int(self.x0)), max(0, int(self.y0))
            x1, y1 = min(width, int(np.ceil(self.x0 + self.w))), min(height, int(np.ceil(self.y0 + self.h)))
            if x1 <= x0 or y1 <= y0:
                return np.full((*self.out_size[::-1], 3), FILL, dtype=rgb.dtype)
            factor = 2.0 * self.scale
            part = cv2.resize(rgb[y0:y1, x0:x1], None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
            matrix = np.array([[0.5, 0.0, (x0 - self.x0) * self.scale], [0.0, 0.5, (y0 - self.y0) * self.scale]])
            rgb = part
        return cv2.warpAffine(rgb, matrix, self.out_size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=FILL)

    def to_frame(self, xy_norm: np.ndarray) -> np.ndarray:
        """Landmarks normalised to the window image -> frame pixels."""
        xy = np.asarray(xy_norm, dtype=np.float64)[..., :2]
        return np.stack([self.x0 + xy[..., 0] * self.w, self.y0 + xy[..., 1] * self.h], axis=-1)


def grid(width: int, height: int, rows: int, cols: int, long_side: int, margin: float = 0.25,
         shifted: bool = False) -> list[Window]:
    """Overlapping tiles covering the frame; each reaches `margin` of a tile into its neighbours.

    The overlap makes sure a person cut by one tile's edge is whole in another;
    `shifted` moves the grid by half a tile, so that a search repeated on a
    later frame does not cut the same places again.
    """
    tw, th = width / cols, height / rows
    half = 0.5 if shifted else 0.0
    windows = []
    for r in range(-1 if shifted and rows > 1 else 0, rows):
        for c in range(-1 if shifted and cols > 1 else 0, cols):
            x0 = max(0.0, (c + half - margin) * tw)
            y0 = max(0.0, (r + half - margin) * th) if rows > 1 else 0.0
            x1 = min(float(width), (c + 1 + half + margin) * tw)
            y1 = min(float(height), (r + 1 + half + margin) * th) if rows > 1 else float(height)
            if x1 - x0 >= 0.5 * tw and y1 - y0 >= 0.5 * th:
                windows.append(Window.fit(x0, y0, x1 - x0, y1 - y0, long_side))
    return windows
