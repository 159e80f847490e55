"""One directory per run holding everything the run created, so anything can undo it.

``state.json`` holds the run's cleanup records (clusters/shared/cleanup.py: the run's
directory, its namespaces before they are created, its processes), the applied Istio
config and the pod. The mesh's cleanup stack writes the records; a later process
(``egress-mesh apply`` after ``egress-mesh up``) re-attaches to the run from them, and a
run whose owner died is found by the next run's sweep, which replays them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from clusters.local import network
from clusters.shared import processes
from clusters.shared.cleanup import CleanupRecord, CleanupStack
from clusters.shared.processes import ProcessRecord

DEFAULT_RUN_ROOT = Path(os.environ.get("EGRESS_MESH_RUN_ROOT", "/run/egress-conformance"))
NAMESPACE_PREFIX = "egc-"
FileMark = tuple[int, int, int]  # a file's mtime, size and inode: a new write changes it
_SAVING = threading.Lock()  # one writer of a state file at a time, in this process
LOCK_FILE = ".lock"
# The kinds of the run's cleanup records (see UNDO).
PROCESS, NAMESPACE, DIRECTORY = "process", "namespace", "directory"


@dataclass
class PodState:
    """The source pod: what was asked for (injection, ranges: reset compares them) and
    what the control plane's admission made of it (the objects the checks read)."""

    name: str
    injection: str
    include_ip_ranges: list[str] | None
    deployment: dict[str, Any] = field(default_factory=dict)  # as the API server stored it
    pod: dict[str, Any] = field(default_factory=dict)  # the pod after admission


@dataclass
class RunState:
    run_id: str
    directory: Path
    owner: dict[str, int] | None  # pid/start_ticks of the owning process; None: a CLI run
    sites_file: str | None = None
    istio_version: str | None = None  # a pinned Istio build (clusters/shared/gobuild)
    installed_mode: str | None = None  # outboundTrafficPolicy.mode as the mesh came up
    # What to undo, in the order it was created: the run's cleanup stack writes it.
    cleanup: list[CleanupRecord] = field(default_factory=list)
    pod: PodState | None = None

    def __post_init__(self) -> None:
        # The mark of the last write of the state file this process made or took (not
        # a field: it is this process's, not the run's).
        self._seen: FileMark | None = None

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def processes(self) -> list[ProcessRecord]:
        """The run's processes, as its cleanup records hold them."""
        return [ProcessRecord.from_json(r.data) for r in self.cleanup if r.kind == PROCESS]

    @property
    def namespaces(self) -> list[str]:
        """The run's network namespaces, as its cleanup records hold them."""
        return [str(r.data["name"]) for r in self.cleanup if r.kind == NAMESPACE]

    def namespace(self, role: str) -> str:
        return f"{namespace_prefix(self.directory.parent)}{self.run_id}-{role}"

    def save(self) -> None:
        """Written whole (a reader never sees half), about a hundred times a run: built
        without copying (``asdict`` deep-copies the pod's objects) and written by json's
        C encoder, which an ``indent`` would replace with the pure-Python one."""
        with _SAVING:  # creation steps that run together save from their threads
            data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
            data["directory"] = str(self.directory)
            data["cleanup"] = [record.to_json() for record in self.cleanup]
            if self.pod is not None:
                data["pod"] = {f.name: getattr(self.pod, f.name) for f in fields(self.pod)}
            temporary = self.state_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(data))
            os.replace(temporary, self.state_file)
            self._seen = _file_mark(self.state_file)

    def foreign_write(self) -> FileMark | None:
        """The state file's mark when another process wrote it since this one last saved
        or took it (the shell's kubectl re-made the pod), else None. Under the writers'
        lock: a save of this process's own, from another of its threads, is never taken
        for another process's, whose older records would then replace newer ones."""
        with _SAVING:
            mark = _file_mark(self.state_file)
            if mark is None or mark == self._seen:
                return None
            self._seen = mark
            return mark

    @classmethod
    def load(cls, directory: Path) -> RunState:
        data: dict[str, Any] = json.loads((directory / "state.json").read_text())
        data["directory"] = Path(data["directory"])
        data.pop("control_plane", None)  # written before the model of istiod was retired
        if "cleanup" not in data:  # written before the cleanup stack: its two lists
            data["cleanup"] = [
                *(namespace_record(name).to_json() for name in data.pop("namespaces")),
                *(
                    process_record(ProcessRecord.from_json(item)).to_json()
                    for item in data.pop("processes")
                ),
            ]
        data["cleanup"] = [CleanupRecord.from_json(item) for item in data["cleanup"]]
        if data.get("pod"):
            data["pod"] = PodState(**data["pod"])
        known = {f.name for f in fields(cls)}  # a run of an older checkout wrote more
        return cls(**{key: value for key, value in data.items() if key in known})

    def owner_alive(self) -> bool:
        if self.owner is None:
            return True  # a CLI run lives until `egress-mesh down`
        record = ProcessRecord("owner", self.owner["pid"], self.owner["start_ticks"])
        return processes.is_running(record)


def namespace_prefix(root: Path) -> str:
    """``egc-<root hash>-``: runs under different roots never sweep each other's namespaces."""
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:4]
    return f"{NAMESPACE_PREFIX}{digest}-"


def current_owner() -> dict[str, int]:
    pid = os.getpid()
    return {"pid": pid, "start_ticks": processes.start_ticks(pid) or 0}


def destroy_namespace(name: str) -> None:
    """End every process inside a namespace of ours, then remove it."""
    processes.terminate(network.pids(name), grace=1.0)
    network.delete(name)


def process_record(record: ProcessRecord, *, grace: float | None = None) -> CleanupRecord:
    """``grace``: the seconds it gets between SIGTERM and SIGKILL when it is ended
    (processes.terminate's default when None)."""
    data = record.to_json() if grace is None else {**record.to_json(), "grace": grace}
    return CleanupRecord(PROCESS, f"process {record.name} (pid {record.pid})", data)


def _end_process(data: Mapping[str, Any]) -> None:
    grace = float(data.get("grace", processes.GRACE_S))
    processes.terminate([ProcessRecord.from_json(data)], grace=grace)


def namespace_record(name: str) -> CleanupRecord:
    return CleanupRecord(NAMESPACE, f"network namespace {name}", {"name": name})


def directory_record(directory: Path) -> CleanupRecord:
    return CleanupRecord(DIRECTORY, f"run directory {directory}", {"path": str(directory)})


# How each record is undone, by this run or by the sweep of a later one: a process by its
# recorded PID and start time (never another that reuses the PID), a namespace with the
# processes inside it, the run directory with its files.
UNDO = {
    PROCESS: _end_process,
    NAMESPACE: lambda data: destroy_namespace(str(data["name"])),
    DIRECTORY: lambda data: shutil.rmtree(Path(data["path"]), ignore_errors=True),
}


def cleanup_stack(state: RunState) -> CleanupStack:
    """The run's cleanup stack: its records are the state's, saved at every change (a
    run directory another process removed is saved no more)."""

    def save(records: list[CleanupRecord]) -> None:
        state.cleanup = records
        if state.directory.is_dir():
            state.save()

    return CleanupStack(replay=UNDO, on_record=save, records=state.cleanup)


def destroy(state: RunState) -> None:
    """Undo a run by replaying its records, last first; the directory goes last (a run
    whose record of it was lost too)."""
    try:
        cleanup_stack(state).done()
    finally:
        shutil.rmtree(state.directory, ignore_errors=True)


def destroy_damaged(directory: Path) -> None:
    """Undo a run whose state file cannot be read: its namespaces are found by name."""
    prefix = f"{namespace_prefix(directory.parent)}{directory.name}-"
    for name in network.list_namespaces(prefix):
        destroy_namespace(name)
    shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """The run root's lock: a sweep and the creation of a run directory (with its first
    state) exclude each other, so a sweep never sees a run half-made."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sweep(root: Path, *, include_cli: bool = False) -> list[str]:
    """:func:`sweep_locked` under the run root's lock."""
    with locked(root):
        return sweep_locked(root, include_cli=include_cli)


def sweep_locked(root: Path, *, include_cli: bool = False) -> list[str]:
    """Remove what crashed runs left behind; returns the run ids removed.

    Only what a run recorded is ever removed, and only when that run's owner is provably
    dead (its PID runs no more, or runs another process: the start time differs). A
    namespace that no run records is left alone: it may belong to a run being created
    under another root's lock, or to someone else. CLI runs (no owner) are only removed
    when ``include_cli`` is set. The caller holds :func:`locked`.
    """
    removed = []
    if not root.is_dir():
        return removed
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (directory / "state.json").exists():
            # Under the lock, no run is between mkdir and its first save: a crash did this.
            shutil.rmtree(directory, ignore_errors=True)
            continue
        try:
            state = RunState.load(directory)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: `egress-mesh down` removes it by its run id
        if state.owner_alive() and not (include_cli and state.owner is None):
            continue
        destroy(state)
        removed.append(state.run_id)
    return removed


def leftovers(root: Path) -> list[str]:
    """What the runs under ``root`` failed to remove: its network namespaces and files, one
    line each (a teardown bug is then reported, not hidden by removing the root)."""
    found = []
    namespaces = network.list_namespaces(namespace_prefix(root))
    if namespaces:
        found.append(f"network namespaces left by {root}: {', '.join(namespaces)}")
    files = sorted(p.name for p in root.iterdir() if p.name != LOCK_FILE) if root.is_dir() else []
    if files:
        found.append(f"files left in run root {root}: {', '.join(files)}")
    return found


def remove_private_root(root: Path) -> None:
    """Remove a run root that its caller created for itself (a test, the bench), with every
    run under it, live or not, and every namespace carrying its prefix: the prefix
    hashes the root's path, so only runs under this root made them."""
    with locked(root):
        for directory in sorted(p for p in root.iterdir() if p.is_dir()):
            try:
                destroy(RunState.load(directory))
            except (OSError, ValueError, KeyError, TypeError):
                destroy_damaged(directory)
        for name in network.list_namespaces(namespace_prefix(root)):
            destroy_namespace(name)
    shutil.rmtree(root, ignore_errors=True)


def _file_mark(path: Path) -> FileMark | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
