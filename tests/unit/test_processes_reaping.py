"""processes.terminate after its targets have exited: our own children are reaped before
it returns, and an exited process that another one must reap is not waited for (an
`egress-mesh down` ends processes that `egress-mesh up`, long gone, started: init reaps
those, here after a second or more)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from clusters.shared import processes


def _wait_until_exited(pid: int) -> None:
    for _ in range(2000):  # bounded: a SIGKILLed sleep exits at once
        if processes.start_ticks(pid) is None:
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} did not exit after SIGKILL")


def test_our_own_exited_child_is_reaped_before_terminate_returns() -> None:
    child = subprocess.Popen(["sleep", "100"])
    record = processes.ProcessRecord("sleep", child.pid, processes.start_ticks(child.pid) or 0)
    processes.terminate([record])
    assert not Path(f"/proc/{child.pid}").exists(), "a zombie of ours was left listed"


def test_an_exited_process_another_one_must_reap_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = subprocess.run(
        "sleep 100 >/dev/null 2>&1 & echo $!", shell=True, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    pid = int(started.stdout)  # its shell has exited: init is its parent now
    assert processes.parent_of(pid) != os.getpid()
    os.kill(pid, signal.SIGKILL)
    _wait_until_exited(pid)
    if not Path(f"/proc/{pid}").exists():
        pytest.skip("init reaped the process before the check")
    sleeps: list[float] = []
    monkeypatch.setattr(processes.time, "sleep", sleeps.append)
    processes._wait_reaped(pid, time.monotonic() + 5.0)
    assert sleeps == [], "terminate waited for a process it cannot reap"
