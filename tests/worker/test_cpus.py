"""How many analysis processes a task gets: cgroup quota and affinity, WORKER_ANALYSIS_PROCESSES overriding."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.worker.test_config import VALID, problems
from worker.config import ConfigError, load_settings
from worker.cpus import analysis_processes, cgroup_quota, quota_v1, quota_v2, usable_cpus


@pytest.mark.parametrize("text, cpus", [
    ("max 100000\n", None), ("200000 100000\n", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5),
    ("100000", 1.0), ("", None), ("lots 100000", None), ("0 100000", None)])
def test_cgroup_v2_cpu_max(text: str, cpus: float | None) -> None:
    assert quota_v2(text) == cpus


@pytest.mark.parametrize("quota, period, cpus", [
    ("-1\n", "100000\n", None), ("200000\n", "100000\n", 2.0), ("25000", "50000", 0.5), ("x", "100000", None)])
def test_cgroup_v1_cfs_quota(quota: str, period: str, cpus: float | None) -> None:
    assert quota_v1(quota, period) == cpus


@pytest.mark.parametrize("affinity, quota, cpus", [
    (16, 2.0, 2), (16, 1.0, 1), (16, 1.5, 2), (16, 0.25, 1), (2, 4.0, 2), (8, None, 8), (0, None, 1)])
def test_usable_cpus_is_the_smaller_of_affinity_and_the_quota_rounded_up(affinity, quota, cpus) -> None:
    assert usable_cpus(affinity, quota) == cpus


def test_the_quota_is_read_from_v2_then_v1_files(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 3.0
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert cgroup_quota(tmp_path) == 1.0


def test_the_variable_overrides_the_cpus_and_is_validated_like_every_setting() -> None:
    assert analysis_processes({"WORKER_ANALYSIS_PROCESSES": "3"}) == 3
    assert analysis_processes({}) >= 1
    with pytest.raises(ConfigError, match="WORKER_ANALYSIS_PROCESSES: 'two' is not a whole number; expected whole"):
        analysis_processes({"WORKER_ANALYSIS_PROCESSES": "two"})
    assert load_settings({**VALID, "WORKER_ANALYSIS_PROCESSES": "2"}).analysis_processes == 2
    assert load_settings(VALID).analysis_processes is None
    found = problems({**VALID, "WORKER_ANALYSIS_PROCESSES": "0"})
    assert "0 is out of range; expected whole processes per analysis from 1 to 64" in found["WORKER_ANALYSIS_PROCESSES"]
