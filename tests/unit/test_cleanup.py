"""The one cleanup stack every backend uses (clusters/shared/cleanup.py)."""

from __future__ import annotations

from typing import Any

import pytest

from clusters.protocol import ClusterError
from clusters.shared.cleanup import CleanupFailed, CleanupRecord, CleanupStack


def closer(closed: list[str], name: str, error: BaseException | None = None) -> Any:
    def close() -> None:
        closed.append(name)
        if error is not None:
            raise error

    return close


def test_done_closes_last_registered_first() -> None:
    closed: list[str] = []
    stack = CleanupStack()
    for name in ("network", "istiod", "proxy"):
        stack.push(name, closer(closed, name))
    stack.done()
    assert closed == ["proxy", "istiod", "network"]
    assert stack.names() == []


def test_every_closer_runs_and_every_failure_is_named() -> None:
    closed: list[str] = []
    stack = CleanupStack()
    stack.push("network", closer(closed, "network", OSError("busy\nretry")))
    stack.push("istiod", closer(closed, "istiod"))
    stack.push("proxy", closer(closed, "proxy", ClusterError("no such process")))
    with pytest.raises(CleanupFailed) as failed:
        stack.done()
    assert closed == ["proxy", "istiod", "network"]
    assert [name for name, _ in failed.value.failures] == ["proxy", "network"]
    assert str(failed.value) == (
        "cleanup failed for 2 of what was created: proxy: no such process; network: busy retry"
    )
    assert isinstance(failed.value, ClusterError)  # one line, as every backend error


def test_closing_twice_is_harmless_and_a_closer_runs_once() -> None:
    closed: list[str] = []
    stack = CleanupStack()
    stack.push("a", closer(closed, "a", OSError("stuck")))
    stack.push("b", closer(closed, "b"))
    with pytest.raises(CleanupFailed):
        stack.done()
    stack.done()  # nothing left: no error, nothing run again
    assert closed == ["b", "a"]


def test_an_interrupt_mid_close_still_closes_the_rest() -> None:
    closed: list[str] = []
    stack = CleanupStack()
    stack.push("first", closer(closed, "first", OSError("gone")))
    stack.push("second", closer(closed, "second", KeyboardInterrupt()))
    stack.push("third", closer(closed, "third"))
    with pytest.raises(KeyboardInterrupt) as interrupted:
        stack.done()
    assert closed == ["third", "second", "first"]
    assert "first: gone" in " ".join(interrupted.value.__notes__)  # the failure still named


def test_as_a_context_manager_the_blocks_error_stays_the_one_raised() -> None:
    closed: list[str] = []
    with pytest.raises(ValueError, match="the block's") as raised, CleanupStack() as stack:
        stack.push("a", closer(closed, "a", OSError("stuck")))
        raise ValueError("the block's")
    assert closed == ["a"] and "a: stuck" in raised.value.__notes__[0]
    with pytest.raises(CleanupFailed, match="a: stuck"), CleanupStack() as stack:
        stack.push("a", closer(closed, "a", OSError("stuck")))


def test_close_one_now_and_forget_one() -> None:
    closed: list[str] = []
    stack = CleanupStack()
    stack.push("pod", closer(closed, "pod"))
    stack.push("kept", closer(closed, "kept"))
    stack.push("gone", closer(closed, "gone"))
    stack.close("pod")
    stack.forget("gone")  # closed by someone else: not closed again
    assert closed == ["pod"] and stack.names() == ["kept"]
    assert stack.close("pod") is None  # unknown now: nothing happens
    with pytest.raises(ValueError, match="registered already"):
        stack.push("kept", closer(closed, "again"))


def test_records_are_written_before_and_replayed_by_another_process() -> None:
    """What matters after a crash is data: written out at registration, replayed later
    by a stack built from it (the next run's sweep), with the same closers."""
    written: list[list[CleanupRecord]] = []
    replayed: list[str] = []
    replay = {"namespace": lambda data: replayed.append(data["name"])}
    stack = CleanupStack(replay=replay, on_record=lambda records: written.append(records))
    stack.push("a client", lambda: None)  # not a record: nothing to replay after a crash
    stack.record("namespace", "namespace net", {"name": "net"})
    stack.record("namespace", "namespace pod", {"name": "pod"})
    assert [r.name for r in written[-1]] == ["namespace net", "namespace pod"]
    # the process dies here; a later one replays what it wrote
    later = CleanupStack(replay=replay, records=written[-1])
    later.done()
    assert replayed == ["pod", "net"]


def test_a_record_leaves_the_written_list_only_once_it_was_closed() -> None:
    written: list[list[str]] = []

    def write(records: list[CleanupRecord]) -> None:
        written.append([record.name for record in records])

    def close(data: Any) -> None:
        assert written[-1] == ["ns a"]  # still written while its closer runs
        raise OSError("busy")

    stack = CleanupStack(replay={"ns": close}, on_record=write)
    stack.record("ns", "ns a", {})
    with pytest.raises(CleanupFailed, match="ns a: busy"):
        stack.done()
    assert written[-1] == []


def test_following_another_process_takes_its_records() -> None:
    replayed: list[str] = []
    replay = {"process": lambda data: replayed.append(data["name"])}
    stack = CleanupStack(replay=replay)
    stack.record("process", "proxy 1", {"name": "proxy 1"})
    stack.push("client", lambda: replayed.append("client"))
    stack.follow([CleanupRecord("process", "proxy 2", {"name": "proxy 2"})])  # it re-made the pod
    assert stack.names() == ["client", "proxy 2"]
    stack.done()
    assert replayed == ["proxy 2", "client"]  # proxy 1 was closed by the other process


def test_a_record_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="no way to close a 'disk' record"):
        CleanupStack(records=[CleanupRecord("disk", "a disk")])


def test_a_run_directory_from_before_the_stack_is_still_swept(tmp_path: Any) -> None:
    """A crashed run's state file written with the two lists of old (namespaces,
    processes) reads as the same records, so the next run's sweep still replays it."""
    import json

    from clusters.local import runstate

    (tmp_path / "state.json").write_text(
        json.dumps(
            {
                "run_id": "p1",
                "directory": str(tmp_path),
                "owner": {"pid": 1, "start_ticks": 1},
                "control_plane": "model",
                "namespaces": ["egc-x-p1-net", "egc-x-p1-pod"],
                "processes": [{"name": "dns", "pid": 42, "start_ticks": 7}],
            }
        )
    )
    state = runstate.RunState.load(tmp_path)
    assert [r.kind for r in state.cleanup] == ["namespace", "namespace", "process"]
    assert state.namespaces == ["egc-x-p1-net", "egc-x-p1-pod"]
    assert [(p.name, p.pid, p.start_ticks) for p in state.processes] == [("dns", 42, 7)]
    state.save()
    assert runstate.RunState.load(tmp_path).cleanup == state.cleanup  # the new form
