"""The model control plane's input and output: Istio config in, Envoy resources out.

``pilot.generate`` (the model) consumes a :class:`ConfigSnapshot` and produces
:class:`EnvoyResources`; ``ProxyInfo`` names the sidecar for both control planes.
Nothing here knows how the resources reach Envoy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clusters.istio.accesslog import ISTIO_TEXT_FORMAT
from clusters.protocol import OutboundTrafficPolicy

if TYPE_CHECKING:  # the model's resource types; importing them here would be circular
    from clusters.local.pilot.resources import ServiceEntry, ServicePort, VirtualService


@dataclass(frozen=True)
class MeshConfig:
    """The parts of Istio's MeshConfig the page touches."""

    outbound_traffic_policy: OutboundTrafficPolicy = OutboundTrafficPolicy.ALLOW_ANY
    access_log_file: str = "/dev/stdout"
    access_log_format: str = ISTIO_TEXT_FORMAT


@dataclass(frozen=True)
class KubernetesService:
    """A Service of the cluster itself (the sample's ``sleep`` Service on port 80)."""

    name: str
    namespace: str
    ports: tuple[ServicePort, ...]
    endpoints: tuple[str, ...] = ()  # pod IPs
    cluster_ip: str | None = None

    @property
    def hostname(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"


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
class ConfigSnapshot:
    """Everything a control plane needs to compute one proxy's configuration."""

    proxy: ProxyInfo
    mesh: MeshConfig = field(default_factory=MeshConfig)
    services: tuple[KubernetesService, ...] = ()
    service_entries: tuple[ServiceEntry, ...] = ()
    virtual_services: tuple[VirtualService, ...] = ()


@dataclass(frozen=True)
class EnvoyResources:
    """Envoy v3 resources as JSON-ready dicts, each with its ``@type``."""

    listeners: tuple[dict[str, Any], ...]
    routes: tuple[dict[str, Any], ...]
    clusters: tuple[dict[str, Any], ...]
