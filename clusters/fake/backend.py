"""``fake``: the in-memory cluster (clusters/fake/cluster.py) with its default handler, as
a backend of the registry: what the suite's own tests run on, with no root and no
network, and the proof that a backend is one package and one registry line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clusters.plugin import Backend, Common
from clusters.protocol import Cluster, Waits

# Nothing propagates or starts: a change is in effect at once. The bounds only keep a
# step that waits on the protocol from waiting long.
WAITS = Waits(propagation=5.0, exec=5.0, ready=5.0)


@dataclass(frozen=True)
class FakeOptions:
    waits: Waits = field(default_factory=lambda: WAITS)


def _build(values: Mapping[str, Any], common: Common) -> FakeOptions:
    del values  # the fake has no options of its own
    return FakeOptions(waits=common.waits(WAITS))


def _start(options: FakeOptions) -> Cluster:
    from clusters.fake.cluster import FakeCluster

    del options
    return FakeCluster()


BACKEND = Backend(
    name="fake",
    description="in memory, for the suite's own tests: it refuses a manifest with Istio's "
    "recorded answer (clusters/istio/recorded) and accepts any manifest not recorded",
    options_type=FakeOptions,
    waits=WAITS,
    options=(),
    build=_build,
    start=_start,
)
