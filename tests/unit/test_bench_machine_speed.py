"""bench/machine_speed.py: the machine's own speed and the hypervisor's steal, read so
that a slower machine is not taken for a slower project."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import machine_speed


def test_the_steal_share_is_the_eighth_counters_part_of_the_time_between() -> None:
    before = [100, 0, 50, 800, 0, 0, 0, 50]
    after = [200, 0, 100, 1500, 0, 0, 0, 150]  # 100 + 50 + 700 + 100 = 950 jiffies
    assert machine_speed.steal_share(before, after) == pytest.approx(100 / 950)
    assert machine_speed.steal_share(before, before) is None  # no time passed
    assert machine_speed.steal_share(None, after) is None


def test_without_proc_stat_there_is_no_steal_to_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine_speed, "PROC_STAT", tmp_path / "missing")
    assert machine_speed.cpu_times() is None
    (tmp_path / "stat").write_text("intr 1 2 3\n")
    monkeypatch.setattr(machine_speed, "PROC_STAT", tmp_path / "stat")
    assert machine_speed.cpu_times() is None


def test_each_workload_is_compared_at_its_slower_end() -> None:
    before = {"python_loop_s": 0.10, "spawn_s": 0.004}
    after = {"python_loop_s": 0.25, "spawn_s": None}
    summary = machine_speed.summarise(before, after, 0.02)
    assert summary["python_loop_s"] == 0.25  # slow for part of the bench: slow
    assert summary["spawn_s"] == 0.004  # the end that has it
    assert summary["steal_share"] == 0.02
    assert summary["before"] == before and summary["after"] == after
