"""The local mesh's one seam to its control plane: istiod itself, or the Python model.

``istiod`` (the default) is Istio's own discovery server and validation, built from the
``istio.io/istio`` module (clusters/local/istiod, Go) and serving ADS to the sidecar.
``model`` is clusters/local/pilot, a Python re-implementation of istiod's output for
the page's resources: it starts without Go, and ``make fidelity`` measures how far it
is from istiod. Both take the same calls and configure the same Envoy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from clusters.istio.kubectl_documents import KindNames
from clusters.local.snapshot import ProxyInfo
from clusters.protocol import Injection, OutboundTrafficPolicy, ResourceRef
from clusters.shared.envoy import EnvoyAdmin
from clusters.shared.processes import ProcessRecord


class ControlPlaneName(StrEnum):
    ISTIOD = "istiod"
    MODEL = "model"


CONTROL_PLANES = tuple(name.value for name in ControlPlaneName)

# Spawns a long-running process of the mesh, records it in the run, and returns it.
Spawn = Callable[[str, Sequence[str], Path], ProcessRecord]


@dataclass(frozen=True)
class Workload:
    """A Deployment as stored and the pod its ReplicaSet created, as JSON objects."""

    deployment: dict[str, Any]
    pod: dict[str, Any]


@dataclass
class Sidecar:
    """The source pod's istio-proxy, as its control plane sees it."""

    proxy: ProxyInfo
    pod: Mapping[str, Any]  # the pod object as admission (injection) left it
    directory: Path  # the pod's run directory: admin socket, logs, file xDS
    admin: EnvoyAdmin
    alive: Callable[[], None]  # raises ClusterError with the proxy's last words if it died
    error_log: Path

    @property
    def labels(self) -> dict[str, str]:
        """The pod's labels as admission left them (the injector adds its own)."""
        return dict((self.pod.get("metadata") or {}).get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        """The pod's annotations as admission left them (sidecar.istio.io/status...)."""
        return dict((self.pod.get("metadata") or {}).get("annotations") or {})


class ControlPlane(Protocol):
    """What the local mesh asks of its control plane."""

    name: str

    def start(self, spawn: Spawn) -> None:
        """Start whatever runs beside the mesh (istiod's process); a no-op for the model."""
        ...

    def describe(self) -> dict[str, str]:
        """``control_plane`` and the Istio versions, for status and reports."""
        ...

    def kinds(self) -> list[KindNames]:
        """The Istio kinds this control plane serves, with kubectl's names for them."""
        ...

    def deploy(
        self,
        deployment: Mapping[str, Any],
        injection: Injection,
        pod_name: str,
        include: Sequence[str] | None,
    ) -> Workload:
        """``kubectl apply`` of the sample's Deployment (through ``istioctl kube-inject``
        for manual injection) and the pod its ReplicaSet creates, after admission;
        ``include`` is the injector's includeIPRanges (None: every destination)."""
        ...

    def install_interception(self, namespace: str, pod: Mapping[str, Any]) -> None:
        """istio-init's job: the pod's iptables rules, from its istio-init arguments."""
        ...

    def bootstrap(self, sidecar: Sidecar) -> dict[str, Any]:
        """Envoy's bootstrap for the sidecar (node, admin, where its config comes from)."""
        ...

    def add_sidecar(self, sidecar: Sidecar) -> None:
        """The pod exists (its Kubernetes object is created); its proxy starts next."""
        ...

    def attach_sidecar(self, sidecar: Sidecar | None) -> None:
        """Another process re-opens the run: the sidecar already runs (None: another
        process removed the pod; forget it without telling anyone)."""
        ...

    def follow(self) -> None:
        """Another process of the run changed the config kept in the run's state (the
        shell's kubectl): take it as the config from now on."""
        ...

    def proxy_labels(self, sidecar: Sidecar) -> dict[str, str] | None:
        """The pod's labels as the control plane holds them, or None if it keeps none."""
        ...

    def remove_sidecar(self) -> None:
        """The pod is gone (``kubectl delete pod``)."""
        ...

    def apply(
        self, documents: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[ResourceRef]:
        """Admit and store every document, or none (InvalidResource says why);
        ``dry_run`` admits without storing (kubectl's --dry-run=server)."""
        ...

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Remove one resource of a served kind; False when there was none."""
        ...

    def items(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """The stored resources of ``kind`` as objects (None: every namespace)."""
        ...

    def names(self, kind: str, namespace: str | None) -> list[str]:
        """The names of the stored resources of ``kind`` (None: every namespace)."""
        ...

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy: ...

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy) -> None: ...

    def clear(self) -> bool:
        """Back to no applied resources and ALLOW_ANY; True if that changed anything."""
        ...

    def sync_status(self) -> dict[str, Any] | None:
        """The sidecar's sync state as the control plane sees it, for diagnostics."""
        ...

    def wait_synced(self, timeout: float) -> None:
        """Block until the sidecar runs everything submitted so far, or raise ClusterError."""
        ...

    def close(self) -> None:
        """Let go of connections to the control plane (its processes are the run's)."""
        ...


def base_bootstrap(sidecar: Sidecar, *, istio_version: str) -> dict[str, Any]:
    """The bootstrap parts every control plane shares: node identity and admin socket.

    The node metadata is what pilot-agent sends istiod (pkg/model NodeMetadata): istiod
    reads the pod's namespace, IPs, labels and interception mode from it.
    """
    proxy = sidecar.proxy
    return {
        "node": {
            "id": proxy.node_id,
            "cluster": f"{sidecar.labels.get('app', proxy.pod_name)}.{proxy.namespace}",
            "metadata": {
                "NAME": proxy.pod_name,
                "NAMESPACE": proxy.namespace,
                "INSTANCE_IPS": proxy.ip,
                "LABELS": dict(sidecar.labels),
                "ANNOTATIONS": dict(sidecar.annotations),
                "CLUSTER_ID": "Kubernetes",
                "INTERCEPTION_MODE": "REDIRECT",
                "ISTIO_VERSION": istio_version,
                "SERVICE_ACCOUNT": "sleep",
                "WORKLOAD_NAME": "sleep",
                "OWNER": f"kubernetes://apis/apps/v1/namespaces/{proxy.namespace}/deployments/sleep",
                "MESH_ID": "cluster.local",
                "APP_CONTAINERS": "sleep",
            },
        },
        "admin": {"address": {"pipe": {"path": str(sidecar.directory / "admin.sock")}}},
    }
