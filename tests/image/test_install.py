"""The image's install steps, run outside Docker exactly as the Dockerfile runs them.

scripts/install-image.sh makes a fresh virtual environment, installs the package
(not editable) with one OpenCV build, fetches the pose model with its hash
check and starts `cricksy-worker --help`. The installed copy then initialises a
database and analyses a real video, which proves the package data (migrations,
result schema) made it into the install.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from worker.analysis import model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("image")
    venv, models = base / "venv", base / "models"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "POSE_MODEL_PATH")}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p and "/venv/" not in p)
    result = subprocess.run(["sh", str(REPO / "scripts" / "install-image.sh"), str(venv), str(models)],
                            env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    return venv, models


def test_one_opencv_build_and_the_real_imports(installed):
    venv, _ = installed
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, check=True).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert [n for n in names if n.startswith("opencv")] == ["opencv-python-headless"]
    assert "mediapipe" in names and "cricksy" in names
    probe = ("import cv2, mediapipe, worker, pathlib; "
             "print(pathlib.Path(cv2.__file__).parent, pathlib.Path(worker.__file__).parent)")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                         cwd="/", check=True).stdout.split()
    assert all(str(venv) in path for path in out), out  # the installed copy, not the checkout


def test_model_is_in_place_and_verified(installed):
    _, models = installed
    path = models / model.MODEL_NAME
    assert model.sha256_of(path) == model.MODEL_SHA256
    assert sorted(p.name for p in models.iterdir()) == [model.MODEL_NAME]


def test_installed_worker_runs_migrations_and_a_real_analysis(installed, make_person_video, tmp_path: Path):
    venv, models = installed
    worker = str(venv / "bin" / "cricksy-worker")
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path / "mpl"),
           "POSE_MODEL_PATH": str(models / model.MODEL_NAME),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}"}
    init = subprocess.run([worker, "init-db"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    video = make_person_video("astronaut")
    out = tmp_path / "out"
    analysis = subprocess.run([worker, "analyze", str(video), "--out", str(out)], env=env,
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert analysis.returncode == 0, analysis.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["pose"]["detection_rate"] > 0.8
    assert (out / result["artifacts"]["contact_sheet"]).is_file()
