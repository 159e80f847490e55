"""``existing``: a cluster someone else runs, with Istio installed, as a backend of the
registry. The implementation (clusters/kube/existing.py and the ``kubernetes`` client)
is imported when it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusters.plugin import Backend, Common, Option
from clusters.protocol import Cluster, Waits

# istio.io's own test of the page retries each check for up to 120 s on a real cluster;
# a real cluster's pod needs its image pulled and its probes passed.
WAITS = Waits(propagation=120.0, exec=60.0, ready=300.0)


@dataclass(frozen=True)
class ExistingOptions:
    """Which cluster to use and how long its waits may take."""

    waits: Waits = field(default_factory=lambda: WAITS)
    kubeconfig: Path | None = None  # None: $KUBECONFIG, else ~/.kube/config
    kube_context: str | None = None  # None: the kubeconfig's current context
    worker: str = "main"  # in the namespace's name, so parallel workers never share one
    istioctl: Path | None = None  # for manual injection (None: istioctl on PATH)


def _build(values: Mapping[str, Any], common: Common) -> ExistingOptions:
    return ExistingOptions(
        waits=common.waits(WAITS),
        kubeconfig=values["kubeconfig"],
        kube_context=values["kube_context"],
        worker=common.worker,
    )


def _start(options: ExistingOptions) -> Cluster:
    from clusters.kube.existing import start_existing

    return start_existing(options)


BACKEND = Backend(
    name="existing",
    description="a cluster someone else runs, with Istio installed (the kubeconfig's)",
    options_type=ExistingOptions,
    waits=WAITS,
    options=(
        Option(
            "--kubeconfig",
            "existing backend: the kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)",
            {"type": Path, "metavar": "FILE", "default": None},
        ),
        Option(
            "--kube-context",
            "existing backend: the kubeconfig context (default: the current context)",
            {"metavar": "NAME", "default": None},
        ),
    ),
    build=_build,
    start=_start,
)
