"""``kind``: a kind cluster with Istio, made for the run from the kit's images, as a
backend of the registry. The implementation (clusters/kind/cluster.py, Docker and the
``kubernetes`` client) is imported when it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusters.plugin import Backend, Common, Option
from clusters.protocol import Cluster, Waits

IMAGES = ("kit", "pull")
EXTERNAL = ("fake", "internet")
# istio.io's own test of the page retries each check for up to 120 s on a real cluster;
# a real cluster's pod needs its image loaded and its probes passed.
WAITS = Waits(propagation=120.0, exec=60.0, ready=300.0)


@dataclass(frozen=True)
class KindOptions:
    """How to make (or reuse) the kind cluster."""

    waits: Waits = field(default_factory=lambda: WAITS)
    istio_version: str | None = None  # a pinned Istio build for the kit's images
    sites_file: Path | None = None  # the fake internet's sites (None: the shared list)
    images: str = "kit"  # the kit's images built here (kit) or official ones (pull)
    external: str = "fake"  # the kit's fake sites (fake) or the real internet
    reuse_cluster: str | None = None  # use this kind cluster as it is
    keep_cluster: bool = False  # leave the cluster up at the end
    logs_dir: Path = Path("reports/kind-logs")  # kind's logs when creation fails


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
)
