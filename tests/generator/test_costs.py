"""scripts/costs.py: analysed fps and cost per analysed minute from a benchmark, per task size."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "costs.py"


@pytest.fixture(scope="module")
def costs():
    spec = importlib.util.spec_from_file_location("costs_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = {"runs": {"720p": {
    "analyze 1p": [{"wall_s": 30.0, "frames": 900, "duration_s": 30.0}, {"wall_s": 34.0, "frames": 900,
                                                                         "duration_s": 30.0}],
    "analyze 2p": [{"wall_s": 18.0, "frames": 900, "duration_s": 30.0}]}}}


def test_a_task_runs_one_process_per_whole_vcpu_and_a_half_vcpu_at_half_speed(costs):
    assert costs.measured_speed(BENCH, "720p", 1.0) == pytest.approx((900 / 32.0, 30 / 32.0))
    assert costs.measured_speed(BENCH, "720p", 0.5) == pytest.approx((900 / 32.0 / 2, 30 / 32.0 / 2))
    assert costs.measured_speed(BENCH, "720p", 2.0) == pytest.approx((50.0, 30 / 18.0))


def test_what_was_not_measured_has_no_figure(costs):
    assert costs.measured_speed(BENCH, "720p", 4.0) is None
    assert costs.measured_speed(BENCH, "1080p", 1.0) is None
