"""The MediaPipe wrapper's start-up: what an analysis process imports before its first frame."""
from __future__ import annotations

import subprocess
import sys

IN_A_FRESH_PROCESS = """
import sys
import numpy as np
from worker.analysis.pose import PoseTracker
from worker.config import pose_model_path

with PoseTracker(pose_model_path()) as tracker:
    tracker.detect(np.zeros((256, 256, 3), dtype=np.uint8), 0.0)
print("matplotlib" in sys.modules)
from mediapipe.tasks.python import vision
print(vision.drawing_utils.DrawingSpec().thickness, vision.drawing_styles.get_default_pose_landmarks_style() != {})
"""


def test_the_model_runs_without_mediapipes_plotting_imports_which_still_work_when_used():
    run = subprocess.run([sys.executable, "-c", IN_A_FRESH_PROCESS], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    plotting_loaded, thickness, styled = run.stdout.split()[-3:]
    assert plotting_loaded == "False", "importing mediapipe for inference loaded matplotlib"
    assert [thickness, styled] == ["2", "True"]
