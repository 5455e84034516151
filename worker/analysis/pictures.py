"""Pictures a coach can read: the player at each key moment with his skeleton, and a joint-angle chart.

Every picture is cut around the player, not the frame, so a batter filmed at a
tenth of the frame height still fills a 360x480 picture; the skeleton's
thickness follows his drawn size, front side orange and back side blue, with
a legend. A picture is only made from a frame whose pose passed the frame
gates: never a moment picture without a pose.
"""
from __future__ import annotations

import importlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from worker.atomicfile import write_bytes_atomic
from worker.analysis.landmarks import INDEX, SKELETON
from worker.analysis.window import Window

CELL_W, CELL_H = 360, 480  # a player picture: at least 400 px tall, whatever his size in the frame
SHEET_COLUMNS = 3
SHEET_FRAMES = 6
PLAYER_MARGIN = 1.3  # the picture is this times the player's body box
_FRONT = (0, 140, 255)  # BGR orange
_BACK = (255, 160, 0)  # BGR blue
_CENTRE = (255, 255, 255)
_VISIBLE = 0.5
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class PlayerCrop:
    row: int  # row of the analysed-frame series
    image: np.ndarray  # BGR, CELL_H x CELL_W
    window: Window  # where it was cut from the frame


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


def player_window(box: tuple[float, float, float, float]) -> Window:
    """A CELL_W x CELL_H window around the player's body box, PLAYER_MARGIN times its size."""
    x0, y0, x1, y1 = box
    height = PLAYER_MARGIN * max(y1 - y0, (x1 - x0) * CELL_H / CELL_W, 8.0)
    width = height * CELL_W / CELL_H
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Window(cx - width / 2, cy - height / 2, width, height, CELL_H / height)


class CropReservoir:
    """Evenly spread player pictures of the analysed frames, never more than `capacity`.

    The key moments are only known once the whole clip has been analysed, and
    the video is never held in memory, so pictures are kept as the frames go
    by: when the reservoir fills up, every other one is dropped and only every
    second frame is offered from then on. A clip of any length costs at most
    `capacity` pictures (about 0.5 MB each), and the kept ones stay evenly spread.
    """

    def __init__(self, capacity: int = 48) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self.capacity = capacity
        self.stride = 1
        self.items: list[PlayerCrop] = []

    def wants(self, row: int) -> bool:
        return row % self.stride == 0

    def offer(self, row: int, bgr: np.ndarray, box: tuple[float, float, float, float]) -> None:
        if not self.wants(row):
            return
        window = player_window(box)
        self.items.append(PlayerCrop(row, window.cut(bgr), window))
        if len(self.items) > self.capacity:
            self.stride *= 2
            self.items = [c for c in self.items if c.row % self.stride == 0]

    def nearest(self, row: int, allowed: Callable[[int], bool] = lambda r: True) -> PlayerCrop | None:
        """The kept picture closest in time to `row` among those whose row is `allowed`."""
        kept = [c for c in self.items if allowed(c.row)]
        return min(kept, key=lambda c: abs(c.row - row)) if kept else None


def draw_skeleton(image: np.ndarray, xy: np.ndarray, visibility: np.ndarray, front: str = "left",
                  thickness: int | None = None) -> np.ndarray:
    """Draw the body segments whose both ends are visible; `xy` in pixels of `image`.

    The front side (the one facing the bowler) is orange, the back side blue.
    Without a `thickness`, it is scaled to the player's drawn height.
    """
    out = image.copy()
    pts = np.round(np.nan_to_num(xy[:, :2], nan=-1e4)).astype(int)
    if thickness is None:
        seen = visibility >= _VISIBLE
        span = float(np.ptp(xy[seen, 1])) if seen.sum() >= 2 else float(max(out.shape[:2]))
        thickness = int(np.clip(round(span / 90), 2, 8))
    for a, b in SKELETON:
        ia, ib = INDEX[a], INDEX[b]
        if visibility[ia] < _VISIBLE or visibility[ib] < _VISIBLE:
            continue
        side = a.split("_")[0] if a.split("_")[0] == b.split("_")[0] else None
        colour = _CENTRE if side is None else _FRONT if side == front else _BACK
        cv2.line(out, tuple(pts[ia]), tuple(pts[ib]), colour, thickness, cv2.LINE_AA)
    for name, i in INDEX.items():
        if visibility[i] >= _VISIBLE and not name.startswith(("left_eye", "right_eye", "mouth")):
            cv2.circle(out, tuple(pts[i]), thickness + 1, _CENTRE, -1, cv2.LINE_AA)
    return out


@dataclass
class SheetCell:
    crop: PlayerCrop
    xy: np.ndarray  # (33, 2) frame pixels of this row's pose
    visibility: np.ndarray
    caption: str  # time and moment
    reading: str  # the angle that matters at this moment, written on the picture


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.6) -> None:
    """White text on a dark box, readable on any background."""
    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = origin
    cv2.rectangle(image, (x - 4, y - h - 5), (x + w + 4, y + base + 3), (20, 20, 20), -1)
    cv2.putText(image, text, (x, y), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _legend(width: int, front: str) -> np.ndarray:
    strip = np.full((34, width, 3), 24, dtype=np.uint8)
    x = 10
    back = "right" if front == "left" else "left"
    for colour, text in ((_FRONT, f"front side ({front})"), (_BACK, f"back side ({back})"), (_CENTRE, "trunk")):
        cv2.line(strip, (x, 17), (x + 28, 17), colour, 4, cv2.LINE_AA)
        cv2.putText(strip, text, (x + 36, 22), _FONT, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
        x += 36 + cv2.getTextSize(text, _FONT, 0.5, 1)[0][0] + 24
    return strip


def contact_sheet(cells: list[SheetCell], front: str, path: str | os.PathLike, columns: int = SHEET_COLUMNS,
                  empty_note: str = "no frame with a pose that passed the frame gates: no player picture") -> None:
    """Player pictures in a grid under a colour legend: skeleton, the angle that matters, caption under each."""
    caption_h = 28
    if not cells:  # poses were found, but none passed the frame gates: say so rather than show a guess
        empty = np.full((CELL_H // 4, SHEET_COLUMNS * CELL_W, 3), 24, dtype=np.uint8)
        _label(empty, empty_note, (12, 40))
        cells_image = empty
        ok, png = cv2.imencode(".png", np.vstack([_legend(empty.shape[1], front), cells_image]))
        write_bytes_atomic(path, png.tobytes())
        return
    columns = min(columns, len(cells))
    rows = -(-len(cells) // columns)
    legend = _legend(columns * CELL_W, front)
    grid = np.full((rows * (CELL_H + caption_h), columns * CELL_W, 3), 24, dtype=np.uint8)
    for k, cell in enumerate(cells):
        window = cell.crop.window
        xy = (cell.xy - [window.x0, window.y0]) * window.scale
        image = draw_skeleton(cell.crop.image, xy, cell.visibility, front)
        if cell.reading:
            _label(image, cell.reading, (10, 26))
        top, left = (k // columns) * (CELL_H + caption_h), (k % columns) * CELL_W
        grid[top:top + CELL_H, left:left + CELL_W] = image
        cv2.putText(grid, cell.caption, (left + 8, top + CELL_H + 20), _FONT, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", np.vstack([legend, grid]))
    if not ok:
        raise RuntimeError("OpenCV could not encode the contact sheet as PNG")
    write_bytes_atomic(path, png.tobytes())


_JOINTS = ("elbow", "knee", "hip", "shoulder")
_MOMENT_LABELS = {
    "front_foot_plant": "front foot plant",
    "max_stride": "max stride",
    "max_front_knee_flexion": "max front-knee flexion",
}


def moment_labels(moments_s: dict[str, float | None], span_s: float, min_gap: float = 0.04) -> list[tuple[float, str]]:
    """One (time, text) per marker; moments closer than `min_gap` of the time axis share one, so labels never overlap."""
    known = sorted((when, _MOMENT_LABELS.get(name, name)) for name, when in moments_s.items() if when is not None)
    merged: list[tuple[float, list[str]]] = []
    for when, text in known:
        if merged and when - merged[-1][0] < min_gap * max(span_s, 1e-9):
            merged[-1][1].append(text)
        else:
            merged.append((when, [text]))
    return [(when, " / ".join(texts)) for when, texts in merged]


def load_chart_library() -> None:
    """Import what `angle_chart` draws with (0.35-0.6 s) now rather than at the first chart."""
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        importlib.import_module(name)


def angle_chart(
    t: np.ndarray,
    angles: dict[str, np.ndarray],
    raw_angles: dict[str, np.ndarray],
    moments_s: dict[str, float | None],
    title: str,
    path: str | os.PathLike,
    front: str = "left",
) -> None:
    """Joint angles over time, front and back side, smoothed lines over the raw per-frame points."""
    # The object API with the Agg canvas: no pyplot global state, safe in a worker thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    back = "right" if front == "left" else "left"
    fig = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    span = float(t[-1] - t[0]) if len(t) > 1 else 1.0
    labels = moment_labels(moments_s, span)
    for ax, joint in zip(axes.flat, _JOINTS):
        for role, side, colour in (("front", front, "#ff8c00"), ("back", back, "#0096ff")):
            name = f"{side}_{joint}_angle"
            ax.plot(t, raw_angles[name], ".", color=colour, alpha=0.25, markersize=3)
            ax.plot(t, angles[name], "-", color=colour, linewidth=1.8, label=f"{role} {joint} ({side})")
        for when, text in labels:
            ax.axvline(when, color="#666666", linestyle="--", linewidth=0.9)
            ax.annotate(text, (when, 1.0), xycoords=("data", "axes fraction"),
                        rotation=90, va="top", ha="right", fontsize=7, color="#444444")
        ax.set_title(f"{joint} angle ({'0 = arm along the trunk' if joint == 'shoulder' else '180 = straight'})")
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
