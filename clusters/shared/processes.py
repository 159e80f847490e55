"""Starting processes (the local mesh's inside namespaces) and ending them by PID.

A process is identified by its PID *and* its start time (field 22 of /proc/PID/stat),
so a PID recorded by a crashed run is never confused with an unrelated process that
reused the number later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    start_ticks: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=data["name"],
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
        )


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks, or None if it is gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    state, ticks = fields[0], fields[19]
    return None if state in ("Z", "X") else int(ticks)


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    return stat[stat.rindex(")") + 2 :].split()


def is_running(record: ProcessRecord) -> bool:
    return start_ticks(record.pid) == record.start_ticks


def in_namespace(
    namespace: str, argv: Sequence[str], *, uid: int | None = None, gid: int | None = None
) -> list[str]:
    """argv that runs a command inside a network namespace, optionally as another user."""
    prefix = ["ip", "netns", "exec", namespace]
    if uid is not None:
        prefix += ["setpriv", f"--reuid={uid}", f"--regid={gid if gid is not None else uid}"]
        prefix += ["--clear-groups", "--"]
    return [*prefix, *argv]


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    stdout: Path,
    stderr: Path,
    env: Mapping[str, str] | None = None,
    owner_uid: int | None = None,
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start a long-running process in its own session, logging to files.

    Its own session: a Ctrl-C in the terminal reaches pytest, whose teardown then ends
    the process, rather than killing it behind the teardown's back. ``owner_uid`` owns
    the log files, since a process that reopens /dev/stdout needs write access to it.
    """
    handles = []
    for path in (stdout, stderr):
        path.touch()
        if owner_uid is not None:
            os.chown(path, owner_uid, owner_uid)
        handles.append(path.open("ab"))
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=handles[0],
            stderr=handles[1],
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    finally:
        for handle in handles:
            handle.close()
    return process, record_of(name, process.pid)


def record_of(name: str, pid: int) -> ProcessRecord:
    """The record of a process started just now (its start time read while it runs)."""
    return ProcessRecord(name, pid, start_ticks(pid) or 0)


GRACE_S = 2.0  # terminate's default: SIGTERM, then SIGKILL this much later


def terminate(targets: Sequence[ProcessRecord | int], *, grace: float = GRACE_S) -> None:
    """SIGTERM to all at once (their shutdowns overlap), SIGKILL to those still there
    ``grace`` seconds later; with no grace, SIGKILL at once (a pod whose
    terminationGracePeriodSeconds is 0).

    A record is left alone if its PID now belongs to another process (a different start
    time); a bare PID is a process found inside one of our namespaces.
    """
    live: dict[int, int] = {}
    first = signal.SIGTERM if grace > 0 else signal.SIGKILL
    for target in targets:
        pid = target.pid if isinstance(target, ProcessRecord) else target
        ticks = start_ticks(pid)
        if ticks is None or (isinstance(target, ProcessRecord) and ticks != target.start_ticks):
            _reap(pid)
            continue
        live[pid] = ticks
        _signal(pid, first)
    if grace > 0:
        deadline = time.monotonic() + grace
        stubborn = [pid for pid, ticks in live.items() if not _wait_gone(pid, ticks, deadline)]
        for pid in stubborn:
            _signal(pid, signal.SIGKILL)
    else:
        stubborn = list(live)  # SIGKILLed already
    deadline = time.monotonic() + 2.0
    for pid in stubborn:
        _wait_gone(pid, live[pid], deadline)
    deadline = time.monotonic() + 0.5
    for pid in live:
        _wait_reaped(pid, deadline)


def _wait_gone(pid: int, ticks: int, deadline: float) -> bool:
    """True once the process is gone; checks at least once, even past the deadline."""
    while True:
        _reap(pid)
        if start_ticks(pid) != ticks:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _wait_reaped(pid: int, deadline: float) -> None:
    """Reap an exited child of ours, so no zombie of ours is still listed when teardown
    returns. An exited process another one must reap (init, once the CLI that started it
    has exited) is not waited for: it holds nothing but its entry in the process table,
    and an init may take a second or more to collect it."""
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        _reap(pid)
        if parent_of(pid) not in (os.getpid(), None):
            return
        time.sleep(0.005)


def parent_of(pid: int) -> int | None:
    """The process's parent PID, or None if it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
