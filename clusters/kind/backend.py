"""``kind``: a kind cluster with Istio, made for the run from the kit's images, as a
backend of the registry. The implementation (clusters/kind/cluster.py, Docker and the
``kubernetes`` client) is imported when it starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clusters.kind.options import EXTERNAL, IMAGES, WAITS, KindOptions
from clusters.plugin import Backend, Common, Option
from clusters.protocol import Cluster
from clusters.shared.gobuild import istio_build

__all__ = ["BACKEND", "EXTERNAL", "IMAGES", "WAITS", "KindOptions"]


def _build(values: Mapping[str, Any], common: Common) -> KindOptions:
    return KindOptions(
        waits=common.waits(WAITS),
        istio_version=values["istio_version"],
        images=values["images"],
        external=values["external"],
        reuse_cluster=values["reuse_cluster"],
        keep_cluster=values["keep_cluster"],
        logs_dir=common.report_dir / "kind-logs",
    )


def _check(options: KindOptions) -> None:
    istio_build(options.istio_version)  # the images and istioctl are a pinned build's


def _start(options: KindOptions) -> Cluster:
    from clusters.kind.cluster import start_kind

    return start_kind(options)


BACKEND = Backend(
    name="kind",
    description="a kind cluster with Istio, made for the run from the kit's offline images",
    options_type=KindOptions,
    waits=WAITS,
    options=(
        Option(
            "--istio-version",
            "local and kind backends: which pinned Istio build to run "
            "(default: the project's pin; see clusters/local/istiod/versions)",
            {"metavar": "NAME", "default": None},
        ),
        Option(
            "--images",
            "kind backend: kit (images built here from Debian, Go modules and PyPI; "
            "offline) or pull (Istio's official images from a registry)",
            {"choices": IMAGES, "default": "kit"},
        ),
        Option(
            "--external",
            "kind backend: the page's external sites as the kit's fake internet on the "
            "kind network (fake), or the real ones (internet)",
            {"choices": EXTERNAL, "default": "fake"},
        ),
        Option(
            "--reuse-cluster",
            "kind backend: run on this kind cluster as it is (Istio installed)",
            {"metavar": "NAME", "default": None},
        ),
        Option(
            "--keep-cluster",
            "kind backend: leave the cluster (and the project's Docker daemon) up",
            {"action": "store_true"},
        ),
    ),
    build=_build,
    start=_start,
    check=_check,
)
