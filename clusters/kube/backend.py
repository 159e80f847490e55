"""``existing``: a cluster someone else runs, with Istio installed, as a backend of the
registry. The implementation (clusters/kube/existing.py and the ``kubernetes`` client)
is imported when it starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clusters.kube.options import WAITS, ExistingOptions
from clusters.plugin import Backend, Common, Option
from clusters.protocol import Cluster

__all__ = ["BACKEND", "WAITS", "ExistingOptions"]


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
