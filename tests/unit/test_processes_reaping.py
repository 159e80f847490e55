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


def _noting_sigterm(note: Path) -> processes.ProcessRecord:
    """A process that writes ``note`` when SIGTERM reaches it, then exits."""
    script = f"trap 'echo term > {note}; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
    child = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    return processes.ProcessRecord("sh", child.pid, processes.start_ticks(child.pid) or 0)


def test_no_grace_kills_at_once(tmp_path: Path) -> None:
    """A pod whose terminationGracePeriodSeconds is 0: SIGKILL, no SIGTERM first."""
    note = tmp_path / "term"
    record = _noting_sigterm(note)
    processes.terminate([record], grace=0.0)
    assert processes.start_ticks(record.pid) is None
    assert not note.exists(), "it was sent SIGTERM"


def test_a_recorded_grace_is_the_one_its_replay_gives(tmp_path: Path) -> None:
    """The run's cleanup record keeps the grace, so a later run's sweep ends it alike."""
    from clusters.local import runstate

    note = tmp_path / "term"
    cleanup = runstate.process_record(_noting_sigterm(note), grace=0.0)
    assert cleanup.data["grace"] == 0.0
    runstate.UNDO[cleanup.kind](cleanup.data)
    assert not note.exists(), "the replay sent SIGTERM"


def test_with_a_grace_sigterm_comes_first(tmp_path: Path) -> None:
    note = tmp_path / "term"
    record = _noting_sigterm(note)
    processes.terminate([record], grace=2.0)
    assert processes.start_ticks(record.pid) is None
    assert note.read_text() == "term\n"
