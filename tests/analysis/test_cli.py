"""`cricksy-worker analyze` as a person runs it: no AWS, no database, exit codes and output."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest

from tests.analysis.helpers import assert_valid_result, cricksy_worker
from tests.support.media import Motion

CLIP = Motion(seconds=2.0, scale=(0.95, 0.95))
# The worker's settings must not be needed: run with none of them set.
WORKER_VARS = ("SQS_VIDEO_ANALYSIS_QUEUE_URL", "S3_COACH_VIDEOS_BUCKET", "DATABASE_URL", "AWS_REGION")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in WORKER_VARS and not k.startswith("AWS_")}
    return {**env, **extra}


def analyze_cli(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*cricksy_worker(), "analyze", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env or clean_env(), check=False)


def test_analyze_writes_result_and_pictures_and_prints_a_summary(make_person_video, tmp_path):
    video = make_person_video("messi", CLIP)
    out = tmp_path / "report"
    done = analyze_cli(str(video), "--out", str(out))
    assert done.returncode == 0, done.stderr
    result = assert_valid_result(json.loads((out / "result.json").read_text()), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(["result.json", *result["artifacts"].values()])
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{video.name}: 2 s, 640x360, 50 of 50 frames analysed, person found in")
    assert any(line.startswith("front-knee flexion: deepest ") for line in lines)
    assert any(line.startswith("subject: the largest person") and "followed in" in line for line in lines)
    assert lines[-1] == f"wrote result.json, landmarks.npz, angles.csv, contact_sheet.png, angle_chart.png, event_strip.png to {out}"
    assert "analysing" not in done.stderr  # no progress bar when stderr is not a terminal


def test_progress_bar_on_a_terminal_and_default_output_folder(make_person_video, tmp_path):
    video = make_person_video("messi", CLIP)
    master, slave = pty.openpty()
    proc = subprocess.Popen([*cricksy_worker(), "analyze", str(video), "--max-fps", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=slave, env=clean_env(), text=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    stdout, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    assert f"analysing {video.name}".encode() in seen and b"100%" in seen
    result = json.loads((tmp_path / "out" / video.stem / "result.json").read_text())
    assert result["video"]["max_fps"] is None
    assert "frames analysed" in stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "error: video clip.mp4 is empty (0 bytes); upload the video file again"),
        (b"not a video\n" * 30, "error: video clip.mp4 cannot be opened: it is a text file, not a video. "),
    ],
)
def test_bad_input_exits_2_with_one_clear_line_and_leaves_nothing(tmp_path, content, message):
    video = tmp_path / "clip.mp4"
    video.write_bytes(content)
    out = tmp_path / "new-folder"
    done = analyze_cli(str(video), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_missing_model_exits_1_and_says_how_to_fetch_it(make_person_video, tmp_path):
    out = tmp_path / "out"
    done = analyze_cli(str(make_person_video("messi", CLIP)), "--out", str(out),
                       env=clean_env(POSE_MODEL_PATH=str(tmp_path / "none.task")))
    assert done.returncode == 1
    assert "pose model not found" in done.stderr and "cricksy-worker fetch-model" in done.stderr
    assert not out.exists()


def test_unknown_handedness_is_a_usage_error(tmp_path):
    done = analyze_cli(str(tmp_path / "x.mp4"), "--handedness", "both")
    assert done.returncode == 2 and "'both' is not one of 'auto', 'left', 'right'" in done.stderr


@pytest.mark.parametrize("subject", ["0.5", "1.2,0.5", "x,y"])
def test_a_malformed_subject_is_refused_before_any_work(make_person_video, tmp_path, subject):
    out = tmp_path / "report"
    done = analyze_cli(str(make_person_video("messi", CLIP)), "--out", str(out), "--subject", subject)
    assert done.returncode == 2 and "--subject" in done.stderr
    assert not out.exists()


def test_a_subject_where_nobody_stands_exits_2_and_says_so(make_person_video, tmp_path):
    done = analyze_cli(str(make_person_video("messi", CLIP)), "--out", str(tmp_path / "r"), "--subject", "0.02,0.02")
    assert done.returncode == 2
    assert "nobody was found at the subject point (0.02, 0.02)" in done.stderr


@pytest.mark.parametrize("flag, env, message", [
    (("--processes", "0"), {}, "Invalid value for '--processes'"),
    ((), {"WORKER_ANALYSIS_PROCESSES": "two"},
     "WORKER_ANALYSIS_PROCESSES: 'two' is not a whole number; expected whole processes per analysis"),
])
def test_a_bad_process_count_is_refused_before_any_work(make_person_video, tmp_path, flag, env, message):
    out = tmp_path / "report"
    done = analyze_cli(str(make_person_video("messi", CLIP)), "--out", str(out), *flag, env=clean_env(**env))
    assert done.returncode == 2 and message in done.stderr
    assert not out.exists()
