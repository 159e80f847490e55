"""Choosing a backend by name: the only place that knows which backends exist."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clusters.protocol import Cluster, ClusterError

BACKENDS = ("local", "kind", "existing")


@dataclass(frozen=True)
class Waits:
    """How long each kind of wait may take on a backend, in seconds. Every wait of the
    protocol takes its bound as a parameter; these are the defaults per backend."""

    propagation: float  # a config change until the sidecar runs it
    exec: float  # one command in the source pod (the page's slowest takes 5 s)
    ready: float  # a pod (re)created and Ready with its sidecar, the mesh's processes up


# istio.io's own test of the page retries each check for up to 120 s on a real cluster;
# the embedded mesh applies a change within milliseconds, so 30 s there only bounds a
# broken run. A real cluster's pod needs its image loaded and its probes passed.
DEFAULT_WAITS: dict[str, Waits] = {
    "local": Waits(propagation=30.0, exec=60.0, ready=30.0),
    "kind": Waits(propagation=120.0, exec=60.0, ready=300.0),
    "existing": Waits(propagation=120.0, exec=60.0, ready=300.0),
}


@dataclass(frozen=True)
class BackendOptions:
    """Settings a user may pass on the command line (pytest options, egress-mesh flags)."""

    run_root: Path | None = None  # local: where run directories live
    sites_file: Path | None = None  # local and kind: the fake internet's sites
    worker: str = "main"  # pytest-xdist worker id, so parallel meshes never collide
    control_plane: str = "istiod"  # local: istiod (Istio's own) or model (clusters/local/pilot)
    istio_version: str | None = None  # local: a pinned Istio build (None: the default)
    waits: Waits | None = None  # None: the backend's DEFAULT_WAITS
    kubeconfig: Path | None = None  # existing: the kubeconfig file (None: KUBECONFIG/default)
    kube_context: str | None = None  # existing: a context of it (None: the current one)
    images: str = "kit"  # kind: the kit's images built here (kit) or official ones (pull)
    external: str = "fake"  # kind: the kit's fake sites (fake) or the real internet
    reuse_cluster: str | None = None  # kind: use this kind cluster as it is
    keep_cluster: bool = False  # kind: leave the cluster up at the end
    logs_dir: Path = Path("reports/kind-logs")  # kind: kind's logs when creation fails


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
            ready_timeout=(options.waits or DEFAULT_WAITS["local"]).ready,
        )
        try:
            yield cluster
        finally:
            cluster.down()
        return
    if name == "existing":
        from clusters.kube.existing import existing_cluster

        with existing_cluster(
            kubeconfig=options.kubeconfig,
            context=options.kube_context,
            worker=options.worker,
            waits=options.waits,
        ) as cluster:
            yield cluster
        return
    if name == "kind":
        from clusters.kind.backend import kind_cluster

        with kind_cluster(options) as cluster:
            yield cluster
        return
    raise ClusterError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
