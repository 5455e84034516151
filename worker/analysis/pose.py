"""MediaPipe PoseLandmarker, the thin wrapper: VIDEO mode to track one person, IMAGE mode to find several.

VIDEO mode runs the person detector only until it finds someone and then
tracks the landmarks from the previous frame, which is both faster and steadier
than detecting afresh on every frame (IMAGE mode). It needs strictly increasing
integer timestamps, which `PoseTracker` guarantees whatever the container says.
IMAGE mode with several poses (`PoseFinder`) is what acquisition runs on tiles
and search windows: no state carries from one call to the next.

Both take RGB images of any size (a frame, a tile, a crop); landmarks come back
normalised to that image.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from dataclasses import dataclass
from types import ModuleType

import cv2
import numpy as np

from worker.analysis.model import load_verified_model


# Imported by `import mediapipe` for drawing helpers we never call; drawing_utils pulls in
# matplotlib.pyplot, 0.55 of the 0.75 s that the import costs (measured: 0.19 s without).
_DRAWING_MODULES = frozenset({"mediapipe.tasks.python.vision.drawing_utils",
                              "mediapipe.tasks.python.vision.drawing_styles"})


class _LazyDrawing(importlib.abc.MetaPathFinder):
    """Loads the drawing modules lazily (importlib.util.LazyLoader): they run on their first use, if any."""

    def find_spec(self, name: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if name not in _DRAWING_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def import_mediapipe() -> ModuleType:
    """mediapipe, imported on first use only (it is needed for inference alone) and without paying for its
    drawing helpers: every analysis process imports it, so its import is part of every job's start-up."""
    if "mediapipe" not in sys.modules:
        finder = _LazyDrawing()
        sys.meta_path.insert(0, finder)
        try:
            importlib.import_module("mediapipe")
        finally:
            sys.meta_path.remove(finder)
    return sys.modules["mediapipe"]


@dataclass(frozen=True)
class PoseOptions:
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    video_mode: bool = True  # False only for the benchmark's naive baseline


@dataclass(frozen=True)
class PoseSample:
    """One person's landmarks. Image coords are normalised to the image given (x, y in 0..1, z relative)."""

    image: np.ndarray  # (33, 3) float32
    world: np.ndarray  # (33, 3) float32, metres, origin between the hips
    visibility: np.ndarray  # (33,) float32, 0..1
    presence: np.ndarray  # (33,) float32, 0..1


class _Landmarker:
    """One PoseLandmarker in a `with` block; subclasses choose the running mode and pose count."""

    _video = True
    _num_poses = 1

    def __init__(self, model_path: str | os.PathLike | None = None, options: PoseOptions = PoseOptions(),
                 *, model: bytes | None = None) -> None:
        self.options = options
        self._model = model if model is not None else load_verified_model(model_path)
        self._landmarker = None

    @property
    def model(self) -> bytes:
        return self._model

    def __enter__(self):
        mp = import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        self._image_type = (mp.Image, mp.ImageFormat.SRGB)
        opts = self.options
        settings = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self._model),
            running_mode=vision.RunningMode.VIDEO if self._video else vision.RunningMode.IMAGE,
            num_poses=self._num_poses,
            min_pose_detection_confidence=opts.min_detection_confidence,
            min_pose_presence_confidence=opts.min_presence_confidence,
            min_tracking_confidence=opts.min_tracking_confidence,
            output_segmentation_masks=False,
        )
        self._landmarker = vision.PoseLandmarker.create_from_options(settings).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._landmarker is not None:
            self._landmarker.__exit__(*exc)
            self._landmarker = None

    def _image(self, rgb: np.ndarray):
        if self._landmarker is None:
            raise RuntimeError(f"{type(self).__name__} used outside its `with` block")
        image_cls, srgb = self._image_type
        return image_cls(image_format=srgb, data=np.ascontiguousarray(rgb))


class PoseTracker(_Landmarker):
    """VIDEO mode (IMAGE mode with `video_mode=False`), one person; feed it images in time order."""

    def __init__(self, model_path: str | os.PathLike | None = None, options: PoseOptions = PoseOptions(),
                 *, model: bytes | None = None) -> None:
        super().__init__(model_path, options, model=model)
        self._video = options.video_mode
        self._last_ms = -1
        self._offset = 0  # added to every timestamp once images were fed out of order (tracking backwards)

    @property
    def last_ms(self) -> int:
        return self._last_ms

    def detect(self, bgr: np.ndarray, timestamp_ms: float) -> PoseSample | None:
        """Landmarks of the person in a BGR frame, or None when nobody is found."""
        return self.detect_rgb(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), timestamp_ms)

    def detect_rgb(self, rgb: np.ndarray, timestamp_ms: float) -> PoseSample | None:
        image = self._image(rgb)
        if self._video:
            ms = int(round(timestamp_ms)) + self._offset
            if ms <= self._last_ms:
                self._offset += self._last_ms + 1 - ms
                ms = self._last_ms + 1
            self._last_ms = ms
            result = self._landmarker.detect_for_video(image, ms)
        else:
            result = self._landmarker.detect(image)
        if not result.pose_landmarks:
            return None
        return _to_sample(result.pose_landmarks[0], result.pose_world_landmarks[0])

    def forget(self) -> None:
        """Make the next call detect afresh instead of following the person it tracked last.

        One empty image costs one detector pass (a few ms), far less than a new
        landmarker; it is used when the tracked person turned out to be someone else.
        """
        if self._video:
            self.detect_rgb(np.zeros((64, 64, 3), dtype=np.uint8), self._last_ms + 1 - self._offset)


class PoseFinder(_Landmarker):
    """IMAGE mode, up to `num_poses` people per image, no memory between calls."""

    _video = False

    def __init__(self, model_path: str | os.PathLike | None = None, options: PoseOptions = PoseOptions(),
                 *, model: bytes | None = None, num_poses: int = 4) -> None:
        super().__init__(model_path, options, model=model)
        self._num_poses = num_poses

    def find(self, rgb: np.ndarray) -> list[PoseSample]:
        result = self._landmarker.detect(self._image(rgb))
        return [_to_sample(lm, world) for lm, world in zip(result.pose_landmarks, result.pose_world_landmarks)]


def _to_sample(image_landmarks, world_landmarks) -> PoseSample:
    image = np.array([(p.x, p.y, p.z) for p in image_landmarks], dtype=np.float32)
    world = np.array([(p.x, p.y, p.z) for p in world_landmarks], dtype=np.float32)
    visibility = np.array([p.visibility or 0.0 for p in image_landmarks], dtype=np.float32)
    presence = np.array([p.presence or 0.0 for p in image_landmarks], dtype=np.float32)
    return PoseSample(image, world, visibility, presence)
