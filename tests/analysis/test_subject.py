"""Choosing the subject, the identity gate and the windows the model sees: pure geometry, no model."""
from __future__ import annotations

import numpy as np
import pytest

from tests.analysis import synthetic as syn
from worker.analysis.acquire import Person, level_windows, merge
from worker.analysis.landmarks import COUNT
from worker.analysis.pose import PoseSample
from worker.analysis.subject import choose
from worker.options import InvalidOptions, Subject, options_from_flags, parse_options
from worker.analysis.identity import identity_gate, likeness
from worker.analysis.window import Window, grid


def person(dx: float = 0.0, dy: float = 0.0, scale: float = 1.0) -> Person:
    """The stick figure (about 330 px tall), moved and scaled, as a find in frame pixels."""
    xy = syn.pose(syn.Figure()) * scale + [dx, dy]
    sample = PoseSample(np.zeros((COUNT, 3), np.float32), np.zeros((COUNT, 3), np.float32),
                        np.full(COUNT, 0.9, np.float32), np.full(COUNT, 0.9, np.float32))
    return Person(xy, sample, Window(0, 0, 1280, 720, 1.0))


def hint(text: str) -> Subject | None:
    """The --subject flag as both `analyze` and `submit` read it."""
    return parse_options(options_from_flags(subject=text)).subject


def test_hints_parse_as_points_or_boxes_with_an_optional_time():
    assert hint("0.4,0.5") == Subject(0.4, 0.5)
    assert hint("0.4,0.5,2.5") == Subject(0.4, 0.5, t=2.5)
    box = hint("0.1,0.2,0.3,0.6")
    assert box.is_box and box.corners == pytest.approx((0.1, 0.2, 0.4, 0.8))
    assert hint("0.1,0.2,0.3,0.6,1").t == 1.0
    for bad in ("0.5", "a,b", "1.5,0.2", "0.3,0.2,0.1,0.9", "0.1,0.2,0.3,0.4,0.5,0.6", "0.4,0.5,-1"):
        with pytest.raises(InvalidOptions):
            hint(bad)


def test_the_hint_names_the_person_under_it_and_otherwise_the_largest_wins():
    near, far = person(0, 0), person(600, 0, scale=1.2)
    x0, y0, x1, y1 = near.box
    on_near = Subject(((x0 + x1) / 2) / 1280, ((y0 + y1) / 2) / 720)
    chosen, reason = choose([far, near], on_near, 1280, 720)
    assert chosen is near and "given by the caller" in reason
    chosen, reason = choose([near, far], None, 1280, 720)
    assert chosen is far and "largest person of 2" in reason
    nobody, reason = choose([near, far], Subject(0.99, 0.01), 1280, 720)
    assert nobody is None and "none of the 2 people" in reason
    fx0, fy0, fx1, fy1 = far.box
    bx0, by0, bx1, by1 = fx0 / 1280, max(fy0, 0) / 720, min(fx1, 1279) / 1280, min(fy1, 719) / 720
    box = Subject(bx0, by0, bx1 - bx0, by1 - by0)
    assert choose([near, far], box, 1280, 720)[0] is far


def test_identity_gate_turns_away_a_jump_a_size_change_or_other_colours():
    track = person(0, 0)
    size, centre = track.size, track.centre
    red = np.zeros(64)
    red[3] = 1.0
    blue = np.zeros(64)
    blue[48] = 1.0
    assert identity_gate(person(10, 0), red, centre, size, red, 0).ok
    assert not identity_gate(person(0.5 * size, 0), red, centre, size, red, 0).ok
    assert identity_gate(person(0.5 * size, 0), red, centre, size, red, 2).ok  # lost for 2 frames: may move more
    assert "size" in identity_gate(person(0, 0, 1.6), red, centre, size, red, 0).reason
    assert "colours" in identity_gate(person(5, 0), blue, centre, size, red, 0).reason
    assert likeness(red, red) == pytest.approx(1.0) and likeness(red, blue) == 0.0
    assert likeness(None, red) is None


def test_finds_of_one_person_in_overlapping_tiles_are_merged():
    whole, shifted, other = person(0, 0), person(8, 4), person(500, 0)
    kept = merge([whole, shifted, other])
    assert len(kept) == 2


def test_tiles_cover_the_frame_with_overlap_and_grow_finer_for_smaller_people():
    for windows in (grid(1280, 720, 2, 3, 512), grid(1280, 720, 4, 7, 512, shifted=True)):
        covered = np.zeros((720, 1280), dtype=int)
        for w in windows:
            covered[round(w.y0):round(w.y0 + w.h), round(w.x0):round(w.x0 + w.w)] += 1
        assert covered.min() >= 1
        assert max(w.out_size[0] for w in windows) == 512 or max(w.out_size[1] for w in windows) == 512
    counts = [len(level_windows(1280, 720, share)) for share in (0.45, 0.2, 0.1)]
    assert counts[0] == 1 and counts[0] < counts[1] < counts[2]


def test_a_window_cut_and_mapped_back_lands_on_the_same_pixels():
    frame = np.zeros((720, 1280, 3), dtype=np.uint8)
    frame[400:410, 600:610] = 255
    for window in (Window.square(605, 405, 100, 384), Window.square(605, 405, 1500, 384),
                   Window.fit(500, 300, 300, 200, 512), Window.square(20, 20, 200, 256)):
        image = window.cut(frame)
        assert image.shape[:2] == window.out_size[::-1]
        if image.max() < 128:
            continue
        ys, xs = np.nonzero(image[:, :, 0] > 128)
        centre = np.array([[xs.mean() / image.shape[1], ys.mean() / image.shape[0]]])
        np.testing.assert_allclose(window.to_frame(centre)[0], [604.5, 404.5], atol=max(1.0, 1 / window.scale))
