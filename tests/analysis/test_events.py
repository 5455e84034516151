"""Cricket events and event metrics on a kinematic player with known truth (tests/analysis/kinematics.py)."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from jsonschema import Draft202012Validator

from tests.analysis import kinematics as kin
from worker.analysis.cricket import analyse_cricket
from worker.analysis.cutoff import cutoff_hz
from worker.analysis.filters import lowpass
from worker.analysis.landmarks import INDEX
from worker.analysis.motion import spline_slope
from worker.analysis.series import PoseSeries
from worker.analysis.video import VideoReader
from worker.options import parse_options

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "worker" / "analysis" / "cricket.schema.json").read_text())
BOWLING_EVENTS = ("back_foot_contact", "front_foot_contact", "upper_arm_horizontal", "release", "end_of_follow_through")
BATTING_EVENTS = ("set_position", "trigger", "front_foot_landing", "top_of_backlift", "impact", "end_of_follow_through")
# (frame rate, tolerance in frames, player height px, noise px); the 120 px player's feet move 1-2 px a frame
# near a landing, as much as the noise, so at 60 fps its tolerance is two frames (see docs/metrics.md)
FILMING = [(60, 1, 400, 2.0), (30, 2, 400, 2.0), (60, 2, 120, 1.0), (30, 2, 120, 1.0)]
SEEDS = range(20)  # noise draws (and lost frames) per filming: every event of every one is checked


@lru_cache(maxsize=None)
def model(kind: str, height: float = 400.0, facing: int = 1, hand: str = "right") -> kin.Model:
    if kind == "bowling":
        return kin.bowling(height=height, facing=facing, arm=hand)
    return kin.drive(height=height, facing=facing, stance=hand)


def analyse(m: kin.Model, fps: float, noise: float = 2.0, drop: float = 0.05, seed: int = 7, until=None,
            **options) -> dict:
    """The cricket block of the model filmed so (5 % of frames lost by default); computed once per filming."""
    return _analyse(m, fps, noise, drop, seed, until, tuple(sorted(options.items())))


@lru_cache(maxsize=None)
def _analyse(m: kin.Model, fps: float, noise: float, drop: float, seed: int, until, options: tuple) -> dict:
    series, usable = kin.sample(m, fps, noise, drop, seed=seed, until=until)
    out = analyse_cricket(series, usable, parse_options(dict(options)), fps)
    assert_valid(out)
    return out


def assert_valid(out: dict) -> None:
    errors = list(Draft202012Validator(SCHEMA).iter_errors(out))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    json.dumps(out, allow_nan=False)


def value(out: dict, metric: str) -> float:
    entry = out["metrics"][metric]
    assert entry["value"] is not None, f"{metric}: {entry['reason']}"
    assert 0 < entry["confidence"] <= 1
    return entry["value"]


def knee(m: kin.Model, event: str) -> float:
    side = m.front
    return m.angle(m.events[event], f"{side}_hip", f"{side}_knee", f"{side}_ankle")


# ---------------------------------------------------------------- cutoff

def test_cutoff_follows_activity_and_never_exceeds_four_tenths_of_the_rate() -> None:
    assert cutoff_hz("bowling", 60) == 12.0
    assert cutoff_hz("batting", 60) == 10.0
    assert cutoff_hz("auto", 60) == 12.0
    assert cutoff_hz("bowling", 25) == pytest.approx(10.0)
    assert cutoff_hz("batting", 15) == pytest.approx(6.0)
    with pytest.raises(ValueError):
        cutoff_hz("bowling", 0)


@pytest.mark.parametrize("activity", ["bowling", "batting"])
def test_a_short_knee_dip_keeps_its_depth(activity: str) -> None:
    t = np.arange(0.0, 2.0, 1 / 60)
    u = (t - 1.0) / 0.15
    dip = 60.0 * np.where(np.abs(u) < 0.5, 0.5 * (1 + np.cos(2 * np.pi * u)), 0.0)  # 60 deg over 0.15 s
    kept = lambda hz: (170.0 - np.nanmin(lowpass(t, 170.0 - dip, hz))) / 60.0  # noqa: E731
    assert kept(cutoff_hz(activity, 60)) >= 0.85
    assert kept(6.0) < 0.85  # the whole-clip metrics' filter would flatten it


# ---------------------------------------------------------------- event times

@pytest.mark.parametrize(("fps", "frames", "height", "noise"), FILMING)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("kind", "names"), [("bowling", BOWLING_EVENTS), ("batting", BATTING_EVENTS)])
def test_events_are_found_within_the_tolerance(kind: str, names: tuple[str, ...], fps: int, frames: int,
                                               height: float, noise: float, seed: int) -> None:
    m = model(kind, height)
    out = analyse(m, fps, noise, seed=seed, view="side-on")
    assert out["activity"]["value"] == kind
    assert out["handedness"]["front_side"] == "left"  # a right-arm bowler, a right-handed batter
    for name in names:
        event = out["events"][name]
        assert event["time_s"] is not None, f"{name}: {event['reason']}"
        assert abs(event["time_s"] - m.events[name]) <= frames / fps + 1e-4, (name, event["time_s"], m.events[name])
        assert abs(event["frame"] / fps - event["time_s"]) <= 0.5 / fps + 1e-9
        assert 0.5 < event["confidence"] <= 1


def _capped_rows(tmp_path: Path, fps: float, seconds: float, cap: float) -> np.ndarray:
    """Rows a real `fps` video keeps under the `cap`: VideoReader.frames, the analysis' own frame selection."""
    path = tmp_path / f"clip{fps:g}.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 64))
    assert writer.isOpened()
    for _ in range(int(round(fps * seconds))):
        writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.release()
    with VideoReader(path) as reader:
        return np.array([frame.index for frame in reader.frames(cap)])


@pytest.mark.parametrize("kind", ["bowling", "batting"])
def test_a_120_fps_clip_capped_to_60_gives_the_60_fps_times(kind: str, tmp_path: Path) -> None:
    """The 120 fps clip goes through the reader's frame-rate cap, as the pipeline does (one frame in two)."""
    m = model(kind)
    fast, usable = kin.sample(m, 120, 2.0, 0.0, seed=3)
    rows = _capped_rows(tmp_path, 120, m.duration, 60)
    assert len(rows) == pytest.approx(len(fast.t) / 2, abs=1) and set(np.diff(rows)) == {2}
    capped = PoseSeries(fast.t[rows], fast.xy[rows], fast.visibility[rows])
    direct, ok = kin.sample(m, 60, 2.0, 0.0, seed=4)
    a = analyse_cricket(capped, usable[rows], parse_options(None), None)
    b = analyse_cricket(direct, ok, parse_options(None), 60)
    assert a["analysed_fps"] == pytest.approx(60, abs=0.01)
    for name, event in a["events"].items():
        assert event["time_s"] is not None and b["events"][name]["time_s"] is not None, name
        assert abs(event["time_s"] - b["events"][name]["time_s"]) <= 1 / 60, name
        assert abs(event["time_s"] - m.events[name]) <= 1 / 60 + 1e-4, name


def test_a_mirrored_left_arm_bowler_and_left_handed_batter() -> None:
    bowler = model("bowling", 400, -1, "left")
    out = analyse(bowler, 60)
    assert out["facing"] == "left" and out["handedness"]["value"] == "left"
    assert abs(out["events"]["release"]["time_s"] - bowler.events["release"]) <= 1 / 60
    batter = model("batting", 400, -1, "left")
    out = analyse(batter, 60)
    assert out["facing"] == "left" and out["handedness"]["front_side"] == "right"
    assert abs(out["events"]["impact"]["time_s"] - batter.events["impact"]) <= 1 / 60


# ---------------------------------------------------------------- activity

@pytest.mark.parametrize(("kind", "height"), [("bowling", 400), ("batting", 400), ("bowling", 120), ("batting", 120)])
def test_auto_activity_picks_the_right_one_and_says_why(kind: str, height: float) -> None:
    out = analyse(model(kind, height), 30, 1.0)
    assert out["activity"]["value"] == kind and out["activity"]["source"] == "auto"
    assert "wrist" in out["activity"]["reason"]


def test_the_activity_option_wins_over_the_picture() -> None:
    out = analyse(model("batting"), 60, activity="bowling")
    assert out["activity"] == {"value": "bowling", "source": "option", "reason": "set to bowling by the caller"}


# ---------------------------------------------------------------- metrics

def _errors(kind: str, metric: str, truth: float, fps: int = 60, seeds=SEEDS, **options) -> np.ndarray:
    m = model(kind)
    return np.array([value(analyse(m, fps, seed=seed, **options), metric) - truth for seed in seeds])


@pytest.mark.parametrize(("kind", "metric", "event"), [
    ("bowling", "front_knee_angle_at_front_foot_contact", "front_foot_contact"),
    ("bowling", "front_knee_angle_at_release", "release"),
    ("batting", "front_knee_angle_at_front_foot_landing", "front_foot_landing"),
    ("batting", "front_knee_angle_at_impact", "impact"),
])
def test_knee_angles_at_events_are_within_3_degrees_at_2_px_noise(kind: str, metric: str, event: str) -> None:
    """Over 20 noisy clips with 5 % of frames lost: little bias, root-mean-square error within 3 degrees.

    Not every clip is within 3 degrees: 2 px on hip, knee and ankle moves one frame's knee angle by ~2.8
    degrees, the event filter keeps ~40 % of that variance, so a clip reads with a spread of ~1.7 degrees and
    the worst of 20 lies 2-2.5 spreads out (docs/metrics.md, "Accuracy on synthetic players, and limits").
    No reading can do better on every clip: scripts/event_angle_bound.py puts the floor at 3.7-6.1 degrees.
    """
    errors = _errors(kind, metric, knee(model(kind), event), view="side-on")
    assert abs(errors.mean()) <= 1.5
    assert np.sqrt(np.mean(errors**2)) <= 2.5
    assert np.abs(errors).max() <= 5.5


def test_the_elbow_indicator_measures_the_extension_in_the_picture() -> None:
    m = model("bowling")
    arm = lambda t: m.angle(t, "right_shoulder", "right_elbow", "right_wrist")  # noqa: E731
    extension = arm(m.events["release"]) - arm(m.events["upper_arm_horizontal"])
    assert extension > 5
    errors = _errors("bowling", "bowling_elbow_extension", extension, view="side-on")
    assert abs(errors.mean()) <= 2.0
    assert np.sqrt(np.mean(errors**2)) <= 4.0  # a difference of two angles: sqrt(2) x the noise of one
    elbow = analyse(m, 60, view="side-on")["metrics"]["bowling_elbow_extension"]
    assert elbow["indicator_only"] is True and "ICC" in elbow["note"]
    assert elbow["at_release"] - elbow["at_upper_arm_horizontal"] == pytest.approx(elbow["value"], abs=0.11)


def test_bowling_metrics_match_the_model_at_2_px_noise() -> None:
    m = model("bowling")
    out = analyse(m, 60, view="side-on")
    p = m.parts(np.array([m.events["release"]]))
    trunk = np.mean([p["left_shoulder"], p["right_shoulder"]], axis=0) - np.mean([p["left_hip"], p["right_hip"]], 0)
    lean = math.degrees(math.atan2(trunk[0, 0], -trunk[0, 1]))
    assert value(out, "trunk_forward_flexion_at_release") == pytest.approx(lean, abs=3)
    height = (p["left_heel"][0, 1] - p["right_wrist"][0, 1]) / m.height
    assert value(out, "release_height") == pytest.approx(height, abs=0.02)
    b, f = m.parts(np.array([m.events["back_foot_contact"]])), m.parts(np.array([m.events["front_foot_contact"]]))
    stride = np.linalg.norm(f["left_ankle"][0] - b["right_ankle"][0]) / (kin.CHAIN * m.height)
    assert value(out, "stride_length") == pytest.approx(stride, abs=0.02)


def test_batting_metrics_match_the_model_at_2_px_noise() -> None:
    m = model("batting")
    out = analyse(m, 60)
    body = kin.CHAIN * m.height
    p = m.parts(np.array([m.events["front_foot_landing"]]))
    stride = out["metrics"]["stride_length"]
    assert value(out, "stride_length") == pytest.approx(np.linalg.norm(p["left_ankle"][0] - p["right_ankle"][0]) / body,
                                                        abs=0.02)
    assert stride["direction"] == "forward" and stride["view_assumed"] == "side-on"
    p = m.parts(np.array([m.events["impact"]]))
    head = (p["nose"][0, 0] - (p["left_heel"][0, 0] + p["left_foot_index"][0, 0]) / 2) / body
    assert value(out, "head_position_at_impact") == pytest.approx(head, abs=0.02)
    assert out["metrics"]["head_position_at_impact"]["position"] == "behind"
    path = m.parts(np.linspace(m.events["top_of_backlift"], m.events["impact"], 200))["nose"]
    sway = np.linalg.norm(path - path[0], axis=1).max() / body
    assert value(out, "head_sway_downswing") == pytest.approx(sway, abs=0.02)
    p = m.parts(np.array([m.events["top_of_backlift"]]))
    hands = (p["right_heel"][0, 1] - (p["left_wrist"][0, 1] + p["right_wrist"][0, 1]) / 2) / m.height
    assert value(out, "backlift_height") == pytest.approx(hands, abs=0.02)


def test_the_small_player_keeps_the_knee_angles_unbiased() -> None:
    m = model("bowling", 120)
    for metric, event in (("front_knee_angle_at_release", "release"),
                          ("front_knee_angle_at_front_foot_contact", "front_foot_contact")):
        errors = np.array([value(analyse(m, 60, 1.0, seed=seed, view="side-on"), metric) - knee(m, event)
                           for seed in range(6)])
        assert abs(errors.mean()) <= 2.5 and np.sqrt(np.mean(errors**2)) <= 4.5, (metric, errors)


# ---------------------------------------------------------------- nulls with reasons

def test_a_clip_cut_before_release_has_no_release_and_says_so() -> None:
    m = model("bowling")
    out = analyse(m, 60, until=m.events["release"] - 0.03, view="side-on", handedness="right")
    release = out["events"]["release"]
    assert release["time_s"] is None and "not in the clip" in release["reason"]
    assert "cannot be confirmed" in out["events"]["front_foot_contact"]["reason"]
    assert out["events"]["end_of_follow_through"]["reason"] == "release was not found"
    for name in ("front_knee_angle_at_release", "release_height", "bowling_elbow_extension"):
        assert out["metrics"][name]["value"] is None and "release was not found" in out["metrics"][name]["reason"]


def test_a_landing_seen_for_long_enough_before_the_cut_is_kept() -> None:
    m = model("bowling")
    out = analyse(m, 60, until=m.events["release"] + 0.03, view="side-on")
    assert abs(out["events"]["front_foot_contact"]["time_s"] - m.events["front_foot_contact"]) <= 1 / 60 + 1e-4
    assert out["events"]["release"]["time_s"] is None and "not in the clip" in out["events"]["release"]["reason"]
    assert out["metrics"]["front_knee_angle_at_front_foot_contact"]["value"] is not None


def test_a_clip_cut_before_impact_has_no_impact_and_says_so() -> None:
    m = model("batting")
    out = analyse(m, 60, until=m.events["impact"] - 0.04)
    impact = out["events"]["impact"]
    assert impact["time_s"] is None and "not in the clip" in impact["reason"]
    assert out["metrics"]["head_position_at_impact"]["value"] is None


def test_frames_the_gate_rejects_are_not_used() -> None:
    m = model("bowling")
    series, usable = kin.sample(m, 60, 2.0, 0.0, seed=5)
    gate = usable & ~((series.t > m.events["release"] - 0.2) & (series.t < m.events["release"] + 0.2))
    out = analyse_cricket(series, gate, parse_options({"view": "side-on", "handedness": "right"}), 60)
    assert_valid(out)
    assert out["events"]["release"]["time_s"] is None and out["events"]["front_foot_contact"]["time_s"] is None
    assert "front-foot contact was not found" in out["events"]["release"]["reason"]
    assert out["events"]["back_foot_contact"]["time_s"] is None  # not the follow-through's step after the gap


def test_a_hidden_front_knee_gives_null_knee_metrics_naming_the_joint() -> None:
    m = model("bowling")
    series, usable = kin.sample(m, 60, 2.0, 0.0, seed=2)
    visibility = series.visibility.copy()
    hidden = (series.t > 0.45) & (series.t < 0.75)  # front-foot contact to past release
    visibility[hidden, INDEX["left_knee"]] = 0.2  # below MediaPipe's 0.5: not in view
    out = analyse_cricket(PoseSeries(series.t, series.xy, visibility), usable, parse_options({"view": "side-on"}), 60)
    assert_valid(out)
    for name in ("front_knee_angle_at_front_foot_contact", "front_knee_angle_at_release"):
        assert out["metrics"][name]["value"] is None and "left knee" in out["metrics"][name]["reason"]
    assert out["metrics"]["release_height"]["value"] is not None


def test_the_elbow_indicator_needs_a_side_on_view_and_50_fps() -> None:
    m = model("bowling")
    at_30 = analyse(m, 30, view="side-on")["metrics"]["bowling_elbow_extension"]
    assert at_30["value"] is None and "50" in at_30["reason"]
    unknown_view = analyse(m, 60)["metrics"]["bowling_elbow_extension"]
    assert unknown_view["value"] is None and "side-on" in unknown_view["reason"]


def test_a_front_on_view_gives_lateral_flexion_and_no_side_on_numbers() -> None:
    m = model("bowling")
    out = analyse(m, 60, view="front-on")
    for name in ("stride_length", "front_knee_angle_at_front_foot_contact", "trunk_forward_flexion_at_release"):
        assert out["metrics"][name]["value"] is None and "side-on view" in out["metrics"][name]["reason"]
    lateral = out["metrics"]["trunk_lateral_flexion_at_release"]
    assert lateral["value"] is not None and lateral["towards"] == "non-bowling side"
    side_on = analyse(m, 60, view="side-on")["metrics"]["trunk_lateral_flexion_at_release"]
    assert side_on["value"] is None and "front-on or behind" in side_on["reason"]


def test_no_body_gives_an_empty_block_with_a_reason() -> None:
    t = np.arange(30) / 30
    series = PoseSeries(t, np.full((30, 33, 2), np.nan), np.zeros((30, 33)))
    out = analyse_cricket(series, np.ones(30, dtype=bool), parse_options(None), 30)
    assert_valid(out)
    assert out["events"] == {} and out["metrics"] == {} and "not seen" in out["reason"]


@pytest.mark.parametrize(("kind", "metrics"), [
    ("bowling", {"front_knee_angle_at_front_foot_contact": "front_foot_contact",
                 "front_knee_angle_at_release": "release"}),
    ("batting", {"front_knee_angle_at_front_foot_landing": "front_foot_landing",
                 "front_knee_angle_at_impact": "impact"}),
])
def test_without_noise_the_knee_angles_at_events_are_within_a_degree(kind: str, metrics: dict) -> None:
    """The method's own bias (the filter across the foot's stop, the event's timing), apart from noise."""
    m = model(kind)
    out = analyse(m, 60, 0.0, drop=0.0, view="side-on")
    for metric, event in metrics.items():
        assert value(out, metric) == pytest.approx(knee(m, event), abs=1.0), metric


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize(("kind", "feet"), [("bowling", ("back_foot_contact", "front_foot_contact")),
                                            ("batting", ("front_foot_landing",))])
def test_a_lost_landing_frame_keeps_the_contact_within_a_frame(kind: str, feet: tuple[str, ...], seed: int) -> None:
    """The frame on which the foot lands, and the one before, are lost: the hinge fit still places the landing."""
    m = model(kind)
    series, usable = kin.sample(m, 60, 2.0, 0.0, seed=seed)
    lost = np.zeros(len(series.t), dtype=bool)
    for name in feet:
        row = int(np.argmin(np.abs(series.t - m.events[name])))
        lost[row - 1:row + 1] = True
    xy = series.xy.copy()
    xy[lost] = np.nan
    out = analyse_cricket(PoseSeries(series.t, xy, np.where(lost[:, None], 0.0, series.visibility)), ~lost,
                          parse_options({"view": "side-on"}), 60)
    for name in feet:
        event = out["events"][name]
        assert event["time_s"] is not None, f"{name}: {event['reason']}"
        assert abs(event["time_s"] - m.events[name]) <= 1 / 60 + 1e-4, (name, event["time_s"], m.events[name])


@pytest.mark.parametrize("n", [4, 5, 9])
def test_speed_peak_spline_is_scipys_not_a_knot_cubic_spline(n):
    from scipy.interpolate import CubicSpline

    rng = np.random.default_rng(n)
    t = np.cumsum(rng.uniform(0.01, 0.05, n))
    xy = rng.normal(size=(n, 2))
    grid = np.linspace(t[0], t[-1], 151)
    np.testing.assert_allclose(spline_slope(t, xy, grid), CubicSpline(t, xy)(grid, 1), rtol=0, atol=1e-9)
