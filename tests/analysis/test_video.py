"""Streaming decode: rotation, container timestamps, the frame-rate cap, and every kind of bad file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.media import ensure_opencv_doc_media, set_mp4_rotation
from worker.errors import InvalidVideoError
from worker.analysis.video import VideoLimits, VideoReader, opencv_threads


def marker_video(path: Path, *, size=(320, 240), fps=25.0, frames=10, fourcc="mp4v", turn_ccw=0) -> Path:
    """Grey frames with a red block in the top-left corner of the upright picture."""
    codes = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
    width, height = size
    stored = (height, width) if turn_ccw in (90, 270) else (width, height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, stored)
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for _ in range(frames):
        frame = np.full((height, width, 3), 120, np.uint8)
        frame[: height // 5, : width // 5] = (0, 0, 255)
        writer.write(cv2.rotate(frame, codes[turn_ccw]) if turn_ccw else frame)
    writer.release()
    return path


def red_block_centre(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero((image[:, :, 2] > 200) & (image[:, :, 1] < 80))
    return xs.mean() / image.shape[1], ys.mean() / image.shape[0]


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata_turns_frames_upright(tmp_path, degrees):
    stored = marker_video(tmp_path / "stored.mp4", turn_ccw=degrees)
    video = set_mp4_rotation(stored, tmp_path / f"rot{degrees}.mp4", degrees)
    with VideoReader(video) as reader:
        assert reader.info.rotation_deg == degrees
        assert (reader.info.width, reader.info.height) == (320, 240)
        frame = next(reader.frames())
    assert frame.image.shape[:2] == (240, 320)
    x, y = red_block_centre(frame.image)
    assert x < 0.2 and y < 0.2, f"marker at ({x:.2f}, {y:.2f}): frame not upright"


def test_without_metadata_frames_are_left_as_stored(tmp_path):
    video = marker_video(tmp_path / "plain.mp4", turn_ccw=90)
    with VideoReader(video) as reader:
        assert reader.info.rotation_deg == 0
        frame = next(reader.frames())
    assert frame.image.shape[:2] == (320, 240)


def test_timestamps_come_from_the_container(tmp_path):
    video = marker_video(tmp_path / "v30.mp4", fps=30.0, frames=12)
    with VideoReader(video) as reader:
        stamps = [f.timestamp_ms for f in reader.frames()]
    np.testing.assert_allclose(stamps, np.arange(12) * 1000 / 30, atol=1.0)


def test_real_footage_is_timed_at_its_own_rate():
    path = ensure_opencv_doc_media() / "vtest.avi"
    with VideoReader(path, VideoLimits(max_seconds=100)) as reader:
        assert reader.info.fps == pytest.approx(10.0)
        frames = reader.frames()
        stamps = [next(frames).timestamp_ms for _ in range(5)]
        frames.close()
    np.testing.assert_allclose(stamps, [0, 100, 200, 300, 400], atol=1.0)


@pytest.mark.parametrize(("cap", "expected"), [(None, 60), (25.0, 50), (10.0, 20), (60.0, 60)])
def test_frame_rate_cap_keeps_evenly_spread_frames(tmp_path, cap, expected):
    video = marker_video(tmp_path / "v30.mp4", fps=30.0, frames=60, size=(160, 120))
    with VideoReader(video) as reader:
        stamps = np.array([f.timestamp_ms for f in reader.frames(cap)])
        assert reader.stats.frames_decoded == 60
        assert reader.stats.frames_analyzed == len(stamps)
    assert abs(len(stamps) - expected) <= 1
    gaps = np.diff(stamps)
    assert gaps.max() <= 1000 / min(cap or 30, 30) + 1000 / 30 + 1


def moving_block_video(path: Path, *, fps: float = 30.0, frames: int = 240, size=(160, 120)) -> Path:
    """Every frame a different picture: a block that moves and changes shade with the frame number."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for k in range(frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        x = k % (width - 20)
        frame[40:80, x:x + 20] = (40 + k % 200, 255, 255 - k % 200)
        writer.write(frame)
    writer.release()
    return path


class CountingCapture:
    """An OpenCV capture that counts the frames it decodes; `fault` makes its seek fail."""

    def __init__(self, cap: cv2.VideoCapture, fault: str | None = None) -> None:
        self.cap, self.fault, self.grabs = cap, fault, 0

    def grab(self) -> bool:
        self.grabs += 1
        return self.cap.grab()

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES and self.fault == "refused":
            return False
        if prop == cv2.CAP_PROP_POS_FRAMES and self.fault == "overshot":
            value += 30
        return self.cap.set(prop, value)

    def __getattr__(self, name: str):
        return getattr(self.cap, name)


def captures(monkeypatch, fault: str | None = None) -> list[CountingCapture]:
    made: list[CountingCapture] = []
    opened = VideoReader._capture

    def capture(self):
        made.append(CountingCapture(opened(self), fault))
        return made[-1]

    monkeypatch.setattr(VideoReader, "_capture", capture)
    return made


def whole_pass(video: Path, cap: float | None) -> list:
    with VideoReader(video) as reader:
        return [(f.index, f.timestamp_ms, f.image) for f in reader.frames(cap)]


@pytest.mark.parametrize("cap", [None, 25.0, 12.0])
def test_a_later_start_seeks_and_gives_exactly_the_frames_a_whole_pass_gives(tmp_path, monkeypatch, cap):
    video = moving_block_video(tmp_path / "moving.mp4")
    start_ms = 6000.0 + 1000.0 / 60.0  # between two frames
    expected = [frame for frame in whole_pass(video, cap) if frame[1] >= start_ms]
    made = captures(monkeypatch)
    with VideoReader(video) as reader:
        later = [(f.index, f.timestamp_ms, f.image) for f in reader.frames(cap, skip_before_ms=start_ms)]
        assert reader.stats.frames_decoded == 240
    assert [(k, ms) for k, ms, _ in later] == [(k, ms) for k, ms, _ in expected]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(later, expected))
    assert made[-1].grabs < 240 - 150, "the frames before the start were decoded, not passed over"


@pytest.mark.parametrize("fault", ["refused", "overshot"])
def test_a_seek_that_fails_or_lands_past_the_start_reads_from_the_beginning(tmp_path, monkeypatch, fault):
    video = moving_block_video(tmp_path / "moving.mp4")
    start_ms = 6000.0
    expected = [frame for frame in whole_pass(video, 25.0) if frame[1] >= start_ms]
    made = captures(monkeypatch, fault)
    with VideoReader(video) as reader:
        later = [(f.index, f.timestamp_ms, f.image) for f in reader.frames(25.0, skip_before_ms=start_ms)]
    assert [(k, ms) for k, ms, _ in later] == [(k, ms) for k, ms, _ in expected]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(later, expected))
    assert len(made) == 2 and made[-1].grabs >= 240  # opened again, every frame decoded


def test_limits_are_checked_before_any_frame_is_decoded(tmp_path):
    video = marker_video(tmp_path / "two-seconds.mp4", frames=50)
    with pytest.raises(InvalidVideoError, match=r"two-seconds.mp4 is 2.0 s long; the limit is 1 s"):
        VideoReader(video, VideoLimits(max_seconds=1))


def _write_frames(path: Path, fourcc: str, fps: float, size: tuple[int, int], count: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for i in range(count):
        writer.write(np.full((size[1], size[0], 3), (i * 37) % 255, np.uint8))
    writer.release()
    return path


def _truncated_avi(tmp: Path) -> Path:
    full = tmp / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    cut = tmp / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return cut


def _truncated_mp4(tmp: Path) -> Path:
    full = marker_video(tmp / "full.mp4", frames=25)
    cut = tmp / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    return cut


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_INPUTS = {
    "empty": (lambda tmp: _file(tmp / "empty.mp4", b""), r"empty.mp4 is empty \(0 bytes\)"),
    "text named mp4": (lambda tmp: _file(tmp / "notes.mp4", b"shot list\n" * 50),
                       r"notes.mp4 cannot be opened: it is a text file, not a video"),
    "random bytes": (lambda tmp: _file(tmp / "noise.mp4", bytes(range(256)) * 16),
                     r"noise.mp4 cannot be opened: its content is not a video format"),
    "truncated mp4": (_truncated_mp4, r"cut.mp4 cannot be opened: .* truncated"),
    "truncated avi": (_truncated_avi, r"cut.avi is truncated: its header announces 40 frames but only \d+"),
    "no frames mp4": (lambda tmp: _write_frames(tmp / "none.mp4", "mp4v", 25, (320, 240), 0),
                      r"none.mp4 cannot be opened: .*holds no video frames"),
    "no frames avi": (lambda tmp: _write_frames(tmp / "none.avi", "MJPG", 25, (320, 240), 0),
                      r"none.avi contains no decodable video frames"),
    "absurd resolution": (lambda tmp: _write_frames(tmp / "wide.mp4", "mp4v", 25, (4200, 240), 2),
                          r"wide.mp4 is 4200x240 pixels; the largest accepted side is 4096 px"),
    "tiny resolution": (lambda tmp: _write_frames(tmp / "tiny.avi", "MJPG", 25, (48, 48), 2),
                        r"tiny.avi is 48x48 pixels, too small to see a player"),
    "absurd frame rate": (lambda tmp: _write_frames(tmp / "fast.mp4", "mp4v", 5000, (160, 120), 3),
                          r"fast.mp4 claims 5000 frames per second"),
    "too long": (lambda tmp: _write_frames(tmp / "long.avi", "MJPG", 25, (160, 120), 60),
                 r"long.avi is 2.4 s long; the limit is 2 s"),
    "missing": (lambda tmp: tmp / "gone.mp4", r"gone.mp4 does not exist"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_specific_error(tmp_path, case):
    make, message = BAD_INPUTS[case]
    path = make(tmp_path)
    before = set(tmp_path.iterdir())
    with pytest.raises(InvalidVideoError, match=message):
        with VideoReader(path, VideoLimits(max_seconds=2)) as reader:
            for _ in reader.frames():
                pass
    assert set(tmp_path.iterdir()) == before  # nothing left behind


def test_opencv_threads_are_set_for_a_while_and_given_back():
    before = cv2.getNumThreads()
    with opencv_threads(1):
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == before
    with pytest.raises(RuntimeError), opencv_threads(1):
        raise RuntimeError("the analysis failed")
    assert cv2.getNumThreads() == before
    with opencv_threads(None):
        assert cv2.getNumThreads() == before
