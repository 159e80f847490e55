"""Creation steps that run together (clusters.shared.together)."""

from __future__ import annotations

import threading

import pytest

from clusters.shared.cleanup import CleanupStack
from clusters.shared.together import run_together


def test_actions_run_at_the_same_time_and_each_is_timed() -> None:
    both = threading.Barrier(2, timeout=5)  # only passes when the two wait at once
    timings: dict[str, float] = {}
    run_together([("internet", both.wait), ("control_plane", both.wait)], timings)
    assert set(timings) == {"internet_s", "control_plane_s"}
    assert all(seconds >= 0 for seconds in timings.values())


def test_every_action_ends_before_the_first_failure_is_raised() -> None:
    finished = threading.Event()
    timings: dict[str, float] = {}

    def fails() -> None:
        raise RuntimeError("istiod (pid 7) exited with status 1")

    def slow() -> None:
        finished.wait(0.2)
        finished.set()

    def fails_too() -> None:
        raise ValueError("the fake internet did not come up")

    with pytest.raises(RuntimeError, match="istiod") as raised:
        run_together([("control_plane", fails), ("slow", slow), ("internet", fails_too)], timings)
    assert finished.is_set()
    assert raised.value.__notes__ == ["internet failed too: the fake internet did not come up"]
    assert set(timings) == {"control_plane_s", "slow_s", "internet_s"}


def test_closers_registered_from_threads_are_all_closed_in_reverse() -> None:
    closed: list[str] = []
    stack = CleanupStack()
    start = threading.Barrier(8, timeout=5)

    def register(index: int) -> None:
        start.wait()
        for n in range(50):
            name = f"{index}-{n}"
            stack.push(name, lambda name=name: closed.append(name))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    registered = stack.names()
    assert len(registered) == 400
    stack.done()
    assert closed == registered[::-1]
