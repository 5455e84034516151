"""Angle math on points with known answers, and its invariance under camera moves."""
from __future__ import annotations

import math

import numpy as np
import pytest

from worker.analysis import geometry


@pytest.mark.parametrize(
    ("a", "b", "c", "expected"),
    [
        ((1, 0), (0, 0), (0, 1), 90.0),
        ((-1, 0), (0, 0), (1, 0), 180.0),
        ((1, 0), (0, 0), (1, 1), 45.0),
        ((2, 0), (0, 0), (2, 0), 0.0),
        ((0, 0, 1), (0, 0, 0), (1, 0, 1), 45.0),
        ((1, 0), (0, 0), (math.cos(math.radians(120)), math.sin(math.radians(120))), 120.0),
    ],
)
def test_joint_angle_known_triangles(a, b, c, expected):
    assert geometry.joint_angle(np.array(a), np.array(b), np.array(c)) == pytest.approx(expected, abs=1e-9)


def test_joint_angle_is_vectorised_over_frames_and_nan_when_degenerate():
    a = np.array([[1.0, 0.0], [0.0, 0.0], [np.nan, 0.0]])
    b = np.zeros((3, 2))
    c = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    got = geometry.joint_angle(a, b, c)
    assert got.shape == (3,)
    assert got[0] == pytest.approx(90.0)
    assert np.isnan(got[1]) and np.isnan(got[2])


def test_line_tilt_is_positive_when_the_front_end_is_higher_whichever_way_the_player_faces():
    back = np.array([100.0, 200.0])
    raised_right = np.array([200.0, 200.0 - 100.0 * math.tan(math.radians(10))])
    raised_left = np.array([0.0, raised_right[1]])
    assert geometry.line_tilt(back, raised_right) == pytest.approx(10.0)
    assert geometry.line_tilt(back, raised_left) == pytest.approx(10.0)
    assert geometry.line_tilt(back, np.array([200.0, 250.0])) == pytest.approx(-math.degrees(math.atan(0.5)))
    assert geometry.line_tilt(back, np.array([100.0, 100.0])) == pytest.approx(90.0)
    assert np.isnan(geometry.line_tilt(back, back))


def test_distance_and_midpoint():
    p, q = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[3.0, 4.0], [1.0, 1.0]])
    assert geometry.distance(p, q).tolist() == [5.0, 0.0]
    assert geometry.midpoint(p, q)[0].tolist() == [1.5, 2.0]


def test_joint_angles_do_not_change_when_the_camera_zooms_moves_or_tilts():
    rng = np.random.default_rng(7)
    a, b, c = (rng.uniform(0, 500, size=(200, 2)) for _ in range(3))
    before = geometry.joint_angle(a, b, c)
    turn = math.radians(11.0)
    rot = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    move = lambda p: (p @ rot.T) * 0.37 + [40.0, -25.0]  # noqa: E731
    after = geometry.joint_angle(move(a), move(b), move(c))
    np.testing.assert_allclose(after, before, atol=1e-9)
    tilt_before = geometry.line_tilt(np.array([0.0, 0.0]), np.array([100.0, -20.0]))
    tilt_after = geometry.line_tilt(move(np.array([0.0, 0.0])), move(np.array([100.0, -20.0])))
    assert tilt_after - tilt_before == pytest.approx(11.0)
