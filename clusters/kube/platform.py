"""Which platform a cluster runs on, told from its Node objects.

The page's "direct access" section has a way to find the internal IP ranges per
platform (IBM Cloud, GKE, Azure, Minikube/Docker Desktop/bare metal). An ``existing``
cluster is whatever the kubeconfig points at, so its platform is read from what each
node's kubelet and cloud provider wrote: ``spec.providerID`` (``gce://``, ``aws://``,
``azure://``, ``ibm://``, ``kind://``, ``k3s://``) and the labels a managed service
puts on its nodes (``cloud.google.com/gke-nodepool``, ``kubernetes.azure.com/...``,
``eks.amazonaws.com/...``, ``ibm-cloud.kubernetes.io/...``, ``minikube.k8s.io/name``).
The names are the values of ``describe()["platform"]`` that steps/platform.py maps to
the page's headings; a platform the page has no heading for keeps a name of its own
(``eks``, ``k3s``), so that every platform scenario is skipped saying which it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

UNKNOWN = "unknown"
BARE_METAL = "bare-metal"


@dataclass(frozen=True)
class Platform:
    """A platform's name, and what on which node says so (for the reports)."""

    name: str
    evidence: str


def _labels(node: Mapping[str, Any]) -> Mapping[str, str]:
    return (node.get("metadata") or {}).get("labels") or {}


def _provider_id(node: Mapping[str, Any]) -> str:
    return str((node.get("spec") or {}).get("providerID") or "")


def _name(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name") or "?")


def _label_prefixed(prefix: str) -> Callable[[Mapping[str, Any]], str | None]:
    def found(node: Mapping[str, Any]) -> str | None:
        key = next((k for k in sorted(_labels(node)) if k.startswith(prefix)), None)
        return None if key is None else f"label {key}={_labels(node)[key]}"

    return found


def _provider(scheme: str) -> Callable[[Mapping[str, Any]], str | None]:
    def found(node: Mapping[str, Any]) -> str | None:
        provider_id = _provider_id(node)
        return f"spec.providerID {provider_id}" if provider_id.startswith(scheme) else None

    return found


def _named(name: str) -> Callable[[Mapping[str, Any]], str | None]:
    def found(node: Mapping[str, Any]) -> str | None:
        if _name(node) == name or _labels(node).get("kubernetes.io/hostname") == name:
            return f"node name {name}"
        return None

    return found


# In order: a managed service's own labels first (its nodes also carry the cloud's
# providerID), then the local tools, then a bare cloud provider (a self-managed cluster
# on that cloud, unless its kube-apiserver runs as a pod: see detect_platform).
SIGNS: tuple[tuple[str, Callable[[Mapping[str, Any]], str | None]], ...] = (
    ("gke", _label_prefixed("cloud.google.com/gke-nodepool")),
    ("gke", _label_prefixed("cloud.google.com/gke-")),
    ("eks", _label_prefixed("eks.amazonaws.com/")),
    ("aks", _label_prefixed("kubernetes.azure.com/")),
    ("iks", _label_prefixed("ibm-cloud.kubernetes.io/")),
    ("iks", _provider("ibm://")),
    ("minikube", _label_prefixed("minikube.k8s.io/")),
    ("kind", _provider("kind://")),
    ("docker-desktop", _named("docker-desktop")),
    ("k3s", _provider("k3s://")),
)
CLOUDS: tuple[tuple[str, Callable[[Mapping[str, Any]], str | None]], ...] = (
    ("gce", _provider("gce://")),
    ("aws", _provider("aws://")),
    ("azure", _provider("azure://")),
)


def _first(
    signs: Iterable[tuple[str, Callable[[Mapping[str, Any]], str | None]]],
    nodes: Sequence[Mapping[str, Any]],
) -> Platform | None:
    for name, sign in signs:
        for node in nodes:
            if (found := sign(node)) is not None:
                return Platform(name, f"node {_name(node)}: {found}")
    return None


def detect_platform(
    nodes: Sequence[Mapping[str, Any]], *, api_server_pods: Sequence[str] = ()
) -> Platform:
    """The platform the nodes say they run on. ``api_server_pods`` are the kube-system
    pods of kube-apiserver (kubeadm's static pods): a cluster that runs its own API
    server and shows no managed service or local tool is the page's bare metal."""
    found = _first(SIGNS, nodes)
    if found is not None:
        return found
    if api_server_pods:
        cloud = _first(CLOUDS, nodes)
        where = f"; {cloud.evidence}" if cloud else ""
        return Platform(BARE_METAL, f"kube-apiserver runs as pod {api_server_pods[0]}{where}")
    cloud = _first(CLOUDS, nodes)
    if cloud is not None:
        return cloud
    if not nodes:
        return Platform(UNKNOWN, "no node is visible")
    return Platform(UNKNOWN, f"no node shows a known provider or label ({_name(nodes[0])}, ...)")
