"""How fast the machine itself was during the bench, so that a figure that got slower
can be told from a machine that did.

The machines are shared: the same commit measured an hour apart gave kind's API calls
2.5-3.7x slower, with no change to them. Two fixed workloads, timed before the phases
and after them, stand beside the figures as figures of their own: a pure-Python loop
(the CPU the test process gets) and a fork and exec of ``true`` (what every Envoy,
istio-iptables and kubectl start pays). The share of the machine's time the hypervisor
took away (steal, from /proc/stat) over the whole bench says the same from outside.
A figure that regressed beside a machine that regressed as much is the machine.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

LOOP_ITERATIONS = 2_000_000
SAMPLES = 5
SPAWNS = 20
PROC_STAT = Path("/proc/stat")


def python_loop_s() -> float:
    """The median time of a fixed pure-Python loop."""
    times = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        total = 0
        for i in range(LOOP_ITERATIONS):
            total += i
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def spawn_s() -> float | None:
    """The median time to fork and exec ``true`` and wait for it (None without it)."""
    true = shutil.which("true")
    if true is None:
        return None
    times = []
    for _ in range(SPAWNS):
        started = time.perf_counter()
        subprocess.run([true], check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cpu_times() -> list[int] | None:
    """The machine's aggregate CPU counters (user ... steal), or None off Linux."""
    try:
        first = PROC_STAT.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    return [int(field) for field in first[1:9]] if first[0] == "cpu" else None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of the CPU time between two readings that the hypervisor took."""
    if before is None or after is None:
        return None
    deltas = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(deltas)
    return deltas[7] / total if total > 0 else None  # the eighth counter is steal


def sample() -> dict[str, Any]:
    """Both workloads now."""
    return {"python_loop_s": python_loop_s(), "spawn_s": spawn_s()}


def summarise(before: dict[str, Any], after: dict[str, Any], steal: float | None) -> dict[str, Any]:
    """The two samples, the slower of each workload (the figure compared across runs:
    a machine slow at either end was slow for part of the bench), and the steal."""
    slower = {
        key: max(v for v in (before.get(key), after.get(key)) if v is not None)
        for key in ("python_loop_s", "spawn_s")
        if before.get(key) is not None or after.get(key) is not None
    }
    return {"before": before, "after": after, **slower, "steal_share": steal}
