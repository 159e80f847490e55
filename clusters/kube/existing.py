"""``existing``: a cluster someone else runs, with Istio already installed.

The suite uses the kubeconfig's current context (or ``--kube-context``), says which
Istio it found (or that it found none), works in a namespace of its own, and never
installs or removes Istio. Its platform (GKE, AKS, minikube, bare metal...) is read
from the nodes (clusters/kube/platform.py). At the end it removes its namespace and
what it applied, and puts back the outbound traffic policy it found.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clusters.backends import DEFAULT_WAITS, Waits
from clusters.kube.api import KubeApi
from clusters.kube.cluster import KubeCluster, KubeSettings

NAMESPACE_PREFIX = "egress-conformance-"


def own_namespace(worker: str) -> str:
    """A namespace no one else uses: the prefix, the worker and a random suffix."""
    safe = "".join(c if c.isalnum() else "-" for c in worker.lower())[:20].strip("-")
    return f"{NAMESPACE_PREFIX}{safe}-{secrets.token_hex(3)}"


@contextmanager
def existing_cluster(
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    worker: str = "main",
    waits: Waits | None = None,
    istioctl: Path | None = None,
) -> Iterator[KubeCluster]:
    api = KubeApi(kubeconfig, context)
    namespace = own_namespace(worker)
    waits = waits or DEFAULT_WAITS["existing"]
    found = shutil.which("istioctl")
    settings = KubeSettings(
        backend="existing",
        platform=None,  # told from the nodes
        waits=waits,
        namespace=namespace,
        istioctl=istioctl or (Path(found) if found else None),
        kubeconfig=kubeconfig,
        context=context,
        owns_namespace=True,
    )
    try:
        cluster = KubeCluster(api, settings)  # says in one line when there is no Istio
    except BaseException:
        api.close()
        raise
    try:
        yield cluster
    finally:
        cluster.close()  # its resources, the mode it found, its namespace
