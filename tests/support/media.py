"""Real people on video for the pose tests, made at test time from photos that ship in packages.

Photos: scikit-image's astronaut (upper body), matplotlib's Grace Hopper
(upper body), and from Debian's opencv-doc (fetched by
scripts/fetch-test-media.sh into .cache/test-media/, never committed):
messi5.jpg (full body, mid-stride), basketball1.png and vtest.avi (real
pedestrian footage). A photo becomes a short video by moving, scaling and
rotating it over a few seconds; videos are cached per test session.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MEDIA_DIR = Path(os.environ.get("TEST_MEDIA_DIR", REPO / ".cache" / "test-media"))
FETCH_SCRIPT = REPO / "scripts" / "fetch-test-media.sh"
OPENCV_DOC_FILES = ("messi5.jpg", "basketball1.png", "vtest.avi")


def ensure_opencv_doc_media() -> Path:
    """The opencv-doc files, fetched if missing; fails the test run (never skips) if they cannot be."""
    if all((MEDIA_DIR / f).is_file() for f in OPENCV_DOC_FILES):
        return MEDIA_DIR
    done = subprocess.run(
        ["bash", str(FETCH_SCRIPT)], capture_output=True, text=True, timeout=900,
        env={**os.environ, "TEST_MEDIA_DIR": str(MEDIA_DIR)}, check=False,
    )
    missing = [f for f in OPENCV_DOC_FILES if not (MEDIA_DIR / f).is_file()]
    if done.returncode != 0 or missing:
        pytest.fail(
            f"test media missing ({', '.join(missing) or 'script failed'}): {FETCH_SCRIPT} exited "
            f"{done.returncode}.\n{done.stderr.strip()}\nRun it by hand on a Debian machine with apt "
            "access (it needs `apt-get download opencv-doc`).",
            pytrace=False,
        )
    return MEDIA_DIR


def person_photo(name: str) -> np.ndarray:
    """A BGR photo of a real person: astronaut, grace_hopper, messi or basketball."""
    if name == "astronaut":
        try:
            from skimage import data
        except ImportError as exc:
            pytest.fail(f"scikit-image is needed for the astronaut photo: pip install -e '.[test]' ({exc})",
                        pytrace=False)
        return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    if name == "grace_hopper":
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    elif name in ("messi", "basketball"):
        path = ensure_opencv_doc_media() / {"messi": "messi5.jpg", "basketball": "basketball1.png"}[name]
    else:
        raise ValueError(f"unknown test photo {name!r}")
    image = cv2.imread(str(path))
    if image is None:
        pytest.fail(f"cannot read test photo {path}", pytrace=False)
    return image


@dataclass(frozen=True)
class Motion:
    """How the photo moves over the clip; each pair is (at start, at end), interpolated linearly.

    `scale` is the photo's height as a share of the frame height; `shift` is the
    photo centre's offset from the frame centre, as shares of width and height.
    """

    size: tuple[int, int] = (640, 360)
    fps: float = 25.0
    seconds: float = 2.0
    scale: tuple[float, float] = (1.0, 1.0)
    angle: tuple[float, float] = (0.0, 0.0)  # degrees, counter-clockwise
    shift_x: tuple[float, float] = (0.0, 0.0)
    shift_y: tuple[float, float] = (0.0, 0.0)


def frame_transform(photo_shape: tuple[int, ...], motion: Motion, u: float) -> np.ndarray:
    """The 2x3 affine matrix that places the photo in the frame at progress u (0..1)."""
    lerp = lambda pair: pair[0] + (pair[1] - pair[0]) * u  # noqa: E731
    width, height = motion.size
    ph, pw = photo_shape[:2]
    scale = lerp(motion.scale) * height / ph
    centre = (width / 2 + lerp(motion.shift_x) * width, height / 2 + lerp(motion.shift_y) * height)
    matrix = cv2.getRotationMatrix2D((pw / 2, ph / 2), lerp(motion.angle), scale)
    matrix[:, 2] += np.array(centre) - np.array([pw / 2, ph / 2])
    return matrix


_TURN_CCW = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def synthesize_video(
    photo: np.ndarray, path: Path, motion: Motion = Motion(), fourcc: str = "mp4v", turn_ccw: int = 0
) -> Path:
    """Write the moving photo as a video (OpenCV, mp4v in .mp4 by default).

    `turn_ccw` stores every frame turned counter-clockwise by 90/180/270
    degrees, as a phone held sideways stores it; `set_mp4_rotation(.., turn_ccw)`
    then adds the metadata that makes players show it upright again.
    """
    width, height = motion.size
    size = (height, width) if turn_ccw in (90, 270) else (width, height)

    def frame(u: float) -> np.ndarray:
        image = cv2.warpAffine(photo, frame_transform(photo.shape, motion, u), (width, height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(90, 90, 90))
        return cv2.rotate(image, _TURN_CCW[turn_ccw]) if turn_ccw else image

    return write_video(path, fourcc, motion.fps, size, max(1, round(motion.seconds * motion.fps)), frame)


def write_video(path: Path, fourcc: str, fps: float, size: tuple[int, int], count: int,
                frame: Callable[[float], np.ndarray]) -> Path:
    """Write `count` frames, `frame(u)` at progress u = 0..1, with OpenCV; fails the test if it cannot."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        pytest.fail(f"OpenCV cannot write {fourcc} video to {path}", pytrace=False)
    try:
        for i in range(count):
            writer.write(frame(i / (count - 1) if count > 1 else 0.0))
    finally:
        writer.release()
    return path


def set_mp4_rotation(src: Path, dst: Path, degrees: int) -> Path:
    """Copy an MP4 with its video track's display matrix set to `degrees` (as phones record it).

    The matrix lives in the track header box (tkhd); players and FFmpeg rotate
    the picture by it when showing the video.
    """
    data = bytearray(src.read_bytes())
    at = data.find(b"tkhd")
    if at < 4 or data[at + 4] != 0:
        raise ValueError(f"{src} has no version-0 track header to patch")
    matrix_at = at - 4 + 48  # box start + size/type/version/flags/times/ids/duration/layer/volume
    c, s = round(math.cos(math.radians(degrees))), round(math.sin(math.radians(degrees)))
    values = (c << 16, s << 16, 0, (-s) << 16, c << 16, 0, 0, 0, 1 << 30)
    data[matrix_at:matrix_at + 36] = struct.pack(">9i", *values)
    dst.write_bytes(bytes(data))
    return dst


VideoFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def make_person_video(tmp_path_factory: pytest.TempPathFactory) -> VideoFactory:
    """`make_person_video(photo_name, motion=Motion(), fourcc="mp4v", rotation=0)` -> cached video path.

    `rotation` (90/180/270) stores the frames turned and records the display
    rotation in the MP4 metadata, like a phone filming sideways: shown
    upright, it is the same video as with rotation=0.
    """
    folder = tmp_path_factory.mktemp("person-videos")
    photos: dict[str, np.ndarray] = {}

    def make(photo_name: str, motion: Motion = Motion(), fourcc: str = "mp4v", rotation: int = 0) -> Path:
        key = json.dumps([photo_name, asdict(motion), fourcc, rotation], sort_keys=True)
        path = folder / (hashlib.sha1(key.encode()).hexdigest()[:16] + (".avi" if fourcc == "MJPG" else ".mp4"))
        if path.exists():
            return path
        if photo_name not in photos:
            photos[photo_name] = person_photo(photo_name)
        if not rotation:
            return synthesize_video(photos[photo_name], path, motion, fourcc)
        stored = synthesize_video(photos[photo_name], path.with_suffix(".stored.mp4"), motion, fourcc, rotation)
        set_mp4_rotation(stored, path, rotation)
        stored.unlink()
        return path

    return make


PLAYER_BOXES = {  # where the person is in each photo (px, x0, y0, x1, y1), as the pose model sees him
    "messi": (103, 102, 434, 332),
    "basketball": (52, 116, 154, 466),
}


@dataclass(frozen=True)
class Actor:
    """A person cut from a photo and pasted into a scene.

    `height` is the person's box height as a share of the frame height; `x`, `y`
    place the box centre as shares of the frame width and height, moving
    linearly between waypoints spread evenly over the clip.
    """

    photo: str = "messi"
    height: float = 0.3
    x: tuple[float, ...] = (0.5, 0.5)  # waypoints, evenly spread over the clip
    y: tuple[float, ...] = (0.5, 0.5)


@dataclass(frozen=True)
class Scene:
    """People pasted over an empty outdoor picture (scikit-image's rocket launch site), later ones in front."""

    actors: tuple[Actor, ...] = (Actor(),)
    size: tuple[int, int] = (1280, 720)
    fps: float = 25.0
    seconds: float = 2.0


def actor_box(scene: Scene, k: int, u: float) -> tuple[float, float, float, float]:
    """The pasted person's box in frame pixels at progress u (0..1)."""
    actor = scene.actors[k]
    x0, y0, x1, y1 = PLAYER_BOXES[actor.photo]
    width, height = scene.size
    scale = actor.height * height / (y1 - y0)
    cx = float(np.interp(u, np.linspace(0, 1, len(actor.x)), actor.x)) * width
    cy = float(np.interp(u, np.linspace(0, 1, len(actor.y)), actor.y)) * height
    half_w, half_h = (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _cutout(photo: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The person with a margin, a feathered alpha mask, and the box's offset inside the cut-out."""
    x0, y0, x1, y1 = box
    pad_x, pad_y = round(0.12 * (x1 - x0)), round(0.08 * (y1 - y0))
    ax, ay = max(0, x0 - pad_x), max(0, y0 - pad_y)
    bx, by = min(photo.shape[1], x1 + pad_x), min(photo.shape[0], y1 + pad_y)
    cut = photo[ay:by, ax:bx]
    alpha = np.zeros(cut.shape[:2], dtype=np.float32)
    alpha[max(0, y0 - ay - pad_y // 2):y1 - ay + pad_y // 2, max(0, x0 - ax - pad_x // 2):x1 - ax + pad_x // 2] = 1
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(2.0, 0.25 * min(pad_x, pad_y)))
    return cut, alpha, (x0 - ax, y0 - ay)


def compose_video(scene: Scene, path: Path) -> Path:
    """Write the scene as an mp4v video; each actor is scaled and moved by a per-frame affine paste."""
    from skimage import data

    width, height = scene.size
    background = cv2.resize(cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR), (width, height)).astype(np.float32)
    cutouts = [_cutout(person_photo(a.photo), PLAYER_BOXES[a.photo]) for a in scene.actors]

    def frame(u: float) -> np.ndarray:
        image = background
        for k, (cut, alpha, (ox, oy)) in enumerate(cutouts):
            bx0, by0, bx1, by1 = actor_box(scene, k, u)
            px0, py0, px1, py1 = PLAYER_BOXES[scene.actors[k].photo]
            s = (by1 - by0) / (py1 - py0)
            matrix = np.array([[s, 0, bx0 - ox * s], [0, s, by0 - oy * s]])
            layer = cv2.warpAffine(cut, matrix, (width, height), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            weight = cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR)[..., None]
            image = image * (1 - weight) + layer.astype(np.float32) * weight
        return np.clip(image, 0, 255).astype(np.uint8)

    return write_video(path, "mp4v", scene.fps, (width, height), max(1, round(scene.seconds * scene.fps)), frame)


@pytest.fixture(scope="session")
def make_scene_video(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Scene], Path]:
    """`make_scene_video(scene)` -> cached video path, one composition per scene per test session."""
    folder = tmp_path_factory.mktemp("scene-videos")

    def make(scene: Scene) -> Path:
        key = json.dumps(asdict(scene), sort_keys=True)
        path = folder / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".mp4")
        return path if path.exists() else compose_video(scene, path)

    return make
