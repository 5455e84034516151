"""Finding, choosing and following one player with the real model, on scenes composed at test time.

A player (messi5.jpg, cut out) is pasted into an empty outdoor picture at a
known place and size in every frame, so the tests know where he is and can
tell whether the analysis followed him or someone else.
"""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.analysis.helpers import assert_valid_result
from tests.support.media import Actor, Motion, Scene, actor_box
from worker.analysis import AnalysisOptions, analyze
from worker.options import Subject

SIZES = (0.08, 0.10, 0.15, 0.20, 0.30, 0.45, 0.60)
JOINTS = [f"{s}_{j}_angle" for s in ("left", "right") for j in ("elbow", "knee", "hip", "shoulder")]


def sized(height: float) -> Scene:
    """The player drifting slowly to the right, his box `height` of the frame height."""
    return Scene(actors=(Actor(height=height, x=(0.4, 0.55), y=(0.55, 0.5)),))


CROSSING = Scene(actors=(
    Actor("messi", height=0.35, x=(0.45, 0.5), y=(0.5, 0.5)),
    Actor("basketball", height=0.5, x=(0.1, 0.9), y=(0.5, 0.5)),  # walks across in front of him
), seconds=3.0)
CLONES = Scene(actors=(
    Actor("messi", height=0.3, x=(0.2, 0.8), y=(0.5, 0.5)),
    Actor("messi", height=0.3, x=(0.8, 0.2), y=(0.55, 0.55)),  # walks across in front of him
), seconds=3.0)
TWO_SIZES = Scene(actors=(Actor(height=0.2, x=(0.25, 0.25), y=(0.5, 0.5)), Actor(height=0.4, x=(0.7, 0.7))))
LEAVING = Scene(actors=(Actor(height=0.25, x=(0.85, 0.85, 1.25, 1.25, 0.85, 0.85), y=(0.5, 0.5)),), seconds=4.0)
STAYING = Scene(actors=(Actor(height=0.25, x=(0.85, 0.85), y=(0.5, 0.5)),), seconds=4.0)
# the same out of the other side, leaving at once and back for the second half
LEAVING_LEFT = Scene(actors=(Actor(height=0.25, x=(0.2, -0.25, -0.25, 0.2, 0.2, 0.2, 0.2), y=(0.5, 0.5)),),
                     seconds=4.0)
STAYING_LEFT = Scene(actors=(Actor(height=0.25, x=(0.2, 0.2), y=(0.5, 0.5)),), seconds=4.0)

STILL = Motion(seconds=2.0, scale=(0.95, 0.95))
MOVED = {
    "shifted": Motion(seconds=2.0, scale=(0.95, 0.95), shift_x=(-0.2, 0.2)),
    "zoomed to 0.5": Motion(seconds=2.0, scale=(0.95, 0.5)),
    "rotated +-10 deg": Motion(seconds=2.0, scale=(0.95, 0.95), angle=(-10.0, 10.0)),
}


@pytest.fixture(scope="module")
def run_scene(make_scene_video, make_person_video):
    """`run_scene(scene_or_(photo, motion), **options)` -> (result, out_dir), each computed once."""
    cache: dict = {}

    def run(clip, **options):
        key = (clip, tuple(sorted(options.items())))
        if key not in cache:
            video = make_scene_video(clip) if isinstance(clip, Scene) else make_person_video(*clip)
            out = Path(tempfile.mkdtemp(prefix="tracking-"))
            result = analyze(video, out, options=AnalysisOptions(**options))
            cache[key] = (assert_valid_result(result, out), out)
        return cache[key]

    return run


def median_angles(out: Path) -> dict[str, float]:
    """Median over the frames of each smoothed joint angle in angles.csv."""
    with open(out / "angles.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    medians = {}
    for name in JOINTS:
        values = [float(r[name]) for r in rows if r[name]]
        if len(values) >= 10:
            medians[name] = float(np.median(values))
    return medians


@pytest.mark.parametrize("height", SIZES)
def test_a_player_is_found_and_measured_at_any_size(run_scene, height):
    result, out = run_scene(sized(height))
    assert result["pose"]["detection_rate"] >= 0.95
    tracking = result["tracking"]
    assert tracking["subject"]["source"] == "auto" and tracking["acquisitions"] == 1
    assert result["quality"]["frames_accepted"] >= 0.85 * result["video"]["frames_analyzed"]
    reference = median_angles(run_scene(sized(0.60))[1])
    here = median_angles(out)
    assert len(reference) >= 6 and set(reference) <= set(here)
    for name, angle in reference.items():
        # a nearly straight joint is ill-conditioned in 2D (a few px of wrist or ankle sideways turn it by
        # degrees; the old full-frame analysis of this very clip moved the left elbow by 13 deg between
        # 30% and 60%): it gets the 8-degree tolerance the other framing tests use
        tolerance = 5.0 if angle < 160.0 else 8.0
        assert here[name] == pytest.approx(angle, abs=tolerance), name


def test_the_hinted_player_is_followed_and_nobody_else_is_mixed_in(run_scene):
    result, out = run_scene(CROSSING, subject=Subject(0.45, 0.5, t=0.0))
    tracking = result["tracking"]
    assert tracking["subject"]["source"] == "hint" and "given by the caller" in tracking["subject"]["reason"]
    assert accepted_on_actor(CROSSING, out, 0).mean() >= 0.6


def accepted_on_actor(scene: Scene, out: Path, actor: int) -> np.ndarray:
    """The accepted frames, after checking that each one's hips and shoulders lie in `actor`'s box."""
    with np.load(out / "landmarks.npz") as data:
        accepted = data["quality"] == 0
        image, frame_index = data["image"], data["frame_index"]
    count = round(scene.seconds * scene.fps)
    width, height = scene.size
    for row in np.flatnonzero(accepted):
        u = frame_index[row] / (count - 1)
        x0, y0, x1, y1 = actor_box(scene, actor, u)
        pad = 0.1 * (y1 - y0)
        hips = image[row, [23, 24], :2].mean(axis=0) * [width, height]
        shoulders = image[row, [11, 12], :2].mean(axis=0) * [width, height]
        for point in (hips, shoulders):
            assert x0 - pad <= point[0] <= x1 + pad and y0 - pad <= point[1] <= y1 + pad, (row, point)
    return accepted


def test_two_look_alikes_whose_paths_cross_are_never_mixed(run_scene):
    # the same player twice, the same size, walking towards each other: only position can tell them apart
    result, out = run_scene(CLONES, subject=Subject(0.2, 0.5, t=0.0))
    accepted = accepted_on_actor(CLONES, out, 0)
    assert accepted.sum() >= 15
    tracking, gates = result["tracking"], result["quality"]["removed_by_gate"]
    if tracking["uncertain_reacquisitions"]:  # what was found after it may be the other one: not measured
        assert gates["identity"] > 0 and tracking["identity_uncertain_at_s"] is not None


def test_without_a_hint_the_largest_person_is_chosen_and_the_reason_given(run_scene):
    result, _ = run_scene(TWO_SIZES)
    subject = result["tracking"]["subject"]
    assert subject["source"] == "auto" and "largest person" in subject["reason"]
    x0, y0, x1, y1 = subject["box"]
    assert x0 > 0.5 and y1 - y0 > 0.3  # the large player on the right, not the small one on the left
    hinted, _ = run_scene(TWO_SIZES, subject=Subject(0.25, 0.5))
    x0, y0, x1, y1 = hinted["tracking"]["subject"]["box"]
    assert x1 < 0.5 and y1 - y0 < 0.3


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_player_who_leaves_and_comes_back_is_found_again_with_lower_confidence(run_scene, side):
    staying, _ = run_scene(STAYING if side == "right" else STAYING_LEFT)
    leaving, _ = run_scene(LEAVING if side == "right" else LEAVING_LEFT)
    tracking = leaving["tracking"]
    assert tracking["reacquisitions"] >= 1 and tracking["gap_count"] >= 1
    assert 0.3 < tracking["coverage"] < 0.9
    assert tracking["longest_gap_s"] > 0.5
    compare_summaries(staying, leaving, 8.0)
    for name in JOINTS:
        if staying["metrics"][name]["value"] and leaving["metrics"][name]["value"]:
            assert leaving["metrics"][name]["confidence"] < staying["metrics"][name]["confidence"], name


def compare_summaries(base: dict, other: dict, tolerance: float) -> None:
    compared = 0
    for name in JOINTS + ["front_knee_flexion"]:
        a, b = base["metrics"][name]["value"], other["metrics"][name]["value"]
        if a is None or b is None:
            continue
        for key in ("min", "max", "mean"):
            if a.get(key) is not None and b.get(key) is not None:
                assert b[key] == pytest.approx(a[key], abs=tolerance), (name, key)
                compared += 1
    assert compared >= 12


@pytest.mark.parametrize("change", list(MOVED))
def test_summary_angles_survive_moving_zooming_and_turning_the_camera(run_scene, change):
    base, _ = run_scene(("messi", STILL))
    moved, _ = run_scene(("messi", MOVED[change]))
    assert moved["pose"]["detection_rate"] >= 0.95
    compare_summaries(base, moved, 8.0)


def test_a_player_is_not_reframed_while_the_landmarker_settles_after_a_fresh_start():
    """Unit test of the reframe rule on the tracker's own state (no model): a player 40 % larger than his
    crop is made for is re-read on a new crop, but not on the poses the settling gate drops anyway."""
    from types import SimpleNamespace

    from worker.analysis import quality
    from worker.analysis.track import CROP, SubjectTracker

    tracker = SubjectTracker(tracker=None, finder=None)
    reads: list[float] = []
    tracker._refined = lambda bgr, ms, person: reads.append(ms) or person
    tracker._crop_state = (np.array([500.0, 300.0, CROP * 100.0]), np.zeros(3))
    steps = 2 * quality.SETTLE_FRAMES
    larger = [tracker._steadied(None, float(ms), SimpleNamespace(size=140.0))[1] for ms in range(steps)]
    settle = ["tracked"] * (quality.SETTLE_FRAMES - 1) + ["reframed"]
    assert larger == settle * 2 and reads == [quality.SETTLE_FRAMES - 1.0, steps - 1.0]
    alike = [tracker._steadied(None, 0.0, SimpleNamespace(size=110.0))[1] for _ in range(steps)]
    assert alike == ["tracked"] * steps


def test_a_find_no_crop_confirmed_may_be_reframed_on_its_first_tracked_pose():
    """The settling hold is for a landmarker that started afresh on a crop made for the player; a find kept
    as the search boxed it (no crop confirmed it: `_refined` left no window) had no such start, and its
    first tracked pose, 40 % larger than the crop is made for, is re-read at once."""
    from types import SimpleNamespace

    from worker.analysis.track import CROP, SubjectTracker

    tracker = SubjectTracker(tracker=None, finder=None)
    reads: list[float] = []
    tracker._refined = lambda bgr, ms, person: reads.append(ms) or person
    tracker._crop_state = (np.array([500.0, 300.0, CROP * 100.0]), np.zeros(3))
    tracker._window = None
    tracker._fresh = tracker._settled_unless_refined()
    assert tracker._steadied(None, 0.0, SimpleNamespace(size=140.0))[1] == "reframed" and reads == [0.0]
    tracker._window = object()  # a find a crop confirmed: the landmarker settles first
    tracker._fresh = tracker._settled_unless_refined()
    assert tracker._steadied(None, 1.0, SimpleNamespace(size=140.0))[1] == "tracked" and reads == [0.0]
