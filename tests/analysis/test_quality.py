"""Frame gates, noise floors, sustained extremes and confidence, on stick figures of known geometry."""
from __future__ import annotations

import numpy as np
import pytest

from tests.analysis import synthetic as syn
from worker.analysis import quality
from worker.analysis.landmarks import INDEX
from worker.analysis.metrics import STILL_ELBOW_DEG, compute_metrics, sustained
from worker.analysis.series import PoseSeries


def noisy(s: PoseSeries, px: float, seed: int = 7) -> PoseSeries:
    rng = np.random.default_rng(seed)
    return PoseSeries(s.t, s.xy + rng.normal(0.0, px, s.xy.shape), s.visibility)


def raised_arm(frames: int = 100) -> PoseSeries:
    """The front arm held still above the shoulder, the elbow at 150 degrees, for 4 s."""
    return syn.steady(syn.Figure(front_upper_arm=150.0, front_elbow=150.0), frames=frames)


@pytest.mark.parametrize("px", [2.0, 4.0])
def test_a_still_arm_with_landmark_jitter_reports_no_elbow_extension(px):
    report = compute_metrics(noisy(raised_arm(), px), 100)
    ext = report.metrics["left_elbow_extension"]
    assert ext["reason"] is None
    assert ext["value"] == pytest.approx(0.0, abs=2.0)
    assert ext["noise_floor_deg"] > 0


def test_a_real_elbow_extension_stands_above_the_noise_floor():
    frames = 100
    figs = [syn.Figure(front_upper_arm=150.0, front_elbow=130.0 + 30.0 * min(1.0, max(0.0, (i - 40) / 20)))
            for i in range(frames)]
    report = compute_metrics(noisy(syn.series(figs), 2.0), frames)
    ext = report.metrics["left_elbow_extension"]
    assert ext["value"] == pytest.approx(30.0, abs=4.0)
    assert ext["value"] > ext["noise_floor_deg"]


def test_an_extension_within_the_models_own_floor_reads_zero_and_says_so():
    """The pose model's error survives the low-pass (docs/metrics.md): below STILL_ELBOW_DEG no reading is
    told apart from a still arm, however clean the series."""
    frames = 100
    figs = [syn.Figure(front_upper_arm=150.0, front_elbow=140.0 + 20.0 * min(1.0, max(0.0, (i - 40) / 20)))
            for i in range(frames)]
    ext = compute_metrics(syn.series(figs), frames).metrics["left_elbow_extension"]
    assert ext["value"] == 0.0 and ext["at_s"] is None
    assert ext["noise_floor_deg"] == STILL_ELBOW_DEG


def test_one_wild_frame_does_not_set_an_extreme():
    s = syn.steady(syn.Figure(front_knee=150.0), frames=50)
    xy = s.xy.copy()
    xy[25, INDEX["left_ankle"]] += [60.0, -60.0]  # the knee "folds" for one frame
    report = compute_metrics(PoseSeries(s.t, xy, s.visibility), 50)
    summary = report.metrics["left_knee_angle"]["value"]
    assert summary["min"] == pytest.approx(150.0, abs=1.0)
    assert report.moments["max_front_knee_flexion"] is None
    assert "noise floor" in report.moment_reasons["max_front_knee_flexion"]


def test_sustained_extreme_needs_most_of_its_window():
    t = np.arange(20) / 25
    v = np.zeros(20)
    v[5] = 50.0  # one frame
    v[12:15] = 30.0  # three frames: 0.12 s
    level, row = sustained(t, v, largest=True)
    assert level == 30.0 and 12 <= row <= 14
    assert sustained(t, np.full(20, np.nan), largest=True) is None


def test_a_bending_knee_is_a_key_moment_and_a_still_one_is_not():
    bend = syn.animate(syn.Figure(), frames=75, front_knee=(170.0, 110.0))
    report = compute_metrics(noisy(bend, 1.0), 75)
    assert report.moments["max_front_knee_flexion"] is not None
    assert report.moments["max_front_knee_flexion"] >= 70
    assert report.moment_reasons["max_front_knee_flexion"] is None
    still = compute_metrics(noisy(syn.steady(syn.Figure(), frames=75), 1.0), 75)
    assert still.moments["max_front_knee_flexion"] is None
    assert still.moments["max_stride"] is None and "noise floor" in still.moment_reasons["max_stride"]


def test_confidence_falls_with_jitter_and_with_coverage():
    base = syn.steady(syn.Figure(), frames=100)
    clean = compute_metrics(base, 100).metrics["left_knee_angle"]["confidence"]
    shaky = compute_metrics(noisy(base, 4.0), 100).metrics["left_knee_angle"]["confidence"]
    gappy = PoseSeries(base.t, np.where((np.arange(100) % 2 == 0)[:, None, None], base.xy, np.nan), base.visibility)
    half = compute_metrics(gappy, 100).metrics["left_knee_angle"]["confidence"]  # pose in half the frames
    assert clean == pytest.approx(0.9, abs=0.01)  # visibility 0.9, full coverage, no jitter
    assert shaky < 0.8 * clean
    assert half == pytest.approx(clean / 2, abs=0.01)


def _clip(frames: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = syn.animate(syn.Figure(), frames=frames, front_knee=(170.0, 130.0))
    return s.t, s.xy.copy(), s.visibility.copy()


def test_settling_frames_follow_each_acquisition_both_ways():
    events = ["lost", "backfilled", "backfilled", "backfilled", "acquired", "tracked", "tracked", "tracked",
              "lost", "reacquired", "tracked", "tracked", "tracked"]
    detected = np.array([e != "lost" for e in events])
    flagged = np.flatnonzero(quality.settling(events, detected))
    assert list(flagged) == [2, 3, 4, 5, 6, 9, 10, 11]


def test_segment_gate_catches_a_stretched_limb_and_a_size_jump_but_not_a_zoom():
    t, xy, vis = _clip()
    xy[20, INDEX["left_ankle"]] += [0.0, 70.0]  # the shin is 85 px: now about twice as long
    xy[30] = (xy[30] - xy[30].mean(axis=0)) * 1.6 + xy[30].mean(axis=0)  # the whole body 60% larger
    usable = np.ones(len(t), dtype=bool)
    bad = quality.bad_segments(t, xy, vis, usable)
    assert list(np.flatnonzero(bad)) == [20, 30]
    zoom = np.linspace(1.0, 0.5, len(t))[:, None, None]
    t, xy, vis = _clip()
    zoomed = (xy - xy.mean(axis=1, keepdims=True)) * zoom + xy.mean(axis=1, keepdims=True)
    assert not quality.bad_segments(t, zoomed, vis, usable).any()


def test_foreshortening_is_not_rejected():
    t, xy, vis = _clip()
    elbow, wrist = INDEX["left_elbow"], INDEX["left_wrist"]
    xy[20:25, wrist] = xy[20:25, elbow] + 0.3 * (xy[20:25, wrist] - xy[20:25, elbow])  # forearm towards the camera
    assert not quality.bad_segments(t, xy, vis, np.ones(len(t), dtype=bool)).any()


def test_frame_quality_codes_and_counts():
    t, xy, vis = _clip(20)
    detected = np.ones(20, dtype=bool)
    detected[15:] = False
    xy[10, INDEX["right_knee"]] += [0.0, 80.0]
    events = ["acquired"] + ["tracked"] * 14 + ["lost"] * 5
    code = quality.frame_quality(t, xy, vis, detected, events)
    assert list(code[:3]) == [quality.SETTLING] * 3
    assert code[10] == quality.SEGMENTS and (code[15:] == quality.NO_POSE).all()
    assert quality.gate_counts(code) == {"settling": 3, "segment_lengths": 1, "frame_edge": 0, "identity": 0}


def test_a_body_cut_by_the_side_of_the_picture_and_the_poses_just_after_are_gated():
    t, xy, vis = _clip(30)
    detected = np.ones(30, dtype=bool)
    detected[20:] = False
    xy[5:8, :, 0] += 600.0 - xy[5:8, :, 0].min()  # walking out on the right: the figure reaches past x = 640
    cut = quality.at_side_edge(xy, detected, width=640, settle=2)
    assert list(np.flatnonzero(cut)) == [5, 6, 7, 8, 9]
    feet_cut = _clip(30)[1]
    feet_cut[:, INDEX["left_ankle"], 1] = 2000.0  # below the picture: a framing, not a passage
    assert not quality.at_side_edge(feet_cut, detected, width=640).any()


def test_a_body_touching_the_side_of_the_picture_counts_as_cut():
    """The model squeezes a half body's landmarks inside the picture: touching the edge is what shows it."""
    t, xy, vis = _clip(30)
    detected = np.ones(30, dtype=bool)
    size = float(np.ptp(xy[5, :, 1]))
    xy[5:8, :, 0] += 640.0 - 0.03 * size - xy[5:8, :, 0].max()  # within 3 % of its size of x = 640
    xy[12:14, :, 0] -= xy[12:14, :, 0].min() - 0.02 * size  # and of x = 0
    assert not (xy[..., 0] >= 640).any() and not (xy[..., 0] < 0).any()
    cut = quality.cut_by_side(xy, 640)
    assert list(np.flatnonzero(cut)) == [5, 6, 7, 12, 13]
    assert list(np.flatnonzero(quality.at_side_edge(xy, detected, width=640, settle=1))) == [5, 6, 7, 8, 12, 13, 14]


def test_a_hidden_landmark_near_the_side_does_not_count_but_one_outside_does():
    t, xy, vis = _clip(10)
    size = float(np.ptp(xy[0, :, 1]))
    wrist = INDEX["right_wrist"]
    xy[2, wrist, 0] = 640.0 - 0.02 * size  # near the edge, but hidden: the model's guess
    vis[2, wrist] = 0.1
    xy[4, wrist, 0] = 650.0  # outside the picture, hidden or not
    vis[4, wrist] = 0.1
    assert list(np.flatnonzero(quality.cut_by_side(xy, 640, vis))) == [4]
    assert list(np.flatnonzero(quality.cut_by_side(xy, 640))) == [2, 4]


def test_every_pose_from_the_first_uncertain_refind_on_is_gated_and_a_reframe_settles():
    t, xy, vis = _clip(20)
    detected = np.ones(20, dtype=bool)
    detected[8:10] = False
    events = (["acquired"] + ["tracked"] * 4 + ["reframed"] + ["tracked"] * 2 + ["lost"] * 2
              + ["reacquired_uncertain"] + ["tracked"] * 4 + ["reacquired"] + ["tracked"] * 4)
    code = quality.frame_quality(t, xy, vis, detected, events)
    assert list(code[:3]) == [quality.SETTLING] * 3 and list(code[5:8]) == [quality.SETTLING] * 3
    assert (code[3:5] == quality.OK).all() and (code[8:10] == quality.NO_POSE).all()
    assert (code[10:] == quality.IDENTITY).all()  # the later, certain re-find cannot undo it
    assert quality.gate_counts(code)["identity"] == 10


def knee_bends(*knees: float, fps: float = 25.0) -> PoseSeries:
    """The front knee eased (cosine) between the given angles, one second for each change."""
    angles: list[float] = []
    for a, b in zip(knees, knees[1:]):
        angles += [a + (b - a) * (1 - np.cos(np.pi * i / fps)) / 2 for i in range(int(fps))]
    return syn.series([syn.Figure(front_knee=k) for k in angles], fps=fps)


def test_a_flexion_reached_twice_is_no_one_moment_and_a_held_one_is_the_middle_of_its_hold():
    twice = compute_metrics(noisy(knee_bends(170.0, 110.0, 170.0, 111.0, 170.0), 1.0), 100)
    assert twice.moments["max_front_knee_flexion"] is None
    assert "2 separate times" in twice.moment_reasons["max_front_knee_flexion"]
    held = compute_metrics(noisy(knee_bends(170.0, 110.0, 110.0, 110.0, 170.0), 1.0), 100)
    row = held.moments["max_front_knee_flexion"]
    assert row is not None and 45 <= row <= 55  # the hold is rows 25-74: its middle, not a noisy sample in it
