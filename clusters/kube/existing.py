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
from pathlib import Path

from clusters.kube.api import KubeApi
from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.kube.options import ExistingOptions
from clusters.shared.cleanup import CleanupStack

NAMESPACE_PREFIX = "egress-conformance-"


def own_namespace(worker: str) -> str:
    """A namespace no one else uses: the prefix, the worker and a random suffix."""
    safe = "".join(c if c.isalnum() else "-" for c in worker.lower())[:20].strip("-")
    return f"{NAMESPACE_PREFIX}{safe}-{secrets.token_hex(3)}"


def start_existing(options: ExistingOptions) -> KubeCluster:
    """The cluster the kubeconfig names, in a namespace of the suite's own; closing it
    removes that namespace and what the suite applied, and puts back the mode found."""
    found = shutil.which("istioctl")
    settings = KubeSettings(
        backend="existing",
        platform=None,  # told from the nodes
        waits=options.waits,
        namespace=own_namespace(options.worker),
        istioctl=options.istioctl or (Path(found) if found else None),
        kubeconfig=options.kubeconfig,
        context=options.kube_context,
        owns_namespace=True,
    )
    cleanup = CleanupStack()
    try:
        # says in one line when there is no Istio
        return KubeCluster(KubeApi(options.kubeconfig, options.kube_context), settings, cleanup)
    except BaseException:
        cleanup.done()  # the API client, if it was made
        raise
