"""Pictures a coach can read: a key-frame contact sheet with the skeleton, and a joint-angle chart.

The key frames are only known once the whole clip has been analysed, and the
video is never held in memory, so small thumbnails are kept as the frames go
by, in a reservoir of bounded size: when it fills up, every other thumbnail is
dropped and only every second frame is kept from then on. A clip of any length
costs at most `capacity` thumbnails, and the kept ones stay evenly spread.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass

import cv2
import numpy as np

from worker.atomicfile import write_bytes_atomic
from worker.analysis.landmarks import INDEX, SKELETON

THUMB_SIDE = 320
SHEET_COLUMNS = 3
SHEET_FRAMES = 6
_LEFT = (0, 140, 255)  # BGR orange
_RIGHT = (255, 160, 0)  # BGR blue
_CENTRE = (255, 255, 255)
_VISIBLE = 0.5


@dataclass
class Thumbnail:
    row: int  # row of the analysed-frame series
    image: np.ndarray  # BGR, longest side THUMB_SIDE


def shrink(bgr: np.ndarray, side: int) -> np.ndarray:
    """A copy with the longest side at most `side` px.

    INTER_AREA alone costs 2.5 ms on a 1080p frame, a tenth of the pose
    model's time; a bilinear step to twice the size first makes it 0.9 ms
    and looks the same at thumbnail size.
    """
    height, width = bgr.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return bgr.copy()
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 0.5:
        bgr = cv2.resize(bgr, (size[0] * 2, size[1] * 2), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


class ThumbnailReservoir:
    """Evenly spread thumbnails of the analysed frames, never more than `capacity`."""

    def __init__(self, capacity: int = 64, side: int = THUMB_SIDE) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self.capacity = capacity
        self.side = side
        self.stride = 1
        self.items: list[Thumbnail] = []

    def offer(self, row: int, bgr: np.ndarray) -> None:
        if row % self.stride:
            return
        self.items.append(Thumbnail(row, shrink(bgr, self.side)))
        if len(self.items) > self.capacity:
            self.stride *= 2
            self.items = [t for t in self.items if t.row % self.stride == 0]

    def nearest(self, row: int) -> Thumbnail | None:
        if not self.items:
            return None
        return min(self.items, key=lambda t: abs(t.row - row))


def draw_skeleton(image: np.ndarray, xy_norm: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Draw the body segments whose both ends are visible; `xy_norm` is 0..1 of the frame."""
    out = image.copy()
    height, width = out.shape[:2]
    pts = np.round(xy_norm[:, :2] * [width, height]).astype(int)
    thickness = max(1, round(max(height, width) / 160))
    for a, b in SKELETON:
        ia, ib = INDEX[a], INDEX[b]
        if visibility[ia] < _VISIBLE or visibility[ib] < _VISIBLE:
            continue
        side = a.split("_")[0] if a.split("_")[0] == b.split("_")[0] else None
        colour = _LEFT if side == "left" else _RIGHT if side == "right" else _CENTRE
        cv2.line(out, tuple(pts[ia]), tuple(pts[ib]), colour, thickness, cv2.LINE_AA)
    for name, i in INDEX.items():
        if visibility[i] >= _VISIBLE and not name.startswith(("left_eye", "right_eye", "mouth")):
            cv2.circle(out, tuple(pts[i]), thickness + 1, _CENTRE, -1, cv2.LINE_AA)
    return out


@dataclass
class SheetFrame:
    thumbnail: Thumbnail
    xy_norm: np.ndarray | None  # (33, 2), None when no pose in that frame
    visibility: np.ndarray | None
    caption: str


def contact_sheet(frames: list[SheetFrame], path: str | os.PathLike) -> None:
    """Key frames in a grid, skeleton drawn on the player, caption under each."""
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    cell_h = max(f.thumbnail.image.shape[0] for f in frames)
    cell_w = max(f.thumbnail.image.shape[1] for f in frames)
    caption_h = 26
    columns = min(SHEET_COLUMNS, len(frames))
    rows = -(-len(frames) // columns)
    sheet = np.full((rows * (cell_h + caption_h), columns * cell_w, 3), 24, dtype=np.uint8)
    for k, frame in enumerate(frames):
        image = frame.thumbnail.image
        if frame.xy_norm is not None:
            image = draw_skeleton(image, frame.xy_norm, frame.visibility)
        top, left = (k // columns) * (cell_h + caption_h), (k % columns) * cell_w
        h, w = image.shape[:2]
        sheet[top:top + h, left:left + w] = image
        cv2.putText(sheet, frame.caption, (left + 6, top + cell_h + 18), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (235, 235, 235), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", sheet)
    if not ok:
        raise RuntimeError("OpenCV could not encode the contact sheet as PNG")
    write_bytes_atomic(path, png.tobytes())


_JOINTS = ("elbow", "knee", "hip", "shoulder")
_MOMENT_LABELS = {
    "front_foot_plant": "front foot plant",
    "max_stride": "max stride",
    "max_front_knee_flexion": "max front-knee flexion",
}


def angle_chart(
    t: np.ndarray,
    angles: dict[str, np.ndarray],
    raw_angles: dict[str, np.ndarray],
    moments_s: dict[str, float | None],
    title: str,
    path: str | os.PathLike,
) -> None:
    """Joint angles over time, left and right, smoothed lines over the raw per-frame points."""
    # The object API with the Agg canvas: no pyplot global state, safe in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    for ax, joint in zip(axes.flat, _JOINTS):
        for side, colour in (("left", "#ff8c00"), ("right", "#0096ff")):
            name = f"{side}_{joint}_angle"
            ax.plot(t, raw_angles[name], ".", color=colour, alpha=0.25, markersize=3)
            ax.plot(t, angles[name], "-", color=colour, linewidth=1.8, label=side)
        for label, when in moments_s.items():
            if when is not None:
                ax.axvline(when, color="#666666", linestyle="--", linewidth=0.9)
                ax.annotate(_MOMENT_LABELS.get(label, label), (when, 1.0), xycoords=("data", "axes fraction"),
                            rotation=90, va="top", ha="right", fontsize=7, color="#444444")
        ax.set_title(f"{joint} angle")
        ax.set_ylabel("degrees")
        ax.set_ylim(0, 185)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.suptitle(title)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.07, top=0.9, wspace=0.15, hspace=0.2)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes_atomic(path, buffer.getvalue())
