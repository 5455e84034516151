"""Coaching metrics on stick figures whose every angle and length is known."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.analysis import synthetic as syn
from worker.analysis.landmarks import INDEX
from worker.analysis.metrics import compute_metrics
from worker.analysis.series import PoseSeries, body_height, guess_handedness


def run(s: PoseSeries, handedness: str = "auto", frames_analyzed: int | None = None):
    report = compute_metrics(s, frames_analyzed or len(s.t), handedness)
    json.dumps(report.metrics, allow_nan=False)  # the document must be plain JSON
    return report


def value(report, name: str):
    metric = report.metrics[name]
    assert metric["reason"] is None, metric["reason"]
    return metric["value"]


def test_joint_angles_match_the_figure():
    fig = syn.Figure(front_knee=135.0, back_knee=165.0, front_thigh=25.0, back_thigh=-10.0,
                     front_elbow=150.0, back_elbow=95.0, front_upper_arm=40.0, back_upper_arm=70.0)
    report = run(syn.steady(fig))
    expected = {
        "left_knee_angle": 135.0, "right_knee_angle": 165.0,
        "left_hip_angle": 180.0 - 25.0, "right_hip_angle": 180.0 - 10.0,
        "left_elbow_angle": 150.0, "right_elbow_angle": 95.0,
        "left_shoulder_angle": 40.0, "right_shoulder_angle": 70.0,
    }
    for name, angle in expected.items():
        summary = value(report, name)
        assert summary["mean"] == pytest.approx(angle, abs=0.11), name
        assert summary["min"] == pytest.approx(angle, abs=0.11), name
        assert report.metrics[name]["units"] == "deg"


def test_angle_series_follow_a_bending_knee_and_report_its_range():
    report = run(syn.animate(syn.Figure(), frames=75, front_knee=(170.0, 110.0)))
    summary = value(report, "left_knee_angle")
    assert summary["max"] == pytest.approx(170.0, abs=1.0)
    assert summary["min"] == pytest.approx(110.0, abs=1.0)
    smooth = report.angles["left_knee_angle"]
    assert np.all(np.diff(smooth) < 0.2)  # monotonic bend survives the filter
    flexion = value(report, "front_knee_flexion")
    assert flexion["max"] == pytest.approx(70.0, abs=1.0)
    assert flexion["min"] == pytest.approx(10.0, abs=1.0)
    assert report.metrics["front_knee_flexion"]["side"] == "left"


def test_body_height_is_the_ankle_to_nose_chain_whatever_the_posture():
    for fig in (syn.Figure(), syn.Figure(front_knee=100.0, back_knee=120.0, front_thigh=45.0)):
        np.testing.assert_allclose(body_height(syn.steady(fig)), syn.body_height(), rtol=1e-9)


def test_a_zoom_does_not_read_as_a_longer_stride():
    # the camera zooms in by half over two seconds while the player holds a wide stance
    base = syn.steady(syn.Figure(front_thigh=30.0, back_thigh=-20.0), frames=50)
    zoom = 1.0 + 0.5 * np.arange(50) / 49
    xy = (base.xy - [320.0, 240.0]) * zoom[:, None, None] + [320.0, 240.0]
    report = run(PoseSeries(base.t, xy, base.visibility))
    assert value(report, "stride_length") == pytest.approx(value(run(base), "stride_length"), rel=1e-3)
    assert report.moments["front_foot_plant"] is None


def test_stride_stance_and_front_foot_plant_in_body_heights():
    # the front leg swings forward over the first second, then stays planted for a second
    fig = syn.Figure(front_thigh=5.0, back_thigh=-5.0, front_knee=175.0, back_knee=175.0)
    stride = syn.animate(fig, frames=25, front_thigh=(5.0, 35.0))
    planted = syn.steady(syn.Figure(**{**fig.__dict__, "front_thigh": 35.0}), frames=25)
    s = PoseSeries(np.arange(50) / 25, np.concatenate([stride.xy, planted.xy]),
                   np.concatenate([stride.visibility, planted.visibility]))
    report = run(s)
    ankles = s.xy[:, INDEX["left_ankle"]] - s.xy[:, INDEX["right_ankle"]]
    widths = np.hypot(*ankles.T) / syn.body_height()
    assert value(report, "stride_length") == pytest.approx(widths.max(), rel=0.02)
    assert value(report, "stance_width") == pytest.approx(np.median(widths[:13]), rel=0.05)
    plant = report.moments["front_foot_plant"]
    assert plant is not None and 20 <= plant <= 26  # the foot lands at the end of the swing (row 24)
    assert report.moments["max_stride"] >= 24
    assert report.metrics["stride_length"]["units"] == "body heights"


def test_no_stride_means_no_plant_moment():
    report = run(syn.steady(syn.Figure()))
    assert report.moments["front_foot_plant"] is None
    assert value(report, "front_knee_flexion")["at_front_foot_plant"] is None


def test_head_stability_is_head_sway_over_torso_length():
    # the whole body sways 15 px left and right at 1 Hz: rms of a sine is amplitude / sqrt 2
    t = np.arange(100) / 25
    base = syn.steady(syn.Figure(), frames=100)
    xy = base.xy.copy()
    xy[:, :, 0] += 15.0 * np.sin(2 * np.pi * t)[:, None]
    report = run(PoseSeries(t, xy, base.visibility))
    head = value(report, "head_stability")
    assert head["rms_displacement"] == pytest.approx(15.0 / math.sqrt(2) / syn.TORSO, rel=0.08)
    assert head["max_displacement"] == pytest.approx(15.0 / syn.TORSO, rel=0.08)
    still = value(run(base), "head_stability")
    assert still["rms_displacement"] == pytest.approx(0.0, abs=1e-6)


def test_shoulder_line_tilt_is_positive_when_the_front_shoulder_is_raised():
    report = run(syn.steady(syn.Figure(shoulder_tilt=12.0)))
    assert value(report, "shoulder_line_angle")["mean"] == pytest.approx(12.0, abs=0.1)
    assert value(report, "hip_line_angle")["mean"] == pytest.approx(0.0, abs=0.1)
    mirrored = run(syn.steady(syn.Figure(shoulder_tilt=12.0, facing=-1)))
    assert value(mirrored, "shoulder_line_angle")["mean"] == pytest.approx(12.0, abs=0.1)


def test_elbow_extension_is_measured_only_while_the_arm_is_above_the_shoulder():
    # the back (bowling) arm comes over above the shoulder and straightens from 145 to 175 degrees
    fig = syn.Figure(back_upper_arm=150.0, back_elbow=145.0)
    report = run(syn.animate(fig, frames=40, back_elbow=(145.0, 175.0)))
    metric = report.metrics["right_elbow_extension"]
    assert metric["value"] == pytest.approx(30.0, abs=1.0)
    assert metric["indicator_only"] is True and "ICC 15-degree law" in metric["note"]
    lowered = report.metrics["left_elbow_extension"]  # the front arm hangs below the shoulder
    assert lowered["value"] is None and lowered["confidence"] is None
    assert "above the shoulder" in lowered["reason"]


def test_hidden_joints_give_null_with_a_reason_that_names_them():
    s = syn.steady(syn.Figure())
    vis = s.visibility.copy()
    vis[:, INDEX["left_ankle"]] = 0.2
    report = run(PoseSeries(s.t, s.xy, vis))
    knee = report.metrics["left_knee_angle"]
    assert knee["value"] is None and knee["confidence"] is None
    assert "left ankle" in knee["reason"] and "0 of 50" in knee["reason"]
    assert report.metrics["front_knee_flexion"]["value"] is None
    assert report.metrics["stride_length"]["value"] is None
    assert report.metrics["right_knee_angle"]["value"] is not None


def test_confidence_is_visibility_times_usable_share():
    s = syn.steady(syn.Figure(), frames=40)
    vis = np.full_like(s.visibility, 0.8)
    vis[:10, INDEX["left_wrist"]] = 0.3  # the left wrist is hidden for a quarter of the clip
    report = run(PoseSeries(s.t, s.xy, vis))
    assert report.metrics["right_elbow_angle"]["confidence"] == pytest.approx(0.8, abs=1e-3)
    assert report.metrics["left_elbow_angle"]["confidence"] == pytest.approx(0.8 * 30 / 40, abs=1e-3)


def test_frames_without_a_pose_lower_the_detection_rate_not_the_angles():
    s = syn.steady(syn.Figure(front_knee=140.0), frames=40)
    xy, vis = s.xy.copy(), s.visibility.copy()
    xy[::2] = np.nan
    vis[::2] = 0.0
    report = run(PoseSeries(s.t, xy, vis), frames_analyzed=40)
    assert report.metrics["detection_rate"]["value"] == pytest.approx(0.5)
    assert value(report, "left_knee_angle")["mean"] == pytest.approx(140.0, abs=0.2)


def test_nothing_measurable_without_any_pose():
    s = syn.steady(syn.Figure(), frames=10)
    report = run(PoseSeries(s.t, np.full_like(s.xy, np.nan), np.zeros_like(s.visibility)))
    for name, metric in report.metrics.items():
        if name != "detection_rate":
            assert metric["value"] is None and metric["reason"], name
    assert report.metrics["detection_rate"]["value"] == 0.0


@pytest.mark.parametrize(
    ("fig", "expected"),
    [
        (syn.Figure(facing=1, front_side="left"), "right"),
        (syn.Figure(facing=-1, front_side="left"), "right"),
        (syn.Figure(facing=1, front_side="right"), "left"),
        (syn.Figure(facing=-1, front_side="right"), "left"),
    ],
)
def test_handedness_guess_from_facing_and_front_foot(fig, expected):
    hand = guess_handedness(syn.steady(fig))
    assert (hand.value, hand.source) == (expected, "auto")
    assert hand.front == fig.front_side


def test_handedness_option_wins_and_an_unclear_picture_defaults_to_right():
    s = syn.steady(syn.Figure(front_side="right"))
    assert guess_handedness(s, "right").source == "option"
    report = run(s, handedness="right")
    assert report.handedness.front == "left"
    assert report.metrics["front_knee_flexion"]["side"] == "left"
    xy = s.xy.copy()
    xy[:, INDEX["nose"], 0] = xy[:, INDEX["left_ear"], 0]  # the face gives no direction
    unclear = guess_handedness(PoseSeries(s.t, xy, s.visibility))
    assert (unclear.value, unclear.source) == ("right", "default")


def test_metrics_do_not_depend_on_zoom_position_or_a_small_camera_tilt():
    fig = syn.Figure(front_knee=130.0, shoulder_tilt=5.0)
    s = syn.animate(fig, frames=50, front_thigh=(5.0, 35.0), back_elbow=(100.0, 160.0))
    base = run(s)
    for scale, angle, shift in ((0.5, 0.0, (0, 0)), (1.7, 0.0, (-90, 40)), (1.0, 7.0, (30, 0))):
        moved = run(syn.transformed(s, scale, angle, shift))
        for name in ("left_knee_angle", "right_elbow_angle", "left_hip_angle", "right_shoulder_angle",
                     "front_knee_flexion"):
            for key, v in value(base, name).items():
                assert value(moved, name)[key] == pytest.approx(v, abs=0.15), (name, key, scale, angle)
        for name in ("stride_length", "stance_width"):
            assert value(moved, name) == pytest.approx(value(base, name), abs=0.002)
        assert value(moved, "shoulder_line_angle")["mean"] == pytest.approx(
            value(base, "shoulder_line_angle")["mean"] + angle, abs=0.15)
        assert moved.handedness.value == base.handedness.value
