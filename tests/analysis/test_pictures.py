"""Pictures: bounded memory for player pictures, the skeleton drawing, the sheet layout and the chart."""
from __future__ import annotations

import cv2
import numpy as np

from tests.analysis import synthetic as syn
from worker.analysis.landmarks import INDEX
from worker.analysis.metrics import ANGLES
from worker.analysis.pictures import (
    CELL_H,
    CELL_W,
    CropReservoir,
    SheetCell,
    angle_chart,
    contact_sheet,
    draw_skeleton,
    moment_labels,
    player_window,
    shrink,
)

ORANGE, BLUE = (0, 140, 255), (255, 160, 0)


def test_reservoir_memory_is_bounded_and_pictures_stay_evenly_spread():
    reservoir = CropReservoir(capacity=16)
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for row in range(1000):
        reservoir.offer(row, frame, (900.0, 500.0, 960.0, 610.0))
        assert len(reservoir.items) <= 16
    rows = [c.row for c in reservoir.items]
    assert rows == list(range(0, 1000, reservoir.stride))[: len(rows)]
    assert rows[-1] >= 1000 - 2 * reservoir.stride  # the end of the clip is covered too
    assert reservoir.items[0].image.shape == (CELL_H, CELL_W, 3)  # a 110-px player, pictured 480 px tall
    assert reservoir.nearest(500).row == min(rows, key=lambda r: abs(r - 500))
    assert reservoir.nearest(500, lambda r: r > 900).row > 900
    assert reservoir.nearest(500, lambda r: False) is None


def test_shrink_keeps_the_aspect_ratio_and_never_enlarges():
    assert shrink(np.zeros((1080, 1920, 3), np.uint8), 320).shape == (180, 320, 3)
    assert shrink(np.zeros((1920, 1080, 3), np.uint8), 320).shape == (320, 180, 3)
    assert shrink(np.zeros((100, 200, 3), np.uint8), 320).shape == (100, 200, 3)


def test_skeleton_is_drawn_only_between_visible_joints_front_orange_back_blue():
    xy = syn.pose(syn.Figure())
    visibility = np.full(33, 0.9)
    canvas = np.zeros((480, 640, 3), np.uint8)
    full = draw_skeleton(canvas, xy, visibility, front="left")
    assert np.all(full == ORANGE, axis=2).sum() > 100 and np.all(full == BLUE, axis=2).sum() > 100
    for name in INDEX:
        if name.startswith("right_"):
            visibility[INDEX[name]] = 0.1
    half = draw_skeleton(canvas, xy, visibility, front="left")
    assert np.all(half == BLUE, axis=2).sum() == 0  # right (back) side hidden: no blue segment
    assert np.all(half == ORANGE, axis=2).sum() > 100
    swapped = draw_skeleton(canvas, xy, visibility, front="right")  # a left-hander: the right side is in front
    assert np.all(swapped == ORANGE, axis=2).sum() == 0 and np.all(swapped == BLUE, axis=2).sum() > 100
    assert canvas.max() == 0  # the input frame is not drawn on


def test_skeleton_thickness_follows_the_players_drawn_size():
    canvas = np.zeros((900, 900, 3), np.uint8)
    visibility = np.full(33, 0.9)
    small = draw_skeleton(canvas, syn.pose(syn.Figure()) * 0.5, visibility)
    large = draw_skeleton(canvas, syn.pose(syn.Figure()) * 2.0, visibility)
    assert (large.any(axis=2).sum() / small.any(axis=2).sum()) > 6  # 4x longer lines, thicker too


def test_a_small_player_is_pictured_at_least_400_px_tall():
    box = (600.0, 300.0, 640.0, 372.0)  # 72 px: a tenth of a 720p frame
    window = player_window(box)
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[300:372, 600:640] = 200
    image = window.cut(frame)
    assert image.shape == (CELL_H, CELL_W, 3) and CELL_H >= 400
    rows = np.flatnonzero(image[:, :, 0].max(axis=1) > 100)
    assert rows[-1] - rows[0] > 0.7 * CELL_H  # the player fills most of the picture's height


def test_contact_sheet_grid_with_legend_and_readings(tmp_path):
    reservoir = CropReservoir()
    frame = np.full((720, 1280, 3), 60, np.uint8)
    xy = syn.pose(syn.Figure()) + [300.0, 100.0]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    for row in range(5):
        reservoir.offer(row, frame, (x0, y0, x1, y1))
    cells = [SheetCell(c, xy, np.full(33, 0.9), f"{c.row}.00 s", "front-knee flexion 30 deg") for c in reservoir.items]
    contact_sheet(cells, "left", tmp_path / "sheet.png")
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape == (34 + 2 * (CELL_H + 28), 3 * CELL_W, 3)
    assert np.all(sheet[:34] == ORANGE, axis=2).sum() > 50  # the legend shows the front-side colour
    assert np.all(sheet[34:] == ORANGE, axis=2).sum() > 200 and np.all(sheet[34:] == BLUE, axis=2).sum() > 200
    contact_sheet([], "left", tmp_path / "none.png")  # no gated pose: a picture that says so, no skeleton
    empty = cv2.imread(str(tmp_path / "none.png"))
    assert np.all(empty[34:] == ORANGE, axis=2).sum() == 0


def test_moment_labels_that_would_overlap_share_one_marker():
    labels = moment_labels({"front_foot_plant": 1.00, "max_stride": 1.04, "max_front_knee_flexion": 2.5}, 4.0)
    assert labels == [(1.0, "front foot plant / max stride"), (2.5, "max front-knee flexion")]
    assert moment_labels({"max_stride": None}, 4.0) == []


def test_angle_chart_copes_with_unmeasurable_series(tmp_path):
    t = np.arange(50) / 25
    angles = {name: np.linspace(90, 170, 50) for name in ANGLES}
    angles["left_knee_angle"] = np.full(50, np.nan)  # a joint never seen
    angle_chart(t, angles, angles, {"max_stride": 1.0, "front_foot_plant": None}, "test", tmp_path / "c.png",
                front="left")
    chart = cv2.imread(str(tmp_path / "c.png"))
    assert chart.shape == (750, 1100, 3)
    assert np.all(chart == (255, 150, 0), axis=2).sum() > 100  # matplotlib drew the back-side lines (#0096ff)


def test_the_event_strip_pictures_only_gated_poses_near_their_event(tmp_path):
    from worker.analysis.pictures import CropReservoir
    from worker.analysis.strip import event_cells, event_strip

    n = 60
    t = np.arange(n) / 60.0
    crops = CropReservoir()
    for row in range(0, n, 10):  # pictures kept every 10 frames, as a long clip's reservoir does
        crops.offer(row, np.zeros((480, 640, 3), np.uint8), (200.0, 100.0, 300.0, 400.0))
    accepted = np.ones(n, bool)
    accepted[20] = False  # the picture nearest "trigger" has no gated pose
    xy = np.full((n, 33, 2), 250.0)
    visibility = np.ones((n, 33))
    angles = {"left_knee_angle": np.full(n, 150.0)}
    event = {"confidence": 0.9, "method": "m", "reason": None}
    cricket = {"handedness": {"value": "right", "front_side": "left"}, "events": {
        "set_position": {"time_s": float(t[11]), "frame": 11, **event},
        "trigger": {"time_s": float(t[20]), "frame": 20, **event},
        "impact": {"time_s": None, "frame": None, **event},
    }}
    cells = event_cells(cricket, crops, t, xy, visibility, angles, accepted)
    assert [c.caption for c in cells] == ["0.17 s  set position"]
    assert cells[0].reading == "left knee 150 deg"
    event_strip(cells, "left", tmp_path / "strip.png")
    event_strip([], "left", tmp_path / "empty.png")
    assert (tmp_path / "strip.png").stat().st_size > 0 and (tmp_path / "empty.png").stat().st_size > 0
