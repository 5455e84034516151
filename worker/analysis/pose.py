"""MediaPipe PoseLandmarker in VIDEO mode: one person, tracked from frame to frame.

VIDEO mode runs the person detector only until it finds someone and then
tracks the landmarks from the previous frame, which is both faster and steadier
than detecting afresh on every frame (IMAGE mode). It needs strictly increasing
integer timestamps, which `PoseTracker` guarantees whatever the container says.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from worker.analysis.model import load_verified_model


@dataclass(frozen=True)
class PoseOptions:
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    video_mode: bool = True  # False only for the benchmark's naive baseline


@dataclass(frozen=True)
class PoseSample:
    """One frame's landmarks. Image coords are normalised to the frame (x, y in 0..1, z relative)."""

    image: np.ndarray  # (33, 3) float32
    world: np.ndarray  # (33, 3) float32, metres, origin between the hips
    visibility: np.ndarray  # (33,) float32, 0..1
    presence: np.ndarray  # (33,) float32, 0..1


class PoseTracker:
    """Context manager around one PoseLandmarker; feed it frames in time order."""

    def __init__(self, model_path: str | os.PathLike | None = None, options: PoseOptions = PoseOptions()) -> None:
        self.options = options
        self._model = load_verified_model(model_path)
        self._landmarker = None
        self._last_ms = -1

    def __enter__(self) -> PoseTracker:
        # Imported here: mediapipe's import costs 0.3-0.5 s and is only needed for inference.
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._image_type = (mp.Image, mp.ImageFormat.SRGB)
        opts = self.options
        mode = vision.RunningMode.VIDEO if opts.video_mode else vision.RunningMode.IMAGE
        settings = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self._model),
            running_mode=mode,
            num_poses=1,
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

    def detect(self, bgr: np.ndarray, timestamp_ms: float) -> PoseSample | None:
        """Landmarks of the person in `bgr`, or None when nobody is found."""
        if self._landmarker is None:
            raise RuntimeError("PoseTracker used outside its `with` block")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        image_cls, srgb = self._image_type
        image = image_cls(image_format=srgb, data=rgb)
        if self.options.video_mode:
            ms = max(int(round(timestamp_ms)), self._last_ms + 1)
            self._last_ms = ms
            result = self._landmarker.detect_for_video(image, ms)
        else:
            result = self._landmarker.detect(image)
        if not result.pose_landmarks:
            return None
        return _to_sample(result.pose_landmarks[0], result.pose_world_landmarks[0])


def _to_sample(image_landmarks, world_landmarks) -> PoseSample:
    image = np.array([(p.x, p.y, p.z) for p in image_landmarks], dtype=np.float32)
    world = np.array([(p.x, p.y, p.z) for p in world_landmarks], dtype=np.float32)
    visibility = np.array([p.visibility or 0.0 for p in image_landmarks], dtype=np.float32)
    presence = np.array([p.presence or 0.0 for p in image_landmarks], dtype=np.float32)
    return PoseSample(image, world, visibility, presence)
