#!/usr/bin/env python3
"""Monthly Fargate compute cost of each environment, from its values.

    .venv/bin/python scripts/costs.py

Prices: Linux/x86 Fargate on-demand in us-east-1/us-east-2, $0.04048 per vCPU-hour and
$0.004445 per GB-hour (AWS price list, 2026); Fargate Spot taken at a typical 70% off
(it varies). Tasks without a capacity-provider `base` are split by `weight`. Queue, logs,
alarms and data transfer are not included: for this workload they are small next to compute.
"""
from __future__ import annotations

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


def main() -> None:
    print("| environment | task | capacity | per task-month (on-demand) | at min | at desired | at max |")
    print("|---|---|---|---|---|---|---|")
    for env in environments(REPO):
        v = load_values(REPO, env).data
        worker, scaling = v["worker"], v["autoscaling"]
        per_task = task_month(worker["cpu"], worker["memory"])
        providers = worker["capacity_providers"]
        mix = " + ".join(f"{p['name']}" + (f" (base {p['base']})" if p["base"] else "") for p in providers)
        cells = [f"${fleet_month(n, per_task, providers):,.0f} ({n})"
                 for n in (scaling["min_count"], worker["desired_count"], scaling["max_count"])]
        print(f"| {env} | {worker['cpu'] / 1024:g} vCPU, {worker['memory'] / 1024:g} GB | {mix} | "
              f"${per_task:,.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
