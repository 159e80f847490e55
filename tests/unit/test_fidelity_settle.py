"""The fidelity runner reads a case's dump only once istiod has stopped pushing: a push
numbered before a change's events reached istiod can be ACKed first, without them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from clusters.fidelity import runner
from clusters.fidelity.addresses import AddressBook
from clusters.fidelity.corpus import Step
from clusters.fidelity.runner import settle

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
UUID = "0" * 36


def status(push: int) -> Mapping[str, Any]:
    """A syncz entry whose newest push sent (and ACKed) is ``push``."""
    nonce = f"2026-12-07T12:00:00Z/{push}{UUID}"
    return {"resources": {CLUSTER_TYPE: {"sent": nonce, "acked": nonce}}}


class Pushes:
    """A sidecar in sync with push 1 at the first wait, that then gets ``late`` more
    pushes, one every ``polls`` reads of its sync status: the later push carrying what
    the first one lacked."""

    def __init__(self, late: int, polls: int = 2) -> None:
        self.late = late
        self.polls = polls
        self.reads = 0
        self.waits = 0
        self.pushes_seen_by_waits: list[int] = []

    def newest(self) -> int:
        return 1 + min(self.late, self.reads // self.polls)

    def wait_for_proxy_config(self, timeout: float) -> None:
        self.waits += 1
        self.pushes_seen_by_waits.append(self.newest())

    def proxy_sync_status(self) -> Mapping[str, Any]:
        found = status(self.newest())
        self.reads += 1
        return found


def test_a_push_that_comes_after_the_sync_is_waited_for() -> None:
    sidecar = Pushes(late=1)
    settle(sidecar, settle_s=0.3)  # type: ignore[arg-type]
    assert sidecar.pushes_seen_by_waits == [1, 2]


def test_a_quiet_sidecar_is_waited_for_once() -> None:
    sidecar = Pushes(late=0)
    settle(sidecar, settle_s=0.1)  # type: ignore[arg-type]
    assert sidecar.waits == 1


def test_a_steps_pause_comes_before_its_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """So that what it creates is stamped a second after the step before."""
    calls: list[str] = []
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: calls.append(f"sleep {seconds:g}"))
    monkeypatch.setattr(runner, "settle", lambda cluster: calls.append("settle"))
    monkeypatch.setattr(runner, "config_of", lambda cluster, book: {})

    class Changes:
        def delete(self, kind: str, name: str) -> None:
            calls.append(f"delete {kind}/{name}")

        def apply(self, manifest: str) -> None:
            calls.append("apply")

    step = Step(sleep_s=1.0, apply="kind: ServiceEntry", delete=(("serviceentry", "old"),))
    runner.run_step(Changes(), step, AddressBook({}))  # type: ignore[arg-type]
    assert calls == ["sleep 1", "delete serviceentry/old", "apply", "settle"]
