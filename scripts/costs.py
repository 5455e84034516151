#!/usr/bin/env python3
"""Monthly Fargate compute cost of each environment, from its values; with a benchmark, cost per analysed minute.

    .venv/bin/python scripts/costs.py
    .venv/bin/python scripts/costs.py --bench bench-parallel.json [--clip 720p]

`--bench` takes the JSON of bench/parallel_bench.py (whole-process wall times
of `analyze` on 1 and 2 processes) and adds, per environment, the analysed
frames per second one task delivers and the compute cost of one minute of
video. A task gets as many analysis processes as it has whole vCPUs (the
cgroup quota rounded up, worker/cpus.py); a task with half a vCPU runs one
process at half speed. Tasks with more vCPUs than were measured get no figure.

Prices: Linux/x86 Fargate on-demand in us-east-1/us-east-2, $0.04048 per vCPU-hour and
$0.004445 per GB-hour (AWS price list, 2026); Fargate Spot taken at a typical 70% off
(it varies). Tasks without a capacity-provider `base` are split by `weight`. Queue, logs,
alarms and data transfer are not included: for this workload they are small next to compute.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.values import environments, load_values  # noqa: E402

VCPU_HOUR = 0.04048
GB_HOUR = 0.004445
SPOT_DISCOUNT = 0.70
HOURS_PER_MONTH = 730


def task_month(cpu_units: int, memory_mib: int) -> float:
    return (cpu_units / 1024 * VCPU_HOUR + memory_mib / 1024 * GB_HOUR) * HOURS_PER_MONTH


def fleet_month(tasks: int, per_task: float, providers: list[dict]) -> float:
    """Cost of `tasks` tasks placed the way ECS places them: each provider's base first, then by weight."""
    price = {"FARGATE": per_task, "FARGATE_SPOT": per_task * (1 - SPOT_DISCOUNT)}
    total, left = 0.0, tasks
    for provider in providers:
        base = min(provider["base"], left)
        total += base * price[provider["name"]]
        left -= base
    weights = sum(p["weight"] for p in providers) or 1
    return total + sum(left * p["weight"] / weights * price[p["name"]] for p in providers)


def measured_speed(bench: dict, clip: str, vcpu: float) -> tuple[float, float] | None:
    """(analysed fps, seconds of video per second of wall) of one task with `vcpu` vCPUs; None: not measured."""
    processes = max(1, math.ceil(vcpu - 1e-9))
    mode = f"analyze {processes}p"
    runs = bench["runs"].get(clip, {}).get(mode)
    if not runs:
        return None
    wall = statistics.median(r["wall_s"] for r in runs)
    share = min(1.0, vcpu / processes)  # half a vCPU: the one process gets half the time
    return runs[0]["frames"] / wall * share, runs[0]["duration_s"] / wall * share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, help="bench/parallel_bench.py --json output")
    parser.add_argument("--clip", default="720p", help="which benchmark clip to price (default 720p)")
    args = parser.parse_args()
    bench = json.loads(args.bench.read_text()) if args.bench else None
    extra = " analysed fps per task | $ per analysed minute (on-demand) |" if bench else ""
    print("| environment | task | capacity | per task-month (on-demand) | at min | at desired | at max |" + extra)
    print("|---|---|---|---|---|---|---|" + ("---|---|" if bench else ""))
    for env in environments(REPO):
        v = load_values(REPO, env).data
        worker, scaling = v["worker"], v["autoscaling"]
        per_task = task_month(worker["cpu"], worker["memory"])
        providers = worker["capacity_providers"]
        mix = " + ".join(f"{p['name']}" + (f" (base {p['base']})" if p["base"] else "") for p in providers)
        cells = [f"${fleet_month(n, per_task, providers):,.0f} ({n})"
                 for n in (scaling["min_count"], worker["desired_count"], scaling["max_count"])]
        if bench:
            speed = measured_speed(bench, args.clip, worker["cpu"] / 1024)
            if speed is None:
                cells += ["not measured (more vCPUs than the benchmark machine)", ""]
            else:
                fps, realtime = speed
                per_minute = per_task / HOURS_PER_MONTH / 60 / realtime  # task-minutes per video minute
                cells += [f"{fps:.1f}", f"${per_minute:.4f}"]
        print(f"| {env} | {worker['cpu'] / 1024:g} vCPU, {worker['memory'] / 1024:g} GB | {mix} | "
              f"${per_task:,.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
