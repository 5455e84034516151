"""Stream a video's frames with OpenCV, upright, timed by the container, at a capped rate.

Frames are decoded one at a time and never kept: the caller gets each analysed
frame and lets it go. Limits are checked from the container's header before
any decoding, so an absurd file costs nothing.

Rotation: OpenCV 5's FFmpeg backend rotates frames by the container's display
matrix by default (CAP_PROP_ORIENTATION_AUTO = 1), and reports width and height
already swapped. We switch that off and rotate ourselves from
CAP_PROP_ORIENTATION_META, so the behaviour does not depend on the OpenCV
version's default, and only frames that are analysed pay for the rotation.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from worker.errors import InvalidVideoError


def init_opencv() -> None:
    """Quiet OpenCV and FFmpeg for this process; call once before the first video is opened.

    FFmpeg's own messages ("moov atom not found", ...) would go straight to the
    worker's JSON-lines stderr; our errors say the same thing in words a person
    can act on. FFmpeg's level is read when OpenCV first opens a file. An
    explicit call, not an import side effect: importing this module changes nothing.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@contextmanager
def opencv_threads(count: int | None) -> Iterator[None]:
    """OpenCV's own thread pool at `count` threads for a while (None: left as it is).

    When several analysis processes already keep every core busy, a pool per
    process splits each resize, warp and colour conversion across cores that
    are all taken, and each split waits for the other process's model to give
    a core back. One thread each was 6 % faster end to end on a two-process
    30 s 720p clip (medians of 7 alternating pairs, 2026-12-06); one process
    alone gains nothing from it and keeps the pool.
    """
    before = cv2.getNumThreads()
    if count is not None:
        cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


_ROTATIONS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}
# A header that announces more frames than we decode by this factor means the
# file was cut short (an interrupted upload), not merely a rounding error.
_TRUNCATION_RATIO = 0.9


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be before we even start decoding it."""

    max_seconds: float = 300.0
    max_side: int = 4096  # 4K (DCI) is the largest camera format we accept
    min_side: int = 64
    max_source_fps: float = 1000.0  # high-speed cameras stop well below this


@dataclass(frozen=True)
class VideoInfo:
    """The container's own description of the stream, as displayed (after rotation)."""

    path: Path
    width: int
    height: int
    fps: float | None
    frames_announced: int | None
    rotation_deg: int


@dataclass
class Frame:
    index: int  # position in the decoded stream, counting skipped frames
    timestamp_ms: float  # container presentation time
    image: np.ndarray  # BGR, upright


@dataclass
class DecodeStats:
    frames_decoded: int = 0  # frames read so far, those a seek passed over included: the next frame's index
    frames_analyzed: int = 0
    last_timestamp_ms: float = 0.0


def _sniff(path: Path) -> str:
    """A plain-words guess at what an unreadable file is, from its first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[4:8] == b"ftyp":
        return (
            "it is an MP4/MOV file whose video index cannot be read: the file is truncated "
            "(an interrupted upload or copy) or holds no video frames"
        )
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "it is an AVI file that is truncated or holds no readable video stream"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut in half at the end of the sample
            return "its content is not a video format FFmpeg recognises"
        text = head[: exc.start].decode("utf-8")
    if text and all(ch.isprintable() or ch.isspace() for ch in text):
        return "it is a text file, not a video"
    return "its content is not a video format FFmpeg recognises"


def _slot(timestamp_ms: float, period_ms: float) -> int:
    """The frame-rate cap's slot of a frame, with half a ms of slack for rounded timestamps."""
    return int((timestamp_ms + 0.5) // period_ms)


class VideoReader:
    """Open a video, check it against the limits, and hand out frames at a capped rate.

    Use as a context manager; the OpenCV capture is released on exit, also
    when the consumer stops early or raises.
    """

    def __init__(self, path: str | os.PathLike, limits: VideoLimits = VideoLimits()) -> None:
        self.path = Path(path)
        self.limits = limits
        self.stats = DecodeStats()
        self._cap: cv2.VideoCapture | None = None
        self.info = self._open()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _open(self) -> VideoInfo:
        name = self.path.name
        if not self.path.is_file():
            raise InvalidVideoError(f"video file {self.path} does not exist or is not a regular file")
        size = self.path.stat().st_size
        if size == 0:
            raise InvalidVideoError(f"video {name} is empty (0 bytes); upload the video file again")
        self._cap = self._capture()
        try:
            return self._describe(self._cap)
        except BaseException:
            self.close()
            raise

    def _capture(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise InvalidVideoError(
                f"video {self.path.name} cannot be opened: {_sniff(self.path)}. "
                "Expected a complete MP4, MOV or AVI video; export or upload it again"
            )
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        return cap

    def _describe(self, cap: cv2.VideoCapture) -> VideoInfo:
        name = self.path.name
        rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0)) % 360
        if rotation not in (0, *_ROTATIONS):
            rotation = 0  # a skewed display matrix is not a rotation we can honour
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if math.isfinite(fps) and fps > 0 else None
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        frames = int(count) if math.isfinite(count) and count > 0 else None

        lim = self.limits
        if width <= 0 or height <= 0:
            raise InvalidVideoError(f"video {name} has no picture size in its header; it holds no video stream")
        if max(width, height) > lim.max_side:
            raise InvalidVideoError(
                f"video {name} is {width}x{height} pixels; the largest accepted side is {lim.max_side} px. "
                "Export it at 1080p or 720p"
            )
        if min(width, height) < lim.min_side:
            raise InvalidVideoError(
                f"video {name} is {width}x{height} pixels, too small to see a player; "
                f"the shorter side must be at least {lim.min_side} px"
            )
        if fps is not None and fps > lim.max_source_fps:
            raise InvalidVideoError(
                f"video {name} claims {fps:g} frames per second, above the accepted {lim.max_source_fps:g}; "
                "its header is corrupt or it is high-speed footage: export it at its playback rate"
            )
        frames_cap = lim.max_seconds * (fps or lim.max_source_fps)
        if frames is not None and frames > frames_cap * 1.01 + 1:
            seconds = frames / fps if fps else None
            length = f"{seconds:.1f} s" if seconds else f"{frames} frames"
            raise InvalidVideoError(
                f"video {name} is {length} long; the limit is {lim.max_seconds:g} s. "
                "Trim it to the shot or delivery you want analysed"
            )
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(self.path, width, height, fps, frames, rotation)

    def frames(self, max_fps: float | None = None, skip_before_ms: float | None = None) -> Iterator[Frame]:
        """Yield the frames to analyse, upright, in order; the rest are decoded and dropped.

        A frame is kept when it falls into a new slot of length 1/max_fps on the
        container's time line, so a 30 fps video capped at 25 fps keeps 25
        frames a second, evenly spread. Frames before `skip_before_ms` (a later
        segment of a parallel analysis) are passed over (`_seek_before`), then
        decoded but not yielded: the slots go on from the last frame passed, so
        the frames kept after it are exactly those a pass from the start keeps.
        """
        if self._cap is None:
            raise RuntimeError("VideoReader is closed")
        period_ms = 1000.0 / max_fps if max_fps else None
        last_slot = -1
        if skip_before_ms is not None:
            passed_ms = self._seek_before(skip_before_ms)
            if passed_ms is not None and period_ms is not None:
                last_slot = _slot(passed_ms, period_ms)
        cap, info, stats = self._cap, self.info, self.stats
        fallback_step = 1000.0 / (info.fps or 25.0)
        limit_ms = self.limits.max_seconds * 1000.0
        rotate = _ROTATIONS.get(info.rotation_deg)
        while cap.grab():
            index = stats.frames_decoded
            stats.frames_decoded += 1
            ts = cap.get(cv2.CAP_PROP_POS_MSEC)
            if not math.isfinite(ts) or ts < 0:
                ts = index * fallback_step
            stats.last_timestamp_ms = max(stats.last_timestamp_ms, ts)
            if ts > limit_ms + fallback_step:
                raise InvalidVideoError(
                    f"video {self.path.name} runs past {self.limits.max_seconds:g} s although its header "
                    "announced less; trim it to the shot or delivery you want analysed"
                )
            if period_ms is not None:
                slot = _slot(ts, period_ms)
                if slot <= last_slot:
                    continue
                last_slot = slot
            if skip_before_ms is not None and ts < skip_before_ms:
                continue
            ok, image = cap.retrieve()
            if not ok or image is None:
                continue
            if rotate is not None:
                image = cv2.rotate(image, rotate)
            stats.frames_analyzed += 1
            yield Frame(index, ts, image)
        self._check_complete()

    def _seek_before(self, before_ms: float) -> float | None:
        """Pass over the frames up to shortly before `before_ms` without decoding them all: the timestamp of
        the last frame passed, or None when reading starts from the beginning.

        A later segment used to decode every frame before its own (1 ms a megapixel each: 4.5 s into a
        5-minute 720p clip). OpenCV seeks to the key frame before the target and decodes on from there, so
        the pictures are exact; it numbers frames from their timestamps, which a variable frame rate with
        dropped frames numbers otherwise than a count (segments.join renumbers a later segment from the
        frames it shares with the one before). A seek that fails or lands at or past `before_ms` leaves the
        decoder in an unknown place: the video is opened afresh and read from its start instead.
        """
        fps = self.info.fps
        target = int(before_ms * fps / 1000.0) - 2 if fps else 0
        if target < 1 or self.stats.frames_decoded:
            return None
        cap = self._cap
        if cap.set(cv2.CAP_PROP_POS_FRAMES, target):
            passed, passed_ms = int(cap.get(cv2.CAP_PROP_POS_FRAMES)), cap.get(cv2.CAP_PROP_POS_MSEC)
            if 0 < passed <= target and math.isfinite(passed_ms) and 0.0 <= passed_ms < before_ms:
                self.stats.frames_decoded = passed
                self.stats.last_timestamp_ms = passed_ms
                return passed_ms
        cap.release()
        self._cap = self._capture()
        return None

    def _check_complete(self) -> None:
        name = self.path.name
        decoded = self.stats.frames_decoded
        if decoded == 0:
            raise InvalidVideoError(f"video {name} contains no decodable video frames; export or upload it again")
        if self.stats.frames_analyzed == 0:
            raise InvalidVideoError(
                f"video {name}: none of its {decoded} frames could be decoded into a picture; "
                "export or upload it again"
            )
        announced = self.info.frames_announced
        if announced and decoded < announced * _TRUNCATION_RATIO:
            raise InvalidVideoError(
                f"video {name} is truncated: its header announces {announced} frames but only {decoded} "
                "could be decoded (an interrupted upload or copy); upload the complete file again"
            )
