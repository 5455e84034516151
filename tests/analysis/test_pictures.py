"""Pictures: bounded thumbnail memory, the skeleton drawing, the sheet layout and the chart."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.analysis import synthetic as syn
from worker.analysis.landmarks import INDEX
from worker.analysis.metrics import ANGLES
from worker.analysis.pictures import (
    SheetFrame,
    Thumbnail,
    ThumbnailReservoir,
    angle_chart,
    contact_sheet,
    draw_skeleton,
    shrink,
)

ORANGE, BLUE = (0, 140, 255), (255, 160, 0)


def test_reservoir_memory_is_bounded_and_thumbnails_stay_evenly_spread():
    reservoir = ThumbnailReservoir(capacity=16, side=32)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for row in range(1000):
        reservoir.offer(row, frame)
        assert len(reservoir.items) <= 16
    rows = [t.row for t in reservoir.items]
    assert rows == list(range(0, 1000, reservoir.stride))[: len(rows)]
    assert rows[-1] >= 1000 - 2 * reservoir.stride  # the end of the clip is covered too
    assert reservoir.items[0].image.shape == (18, 32, 3)
    assert reservoir.nearest(500).row == min(rows, key=lambda r: abs(r - 500))


def test_shrink_keeps_the_aspect_ratio_and_never_enlarges():
    assert shrink(np.zeros((1080, 1920, 3), np.uint8), 320).shape == (180, 320, 3)
    assert shrink(np.zeros((1920, 1080, 3), np.uint8), 320).shape == (320, 180, 3)
    assert shrink(np.zeros((100, 200, 3), np.uint8), 320).shape == (100, 200, 3)


def test_skeleton_is_drawn_only_between_visible_joints():
    xy = syn.pose(syn.Figure()) / [640.0, 480.0]
    visibility = np.full(33, 0.9)
    canvas = np.zeros((480, 640, 3), np.uint8)
    full = draw_skeleton(canvas, xy, visibility)
    assert np.all(full == ORANGE, axis=2).sum() > 100 and np.all(full == BLUE, axis=2).sum() > 100
    for name in INDEX:
        if name.startswith("right_"):
            visibility[INDEX[name]] = 0.1
    half = draw_skeleton(canvas, xy, visibility)
    assert np.all(half == BLUE, axis=2).sum() == 0  # right side hidden: no blue segment
    assert np.all(half == ORANGE, axis=2).sum() > 100
    assert canvas.max() == 0  # the input frame is not drawn on


def test_contact_sheet_grid(tmp_path):
    thumb = Thumbnail(0, np.full((180, 320, 3), 60, np.uint8))
    frames = [SheetFrame(thumb, None, None, f"{k}.00 s") for k in range(5)]
    contact_sheet(frames, tmp_path / "sheet.png")
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape == (2 * (180 + 26), 3 * 320, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]
    with pytest.raises(ValueError):
        contact_sheet([], tmp_path / "none.png")


def test_angle_chart_copes_with_unmeasurable_series(tmp_path):
    t = np.arange(50) / 25
    angles = {name: np.linspace(90, 170, 50) for name in ANGLES}
    angles["left_knee_angle"] = np.full(50, np.nan)  # a joint never seen
    angle_chart(t, angles, angles, {"max_stride": 1.0, "front_foot_plant": None}, "test", tmp_path / "c.png")
    chart = cv2.imread(str(tmp_path / "c.png"))
    assert chart.shape == (750, 1100, 3)
    assert np.all(chart == (255, 150, 0), axis=2).sum() > 100  # matplotlib drew the right-side lines (#0096ff)
