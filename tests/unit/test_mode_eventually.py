"""The page's own edit of the mesh config: the mode is awaited in the sidecar only when
the mesh config says it, so a command that changed nothing fails at once, not after the
propagation bound (120 s on kind)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from clusters.fake import FakeCluster
from clusters.protocol import OutboundTrafficPolicy
from fixtures.journal import Journal
from steps.drift import mode_eventually
from tests.step_calls import call_step


class CountingDumps(FakeCluster):
    """Counts the sidecar's config dumps read after it was made (its start reads one)."""

    def __init__(self) -> None:
        super().__init__()
        self.dumps = 0

    def sidecar_config_dump(self, resource: str) -> Mapping[str, Any]:
        self.dumps = getattr(self, "dumps", 0) + 1
        return super().sidecar_config_dump(resource)


def _step(cluster: FakeCluster, mode: str, timeout: float) -> None:
    journal = Journal.for_scenario("test", None)
    call_step(
        mode_eventually, cluster=cluster, journal=journal, propagation_timeout=timeout, mode=mode
    )


def test_a_mode_the_mesh_config_does_not_say_fails_without_waiting() -> None:
    cluster = CountingDumps()  # ALLOW_ANY, as the page's sed left it when it found no line
    started = time.monotonic()
    with pytest.raises(AssertionError, match="the mesh config says ALLOW_ANY"):
        _step(cluster, "REGISTRY_ONLY", timeout=30.0)
    assert cluster.dumps == 0  # the sidecar was not polled for what cannot come
    assert time.monotonic() - started < 30.0


def test_a_mode_the_mesh_config_says_is_checked_in_the_sidecar() -> None:
    cluster = CountingDumps()
    cluster.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    _step(cluster, "REGISTRY_ONLY", timeout=5.0)
    assert cluster.dumps >= 1
