"""Speed and memory of the pose analysis against a naive baseline, at 480p, 720p and 1080p.

Run by hand from the repository root, pinned to one core:

    taskset -c 0 python bench/pose_bench.py
    # against an earlier version, alternating runs, medians of 3:
    git archive c3a9756 worker | tar -x -C /tmp/before
    taskset -c 0 python bench/pose_bench.py --before /tmp/before --repeat 3

It makes one clip per resolution from a real photo (opencv-doc's messi5.jpg,
moved, zoomed and turned over the clip, written with OpenCV mp4v), and one
720p clip with the same player pasted into an outdoor scene at 12% of the
frame height ("small"), then runs, each in a fresh process so that peak RSS
and CPU time belong to that run alone:

- ours:   `worker.analysis.analyze` end to end with the default options (open,
          decode, acquisition, one tracked crop a frame, metrics, pictures,
          artifact files; the mediapipe import and model load included);
- before: the same call from another source tree (`--before DIR`), for a
          side-by-side comparison with an earlier version;
- naive:  IMAGE mode on every frame at full resolution, decode + inference only.

With `--repeat N` the modes alternate N times and the medians are reported.

Each process runs its mode twice on the clip: the first run pays the imports
(mediapipe, matplotlib) and is what a one-off `cricksy-worker analyze` costs;
the second is what the long-running worker sees for every job after its first.

Reported per run (second run unless marked): ms per frame for decode and for
inference, end-to-end frames per second (analysed frames / wall time of the
whole call, model load, metrics, pictures and files included), the same
per CPU second of the call (robust when other processes share the core), the frame loop
alone (decode + pose), real-time factor (wall time / video duration; below 1
is faster than real time), peak RSS, the share of frames with a pose and the
share of frames in which a search (tiles or a re-acquisition window) ran
instead of one crop. `--json FILE` keeps the raw figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if os.environ.get("BENCH_SOURCE"):  # a "before" child: that tree's worker package comes first
    sys.path.insert(0, os.environ["BENCH_SOURCE"])

RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
MODES = ("ours", "naive")
SMALL_SHARE = 0.12


def make_clips(folder: Path, seconds: float, fps: float) -> dict[str, Path]:
    from tests.support.media import Motion, person_photo, synthesize_video

    folder.mkdir(parents=True, exist_ok=True)
    photo = None
    clips = {}
    for name, size in RESOLUTIONS.items():
        path = folder / f"messi-{name}-{seconds:g}s-{fps:g}fps.mp4"
        if not path.exists():
            photo = person_photo("messi") if photo is None else photo
            motion = Motion(size=size, fps=fps, seconds=seconds, scale=(0.7, 1.0), angle=(-6.0, 6.0),
                            shift_x=(-0.1, 0.1))
            synthesize_video(photo, path, motion)
        clips[name] = path
    small = folder / f"small-{SMALL_SHARE:g}-720p-{seconds:g}s-{fps:g}fps.mp4"
    if not small.exists():
        from tests.support.media import Actor, Scene, compose_video

        compose_video(Scene(actors=(Actor(height=SMALL_SHARE, x=(0.3, 0.7), y=(0.6, 0.55)),),
                            size=RESOLUTIONS["720p"], fps=fps, seconds=seconds), small)
    clips["small 720p"] = small
    return clips


def run_ours(video: Path) -> dict:
    from worker.analysis import analyze

    with tempfile.TemporaryDirectory() as out:
        start, cpu = time.perf_counter(), time.process_time()
        result = analyze(video, out)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    t, v = result["timings"], result["video"]
    return {
        "frames": v["frames_analyzed"], "duration_s": v["duration_s"], "wall_s": wall, "cpu_s": cpu,
        "decode_ms": 1000 * t["decode_s"] / v["frames_total"],
        "inference_ms": 1000 * t["inference_s"] / v["frames_analyzed"],
        "loop_s": t["decode_s"] + t["inference_s"],
        "fixed_s": {k: t[k] for k in ("model_load_s", "metrics_s", "pictures_s")},
        "detection_rate": result["pose"]["detection_rate"],
        "search_share": result.get("tracking", {}).get("search_share"),
    }


def run_naive(video: Path) -> dict:
    """Decode every frame and run the pose model on it, nothing else."""
    import cv2

    from worker.analysis.pose import PoseOptions, PoseTracker

    start, cpu = time.perf_counter(), time.process_time()
    decode = inference = 0.0
    frames = found = 0
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    fps = cap.get(cv2.CAP_PROP_FPS)
    with PoseTracker(options=PoseOptions(video_mode=False)) as tracker:
        while True:
            tick = time.perf_counter()
            ok, frame = cap.read()
            tock = time.perf_counter()
            decode += tock - tick
            if not ok:
                break
            found += tracker.detect(frame, cap.get(cv2.CAP_PROP_POS_MSEC)) is not None
            inference += time.perf_counter() - tock
            frames += 1
    cap.release()
    return {
        "frames": frames, "duration_s": frames / fps, "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu,
        "decode_ms": 1000 * decode / frames, "inference_ms": 1000 * inference / frames,
        "loop_s": decode + inference, "detection_rate": found / frames,
    }


def child(mode: str, video: Path) -> None:
    """Run twice: the first run pays the imports, the second is what a long-running worker sees."""
    run = run_naive if mode == "naive" else run_ours
    cold = run(video)
    warm = run(video)
    print(json.dumps({**warm, "cold_wall_s": cold["wall_s"], "cold_fixed_s": cold.get("fixed_s")}))


def measure(mode: str, video: Path, before: Path | None = None) -> dict:
    """Run one mode in a fresh process; its own peak RSS comes from wait4."""
    env = {**os.environ, "BENCH_SOURCE": str(before)} if mode == "before" else dict(os.environ)
    env.pop("BENCH_SOURCE", None) if mode != "before" else None
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(video)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} on {video.name} failed with exit code {proc.returncode}")
    figures = json.loads(out)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    figures["fps"] = figures["frames"] / figures["wall_s"]
    figures["cold_fps"] = figures["frames"] / figures["cold_wall_s"]
    figures["fps_per_cpu_s"] = figures["frames"] / figures["cpu_s"]
    figures["loop_fps"] = figures["frames"] / figures["loop_s"]
    figures["rtf"] = figures["wall_s"] / figures["duration_s"]
    return figures


COLUMNS = (
    ("decode ms/frame", "decode_ms", "{:.1f}"),
    ("inference ms/frame", "inference_ms", "{:.1f}"),
    ("end-to-end fps, first run", "cold_fps", "{:.1f}"),
    ("end-to-end fps", "fps", "{:.1f}"),
    ("fps per CPU s", "fps_per_cpu_s", "{:.1f}"),
    ("loop fps", "loop_fps", "{:.1f}"),
    ("real-time factor", "rtf", "{:.2f}"),
    ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
)


def median_figures(runs: list[dict]) -> dict:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    shares = [r.get("search_share") for r in runs if r.get("search_share") is not None]
    out["search_share"] = statistics.median(shares) if shares else None
    return out


def table(results: dict[str, dict[str, dict]]) -> str:
    lines = ["| clip | run | " + " | ".join(c[0] for c in COLUMNS) + " | pose found | frames searching |",
             "|" + "---|" * (len(COLUMNS) + 4)]
    for res, runs in results.items():
        for mode, f in runs.items():
            cells = " | ".join(fmt.format(f[key]) for _, key, fmt in COLUMNS)
            share = "" if f.get("search_share") is None else f"{f['search_share']:.0%}"
            lines.append(f"| {res} | {mode} | {cells} | {f['detection_rate']:.0%} | {share} |")
        for other in ("before", "naive"):
            if other in runs and "ours" in runs:
                ours, base = runs["ours"], runs[other]
                ratios = " | ".join(f"{ours[key] / base[key]:.2f}x" for _, key, _ in COLUMNS)
                lines.append(f"| {res} | ours / {other} | {ratios} | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "VIDEO"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=8.0, help="clip length (default 8)")
    parser.add_argument("--fps", type=float, default=30.0, help="clip frame rate (default 30)")
    parser.add_argument("--media", type=Path, default=REPO / ".cache" / "bench-media", help="where clips are kept")
    parser.add_argument("--before", type=Path, help="a source tree holding an earlier worker/ to compare with")
    parser.add_argument("--repeat", type=int, default=1, help="alternate the modes this many times (medians)")
    parser.add_argument("--clips", default=None, help="comma-separated clip names (default: all)")
    parser.add_argument("--naive", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the naive IMAGE-mode baseline")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    clips = make_clips(args.media, args.seconds, args.fps)
    if args.clips:
        clips = {k: v for k, v in clips.items() if k in args.clips.split(",")}
    modes = ["ours"] + (["before"] if args.before else []) + (["naive"] if args.naive else [])
    affinity = sorted(os.sched_getaffinity(0))
    print(f"cores: {affinity}; clips: {args.seconds:g} s at {args.fps:g} fps; modes {modes} x {args.repeat}",
          file=sys.stderr)
    raw: dict[str, dict[str, list[dict]]] = {res: {m: [] for m in modes} for res in clips}
    for _ in range(args.repeat):
        for res, clip in clips.items():
            for mode in modes:
                raw[res][mode].append(measure(mode, clip, args.before))
    results = {res: {m: median_figures(runs) for m, runs in by_mode.items()} for res, by_mode in raw.items()}
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"cores": affinity, "results": results, "runs": raw}, indent=2) + "\n")


if __name__ == "__main__":
    main()
