"""A run's state file is shared by the processes of a run (pytest's and the shell's
kubectl): each takes over what another wrote (clusters.local.runstate.foreign_write).
Its own threads' saves (the creation steps that run together) must never look like
another process's, or a thread would replace newer records with the file's older ones
and what they name would outlive the run."""

from __future__ import annotations

import threading
from pathlib import Path

from clusters.local.runstate import RunState
from clusters.shared.cleanup import CleanupRecord


def _state(directory: Path) -> RunState:
    state = RunState(run_id="test", directory=directory, owner=None)
    state.save()
    return state


def test_saves_of_this_process_threads_are_not_foreign(tmp_path: Path) -> None:
    state = _state(tmp_path)
    seen: list[object] = []
    done = threading.Event()

    def saver(index: int) -> None:
        for count in range(150):
            state.cleanup = [CleanupRecord("directory", f"d{index}-{count}", {"path": "/x"})]
            state.save()

    def poller() -> None:  # what a wait's liveness check does every few ms
        while not done.is_set():
            mark = state.foreign_write()
            if mark is not None:
                seen.append(mark)

    watching = threading.Thread(target=poller)
    watching.start()
    savers = [threading.Thread(target=saver, args=(index,)) for index in range(3)]
    for thread in savers:
        thread.start()
    for thread in savers:
        thread.join()
    done.set()
    watching.join()
    assert seen == []


def test_another_process_write_is_seen_once(tmp_path: Path) -> None:
    state = _state(tmp_path)
    assert state.foreign_write() is None
    other = RunState.load(tmp_path)  # as the shell's kubectl loads and saves the run
    other.installed_mode = "REGISTRY_ONLY"
    other.save()
    assert state.foreign_write() is not None
    assert state.foreign_write() is None
