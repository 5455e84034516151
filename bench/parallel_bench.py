"""Whole-process wall time of `cricksy-worker analyze` on 1 and 2 processes, against plain MediaPipe.

Run by hand from the repository root, alone on the machine (or under `flock /tmp/bench.lock`):

    python bench/parallel_bench.py --seconds 30 --repeat 3 --json bench-parallel.json

Each run is a fresh process started here and timed from start to exit (imports,
model load, decoding, analysis, pictures, files), the modes alternating:

- `analyze 1p` / `analyze 2p`: `cricksy-worker analyze CLIP --processes N`;
- `plain video`: MediaPipe's PoseLandmarker in VIDEO mode on every frame, full
  frame, nothing else (import, model load and the frame loop only);
- `naive image`: the same in IMAGE mode (a fresh detection every frame).

Peak memory is the largest sum of the resident sets (VmRSS) of the run's whole
process tree, sampled every 50 ms: shared library pages count once per
process, so it overstates what the task's cgroup sees. Clips are
bench/pose_bench.py's (a real photo moved, zoomed and turned; the small player
pasted into a scene at 12% of the frame height).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = ("analyze 1p", "analyze 2p", "plain video", "naive image")


def plain(video: str, video_mode: bool) -> None:
    """MediaPipe alone: every frame, full frame, one landmarker; what any pose tool pays at least."""
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from worker.config import pose_model_path

    mode = vision.RunningMode.VIDEO if video_mode else vision.RunningMode.IMAGE
    options = vision.PoseLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(pose_model_path())),
                                           running_mode=mode, num_poses=1)
    found = frames = 0
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        cap = cv2.VideoCapture(video, cv2.CAP_FFMPEG)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if video_mode:
                result = landmarker.detect_for_video(image, int(cap.get(cv2.CAP_PROP_POS_MSEC)) + frames)
            else:
                result = landmarker.detect(image)
            found += bool(result.pose_landmarks)
            frames += 1
        cap.release()
    print(json.dumps({"frames": frames, "found": found}))


PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def tree_rss_mb(root: int) -> float:
    """Sum of the resident sets of `root` and its descendants, in MB.

    Only the tree is read (its children lists and statm), not every process on the machine: a scan of
    all of /proc took 4.6 ms here, a fifth of a core at this sampling rate, which a 2-process run
    (both cores busy) paid for in wall time and a 1-process run (a core idle) did not."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total * PAGE_MB


def measure(mode: str, clip: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-"))
    cli = shutil.which("cricksy-worker", path=str(Path(sys.executable).parent)) or "cricksy-worker"
    command = {
        "analyze 1p": [cli, "analyze", str(clip), "--out", str(out), "--processes", "1"],
        "analyze 2p": [cli, "analyze", str(clip), "--out", str(out), "--processes", "2"],
        "plain video": [sys.executable, __file__, "--plain", "video", str(clip)],
        "naive image": [sys.executable, __file__, "--plain", "image", str(clip)],
    }[mode]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"{mode} on {clip.name} failed with exit code {proc.returncode}")
    figures = {"wall_s": wall, "peak_tree_rss_mb": peak}
    if mode.startswith("analyze"):
        result = json.loads((out / "result.json").read_text())
        figures.update(frames=result["video"]["frames_analyzed"], duration_s=result["video"]["duration_s"],
                       processes=result["timings"]["processes"], seam_reruns=result["timings"]["seam_reruns"],
                       seam_moved_s=result["timings"].get("seam_moved_s", 0.0),
                       coverage=result["tracking"]["coverage"])
    shutil.rmtree(out, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain", nargs=2, metavar=("MODE", "VIDEO"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length (default 30)")
    parser.add_argument("--fps", type=float, default=30.0, help="clip frame rate (default 30)")
    parser.add_argument("--media", type=Path, default=REPO / ".cache" / "bench-media", help="where clips are kept")
    parser.add_argument("--clips", default="720p,1080p,small 720p", help="comma-separated clip names")
    parser.add_argument("--repeat", type=int, default=3, help="alternate the modes this many times (medians)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    if args.plain:
        plain(args.plain[1], args.plain[0] == "video")
        return
    from bench.pose_bench import make_clips

    clips = {k: v for k, v in make_clips(args.media, args.seconds, args.fps).items() if k in args.clips.split(",")}
    print(f"cores: {sorted(os.sched_getaffinity(0))}; load {os.getloadavg()[0]:.2f}; {args.seconds:g} s clips",
          file=sys.stderr)
    runs: dict[str, dict[str, list[dict]]] = {name: {m: [] for m in MODES} for name in clips}
    for _ in range(args.repeat):
        for name, clip in clips.items():
            for mode in MODES:
                runs[name][mode].append(measure(mode, clip))
    print("| clip | 1p wall s | 2p wall s | 2p / 1p | plain VIDEO s | 1p / plain | naive IMAGE s | naive / 1p "
          "| peak RSS 1p / 2p MB | seam re-runs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for name, by_mode in runs.items():
        med = {m: statistics.median(r["wall_s"] for r in by_mode[m]) for m in MODES}
        peak = {m: max(r["peak_tree_rss_mb"] for r in by_mode[m]) for m in MODES}
        reruns = sum(r["seam_reruns"] for r in by_mode["analyze 2p"])
        summary[name] = {"median_wall_s": med, "peak_tree_rss_mb": peak}
        print(f"| {name} | {med['analyze 1p']:.1f} | {med['analyze 2p']:.1f} | "
              f"{med['analyze 2p'] / med['analyze 1p']:.2f}x | {med['plain video']:.1f} | "
              f"{med['analyze 1p'] / med['plain video']:.2f}x | {med['naive image']:.1f} | "
              f"{med['naive image'] / med['analyze 1p']:.2f}x | {peak['analyze 1p']:.0f} / {peak['analyze 2p']:.0f} | "
              f"{reruns:g} of {len(by_mode['analyze 2p'])} |")
    if args.json:
        args.json.write_text(json.dumps({"load": os.getloadavg(), "summary": summary, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
