"""The source pod's sidecar as the local mesh and its istiod plane share it: the proxy's
identity, the pod as admission left it, and where its admin socket and logs are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusters.shared.envoy import EnvoyAdmin


@dataclass(frozen=True)
class ProxyInfo:
    """The sidecar being configured (istiod's ``model.Proxy``, reduced)."""

    pod_name: str
    namespace: str
    ip: str

    @property
    def node_id(self) -> str:
        return (
            f"sidecar~{self.ip}~{self.pod_name}.{self.namespace}~{self.namespace}.svc.cluster.local"
        )


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
    directory: Path  # the pod's run directory: admin socket, logs
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
