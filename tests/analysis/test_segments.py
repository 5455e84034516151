"""Segment planning, seam checks and the join, on a figure with known motion (no model, no video)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.analysis.synthetic import Figure, animate
from worker.analysis.pictures import CropReservoir
from worker.analysis.pose import PoseSample
from worker.analysis.segments import (SAME_PERSON, FloatingSeam, Handicap, Part, Segment, join, merge_stats, plan, seam_problem,
                                      stats_delta)
from worker.analysis.stream import Collected
from worker.analysis.track import TrackStats
from worker.analysis.video import DecodeStats

FPS = 25.0
W, H = 640, 480


def motion(frames: int) -> np.ndarray:
    """(frames, 33, 2) pixels: a batter whose knee bends and whose arm swings while he walks across."""
    base = animate(Figure(), frames, FPS, front_knee=(175.0, 120.0), front_upper_arm=(10.0, 150.0)).xy
    return base + np.linspace(-100.0, 100.0, frames)[:, None, None] * np.array([1.0, 0.0])


def sample(xy: np.ndarray) -> PoseSample:
    image = np.zeros((33, 3), np.float32)
    image[:, :2] = xy / [W, H]
    return PoseSample(image, np.zeros((33, 3), np.float32), np.full(33, 0.9, np.float32), np.ones(33, np.float32))


def single_pass(xy: np.ndarray, events: list[str] | None = None, frames: range | None = None) -> Collected:
    """What the streaming pass keeps for the frames `frames` of the motion (every frame analysed)."""
    frames = frames if frames is not None else range(len(xy))
    c = Collected(width=W, height=H)
    for row, k in enumerate(frames):
        c.timestamps_ms.append(k * 1000.0 / FPS)
        c.frame_index.append(k)
        c.samples.append(sample(xy[k]))
        c.events.append(events[k] if events else "tracked")
        box = tuple(float(v) for v in (*xy[k].min(axis=0), *xy[k].max(axis=0)))
        c.crops.offer(row, np.full((H, W, 3), k % 256, np.uint8), box)
    return c


def parts_for(xy: np.ndarray, segments: list[Segment], later: np.ndarray | None = None,
              events: list[str] | None = None) -> list[Part]:
    """Each segment as its process sees it: from its warm-up to its end; `later` replaces what segments
    after the first see (another person, say)."""
    parts = []
    for s in segments:
        first = int(np.ceil(s.warm_from_ms * FPS / 1000.0 - 1e-9))
        last = len(xy) if s.until_ms is None else int(np.ceil(s.until_ms * FPS / 1000.0 - 1e-9))
        seen = xy if later is None or s.index == 0 else later
        c = single_pass(seen, events, range(first, last))
        parts.append(Part(s, c, DecodeStats(last, last - first, c.timestamps_ms[-1]), TrackStats(), {}))
    return parts


def test_plan_covers_the_clip_contiguously_with_equal_work():
    segments = plan(30.0, 2, warm_up_s=1.0, min_segment_s=3.0)
    assert [s.index for s in segments] == [0, 1]
    assert segments[0].keep_from_ms == 0.0 and segments[-1].until_ms is None
    assert segments[0].until_ms == segments[1].keep_from_ms == pytest.approx(15500.0)
    assert segments[1].warm_from_ms == pytest.approx(14500.0)
    work = [(s.until_ms or 30000.0) - s.warm_from_ms for s in segments]
    assert work[0] == pytest.approx(work[1])


def test_plan_with_four_processes_balances_the_warm_ups():
    segments = plan(60.0, 4, warm_up_s=2.0, min_segment_s=3.0)
    ends = [s.until_ms or 60000.0 for s in segments]
    assert [s.keep_from_ms for s in segments[1:]] == ends[:-1]
    assert all(s.keep_from_ms - s.warm_from_ms == pytest.approx(2000.0) for s in segments[1:])
    work = [e - s.warm_from_ms for s, e in zip(segments, ends)]
    assert max(work) - min(work) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("processes", [2, 4])
def test_plan_gives_the_first_segment_what_a_child_loses_starting(processes):
    handicap = Handicap(start_s=1.5)
    segments = plan(120.0, processes, warm_up_s=1.0, min_segment_s=3.0, handicap=handicap)
    ends = [(s.until_ms or 120000.0) / 1000.0 for s in segments]
    cost = [e - s.warm_from_ms / 1000.0 + (handicap.start_s if s.index else 0.0)
            for s, e in zip(segments, ends)]
    assert max(cost) - min(cost) == pytest.approx(0.0, abs=1e-6)
    kept = [e - s.keep_from_ms / 1000.0 for s, e in zip(segments, ends)]
    assert kept == sorted(kept, reverse=True) and kept[0] - kept[-1] > 1.5
    assert [s.keep_from_ms for s in segments[1:]] == [1000.0 * e for e in ends[:-1]]


def test_plan_drops_a_child_whose_handicap_leaves_it_too_little():
    assert len(plan(12.0, 2, warm_up_s=1.0, min_segment_s=3.0)) == 2
    assert len(plan(12.0, 2, warm_up_s=1.0, min_segment_s=3.0, handicap=Handicap(start_s=6.0))) == 1


@pytest.mark.parametrize("duration, processes, count", [
    (None, 4, 1), (2.0, 2, 1), (6.9, 2, 1), (7.0, 2, 2), (30.0, 1, 1), (30.0, 64, 9), (float("nan"), 2, 1)])
def test_plan_uses_no_segment_shorter_than_the_minimum(duration, processes, count):
    assert len(plan(duration, processes, warm_up_s=1.0, min_segment_s=3.0)) == count


def test_plan_refuses_zero_processes():
    with pytest.raises(ValueError, match="at least 1"):
        plan(30.0, 0)


@pytest.mark.parametrize("processes", [2, 3])
def test_join_of_segments_is_the_single_pass(processes):
    xy = motion(250)
    segments = plan(len(xy) / FPS, processes, warm_up_s=1.0, min_segment_s=2.0)
    assert len(segments) == processes
    parts = parts_for(xy, segments)
    for earlier, later in zip(parts, parts[1:]):
        assert seam_problem(earlier, later) is None
    joined, decode = join(parts)
    whole = single_pass(xy)
    assert joined.frame_index == whole.frame_index
    assert joined.timestamps_ms == whole.timestamps_ms
    assert joined.events == whole.events
    for a, b in zip(joined.samples, whole.samples):
        np.testing.assert_array_equal(a.image, b.image)
    assert decode.frames_analyzed == len(xy) and decode.frames_decoded == len(xy)
    rows = [c.row for c in joined.crops.items]
    assert rows == sorted(rows) and len(rows) <= joined.crops.capacity and rows[-1] > 200
    for crop in joined.crops.items:  # every picture still belongs to its row's frame
        assert crop.image[0, 0, 0] == joined.frame_index[crop.row] % 256


def test_seam_with_another_person_in_the_later_segment_is_refused():
    xy = motion(150)
    other = xy + np.array([2.0 * SAME_PERSON * 400.0, 0.0])  # someone a body height or so to the side
    parts = parts_for(xy, plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0), later=other)
    assert "different people" in seam_problem(parts[0], parts[1])


def test_seam_during_a_loss_is_refused():
    xy = motion(150)
    segments = plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0)
    seam = int(segments[1].keep_from_ms * FPS / 1000.0)
    events = ["tracked"] * len(xy)
    events[seam - 3] = "reacquired"
    problem = seam_problem(*parts_for(xy, segments, events=events))
    assert "'reacquired'" in problem


def test_seam_where_nobody_was_ever_found_is_joinable_but_not_after_a_track():
    xy = motion(150)
    segments = plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0)
    parts = parts_for(xy, segments)
    for part in parts:
        part.collected.samples = [None] * len(part.collected.samples)
        part.collected.events = ["lost"] * len(part.collected.events)
    assert seam_problem(parts[0], parts[1]) is None
    parts[0].collected.samples[3] = sample(xy[3])  # the earlier segment followed someone once
    assert "'lost'" in seam_problem(parts[0], parts[1])


def test_segments_that_do_not_overlap_are_refused():
    xy = motion(150)
    segments = plan(len(xy) / FPS, 2, warm_up_s=0.0, min_segment_s=2.0)
    assert seam_problem(*parts_for(xy, segments)) == "the segments do not overlap"


def test_join_refuses_segments_out_of_order():
    xy = motion(150)
    parts = parts_for(xy, plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0))
    with pytest.raises(RuntimeError, match="not after"):
        join(parts[::-1])


def numbered_by_seek(part: Part, shift: list[int]) -> Part:
    """The part as a seek numbers its frames: from their timestamps, `shift` frames fewer than a count."""
    collected = dataclasses.replace(part.collected, frame_index=[k - d for k, d in zip(part.collected.frame_index,
                                                                                        shift)])
    return dataclasses.replace(part, collected=collected, decode=dataclasses.replace(
        part.decode, frames_decoded=part.decode.frames_decoded - shift[-1]))


def test_a_later_segment_numbered_by_its_seek_is_renumbered_from_the_overlap():
    xy = motion(250)
    first, later = parts_for(xy, plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0))
    later = numbered_by_seek(later, [3] * len(later.collected.frame_index))  # 3 frames dropped before it
    assert seam_problem(first, later) is None
    joined, decode = join([first, later])
    assert joined.frame_index == list(range(len(xy)))
    assert decode.frames_decoded == len(xy)


def test_two_decoders_that_disagree_on_which_frames_they_read_are_refused():
    xy = motion(250)
    first, later = parts_for(xy, plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0))
    rows = len(later.collected.frame_index)
    assert later.first_kept() == 25
    later = numbered_by_seek(later, [3] * 20 + [2] * (rows - 20))  # they part within the checked overlap
    with pytest.raises(RuntimeError, match="numbered .* apart by two decoders"):
        seam_problem(first, later)


def test_tracking_counters_count_the_kept_rows_once():
    at_keep = TrackStats(people_seen=2, acquisitions=1, search_calls=12, rejected=1, rejected_reasons={"size": 1},
                         subject_time_s=14.6, subject_reason="the largest person")
    end = dataclasses.replace(at_keep, people_seen=3, reacquisitions=1, search_calls=20, rejected=3,
                              rejected_reasons={"size": 2, "colours": 1})
    later = stats_delta(end, at_keep)
    assert (later.acquisitions, later.reacquisitions, later.search_calls, later.rejected) == (0, 1, 8, 2)
    assert later.rejected_reasons == {"size": 1, "colours": 1} and later.people_seen == 3
    first = TrackStats(people_seen=1, acquisitions=1, search_calls=30, subject_time_s=0.2, subject_reason="only one",
                       subject_box=(0.1, 0.2, 0.3, 0.9))
    merged = merge_stats([first, later])
    assert (merged.acquisitions, merged.reacquisitions, merged.search_calls, merged.people_seen) == (1, 1, 38, 3)
    assert merged.subject_time_s == 0.2 and merged.subject_reason == "only one"
    assert merged.rejected_reasons == {"size": 1, "colours": 1}


def test_thinned_pictures_stay_within_capacity():
    parts = parts_for(motion(300), plan(12.0, 2, warm_up_s=1.0, min_segment_s=2.0))
    for part in parts:
        assert isinstance(part.collected.crops, CropReservoir)
    joined, _ = join(parts)
    assert len(joined.crops.items) == joined.crops.capacity


def float_through(xy: np.ndarray, segments: list[Segment], parts: list[Part],
                  events: list[str]) -> tuple[FloatingSeam, Part]:
    """The first segment's pass as stream.stream drives it: past its planned end while the seam says so."""
    seam = FloatingSeam(segments, lambda k: parts[k])
    rows = []
    for k in range(len(xy)):
        ms = k * 1000.0 / FPS
        if ms >= segments[0].until_ms and not seam(single_pass(xy, events, range(0, k)), ms):
            break
        rows.append(k)
    first = single_pass(xy, events, range(0, rows[-1] + 1))
    return seam, Part(segments[0], first, DecodeStats(len(rows), len(rows), first.timestamps_ms[-1]),
                      TrackStats(), {})


def test_a_seam_during_a_loss_moves_on_to_the_next_steady_stretch():
    xy = motion(200)
    segments = plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0)
    seam_row = int(segments[1].keep_from_ms * FPS / 1000.0)
    events = ["tracked"] * len(xy)
    for row in range(seam_row - 4, seam_row + 6):  # lost and re-found around the planned seam
        events[row] = "lost" if row < seam_row + 5 else "reacquired"
    parts = parts_for(xy, segments, events=events)
    later = {1: parts[1]}
    later[1].collected.events = ["tracked"] * len(later[1].collected.events)  # the later one never lost him
    seam, first = float_through(xy, segments, later, events)
    assert seam.at_ms is not None and seam.at_ms > segments[0].until_ms
    joined_parts = seam.parts(first, [parts[1]])
    assert seam_problem(*joined_parts) is None
    joined, _ = join(joined_parts)
    assert joined.frame_index == list(range(len(xy)))  # every frame once, in order
    cut = joined_parts[0].segment.until_ms
    assert joined.events[:int(cut * FPS / 1000.0)] == events[:int(cut * FPS / 1000.0)]  # the single pass's


def test_a_later_segment_that_never_agrees_leaves_the_first_to_the_end():
    xy = motion(150)
    segments = plan(len(xy) / FPS, 2, warm_up_s=1.0, min_segment_s=2.0)
    parts = parts_for(xy, segments, later=xy + np.array([2.0 * SAME_PERSON * 400.0, 0.0]))
    seam, first = float_through(xy, segments, {1: parts[1]}, ["tracked"] * len(xy))
    assert seam.at_ms is None
    (whole,) = seam.parts(first, [parts[1]])
    assert whole.segment.until_ms is None and join([whole])[0].frame_index == list(range(len(xy)))


def test_kept_counters_follow_a_moved_seam():
    at_keep = TrackStats(acquisitions=1, search_calls=10)
    later = dataclasses.replace(at_keep, reacquisitions=1, search_calls=16)
    end = dataclasses.replace(later, search_calls=20)
    part = Part(Segment(1, 4000.0, 5000.0, None), Collected(), DecodeStats(), end, {},
                marks=[(5000.0, at_keep), (5600.0, later)])
    assert (part.kept_stats().reacquisitions, part.kept_stats().search_calls) == (1, 10)
    moved = part.keeping_from(6000.0).kept_stats()
    assert (moved.acquisitions, moved.reacquisitions, moved.search_calls) == (0, 0, 4)
