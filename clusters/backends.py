"""Choosing a backend by name: the only place that knows which backends exist."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clusters.protocol import Cluster, ClusterError

BACKENDS = ("local", "kind", "existing")


@dataclass(frozen=True)
class BackendOptions:
    """Settings a user may pass on the command line (pytest options, egress-mesh flags)."""

    run_root: Path | None = None  # local: where run directories live
    sites_file: Path | None = None  # local: the fake internet's sites
    worker: str = "main"  # pytest-xdist worker id, so parallel meshes never collide
    control_plane: str = "istiod"  # local: istiod (Istio's own) or model (clusters/local/pilot)
    istio_version: str | None = None  # local: a pinned Istio build (None: the default)


@contextmanager
def start_backend(name: str, options: BackendOptions | None = None) -> Iterator[Cluster]:
    """Bring a backend up for the duration of the ``with`` block; always tear it down."""
    options = options or BackendOptions()
    if name == "local":
        from clusters.local.mesh import LocalCluster

        cluster = LocalCluster.up(
            run_root=options.run_root,
            sites_file=options.sites_file,
            owner=f"pytest:{options.worker}",
            control_plane=options.control_plane,
            istio_version=options.istio_version,
        )
        try:
            yield cluster
        finally:
            cluster.down()
        return
    if name in ("kind", "existing"):
        raise ClusterError(
            f"backend {name!r} is not available yet (it lands with the kind/existing issue); "
            "use --cluster local"
        )
    raise ClusterError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
