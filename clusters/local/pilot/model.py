"""istiod's service model, reduced: what every generator in this package reasons about.

istiod first turns Kubernetes Services and ServiceEntries into ``model.Service`` values
(one per ServiceEntry host) and only then builds Envoy config from them. Doing the same
here keeps listeners, routes and clusters consistent with each other, and keeps the
Istio-specific rules (protocol from a port name, short host names, cluster names) in
one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from clusters.local.pilot.resources import ServiceEntry, ServicePort, VirtualService
from clusters.local.snapshot import ConfigSnapshot, KubernetesService

DOMAIN_SUFFIX = "cluster.local"
WILDCARD_ADDRESS = "0.0.0.0"
VIRTUAL_OUTBOUND_PORT = 15001  # meshConfig.proxyListenPort
VIRTUAL_INBOUND_PORT = 15006  # meshConfig.proxyInboundListenPort
MESH_GATEWAY = "mesh"

# Istio's fixed names (pilot/pkg/networking/util, pkg/model)
PASSTHROUGH_CLUSTER = "PassthroughCluster"
BLACKHOLE_CLUSTER = "BlackHoleCluster"
INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster"
INBOUND_PASSTHROUGH_BIND = "127.0.0.6"  # iptables lets the proxy's own traffic from it pass

HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"})
HTTP2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
TCP_PROTOCOLS = frozenset({"TCP", "MONGO", "REDIS", "MYSQL"}) | TLS_PROTOCOLS
KNOWN_PROTOCOLS = HTTP_PROTOCOLS | TCP_PROTOCOLS | {"UDP"}


class ListenerProtocol(StrEnum):
    """How istiod treats a port on the outbound side (``ModelProtocolToListenerProtocol``)."""

    HTTP = "HTTP"
    TCP = "TCP"
    AUTO = "AUTO"  # protocol sniffing: a TCP chain plus an HTTP chain behind http_inspector
    NONE = "NONE"  # UDP: no listener, no cluster


class Resolution(StrEnum):
    """``ServiceEntry.resolution``; Kubernetes Services resolve by endpoints (EDS)."""

    NONE = "NONE"
    STATIC = "STATIC"
    DNS = "DNS"
    DNS_ROUND_ROBIN = "DNS_ROUND_ROBIN"
    EDS = "EDS"


@dataclass(frozen=True)
class Port:
    number: int
    name: str
    protocol: str  # upper case, "" when sniffed
    target_port: int | None = None

    @property
    def listener_protocol(self) -> ListenerProtocol:
        if self.protocol in HTTP_PROTOCOLS:
            return ListenerProtocol.HTTP
        if self.protocol in TCP_PROTOCOLS:
            return ListenerProtocol.TCP
        if self.protocol == "UDP":
            return ListenerProtocol.NONE
        return ListenerProtocol.AUTO

    @property
    def is_http_or_sniffed(self) -> bool:
        """Ports that get a virtual host in the port's route configuration."""
        return self.listener_protocol in (ListenerProtocol.HTTP, ListenerProtocol.AUTO)


@dataclass(frozen=True)
class Endpoint:
    address: str
    ports: tuple[tuple[str, int], ...] = ()  # port name -> endpoint port
    weight: int | None = None

    def port_for(self, port: Port) -> int:
        """The endpoint's port for a service port: by port name, else targetPort, else number."""
        return dict(self.ports).get(port.name) or port.target_port or port.number


@dataclass(frozen=True)
class Service:
    """One host of the registry, as istiod's ``model.Service``."""

    hostname: str
    namespace: str
    ports: tuple[Port, ...]
    resolution: Resolution
    addresses: tuple[str, ...] = ()  # VIPs or CIDRs; none means 0.0.0.0
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def listen_addresses(self) -> tuple[str, ...]:
        """The addresses istiod's listeners bind to for TCP ports (wildcard without a VIP)."""
        return self.addresses or (WILDCARD_ADDRESS,)

    def port(self, number: int) -> Port | None:
        return next((port for port in self.ports if port.number == number), None)


def cluster_name(hostname: str, port: int, subset: str = "") -> str:
    """istiod's subset key: ``outbound|80||httpbin.org``."""
    return f"outbound|{port}|{subset}|{hostname}"


def resolve_short_name(hostname: str, namespace: str) -> str:
    """A host written as a short name means a Service in the config's namespace."""
    if hostname == "*" or "." in hostname:
        return hostname
    return f"{hostname}.{namespace}.svc.{DOMAIN_SUFFIX}"


def host_matches(pattern: str, hostname: str) -> bool:
    """Istio's ``host.Name.Matches`` for the two shapes we meet: exact or ``*.suffix``."""
    if pattern == hostname or pattern == "*":
        return True
    if pattern.startswith("*"):
        return hostname.endswith(pattern[1:])
    if hostname.startswith("*"):
        return pattern.endswith(hostname[1:])
    return False


def proxy_dns_domain(snapshot: ConfigSnapshot) -> str:
    """The proxy's DNS domain (``default.svc.cluster.local``), used for alternate hosts."""
    return f"{snapshot.proxy.namespace}.svc.{DOMAIN_SUFFIX}"


def kubernetes_protocol(port: ServicePort) -> str:
    """Kubernetes ports declare their protocol by name prefix (``http``, ``http-web``)."""
    if port.protocol:
        return port.protocol.upper()
    name = port.name.lower()
    if name == "grpc-web" or name.startswith("grpc-web-"):
        return "GRPC-WEB"
    prefix = name.split("-", 1)[0].upper()
    return prefix if prefix in KNOWN_PROTOCOLS else ""


def exported_to(export_to: tuple[str, ...], config_namespace: str, proxy_namespace: str) -> bool:
    """Istio's ``exportTo``: empty means everywhere (the mesh default ``*``), ``.`` the
    config's own namespace, ``~`` nowhere, any other value a namespace by name."""
    if not export_to or "*" in export_to or proxy_namespace in export_to:
        return True
    return "." in export_to and config_namespace == proxy_namespace


def services(snapshot: ConfigSnapshot) -> list[Service]:
    """Every Service the proxy sees: the cluster's own, then one per ServiceEntry host
    of the ServiceEntries exported to the proxy's namespace."""
    out = [_from_kubernetes(service) for service in snapshot.services]
    for entry in snapshot.service_entries:
        if exported_to(entry.export_to, entry.namespace, snapshot.proxy.namespace):
            out.extend(_from_service_entry(entry))
    return out


def _from_kubernetes(service: KubernetesService) -> Service:
    ports = tuple(
        Port(port.number, port.name, kubernetes_protocol(port), port.target_port)
        for port in service.ports
    )
    return Service(
        hostname=service.hostname,
        namespace=service.namespace,
        ports=ports,
        resolution=Resolution.EDS,
        addresses=(service.cluster_ip,) if service.cluster_ip else (),
        endpoints=tuple(Endpoint(address) for address in service.endpoints),
    )


def _from_service_entry(entry: ServiceEntry) -> list[Service]:
    ports = tuple(
        Port(port.number, port.name, (port.protocol or "").upper(), port.target_port)
        for port in entry.ports
    )
    endpoints = tuple(
        Endpoint(e.address, tuple(sorted(e.ports.items())), e.weight) for e in entry.endpoints
    )
    return [
        Service(
            hostname=hostname,
            namespace=entry.namespace,
            ports=ports,
            resolution=_resolution(entry.resolution),
            addresses=entry.addresses,
            endpoints=endpoints,
        )
        for hostname in entry.hosts
    ]


def _resolution(text: str) -> Resolution:
    """ServiceEntry resolution; DYNAMIC_DNS (1.28+, a dynamic forward proxy in istiod) is
    approximated by DNS, the page never uses it."""
    return Resolution.DNS if text == "DYNAMIC_DNS" else Resolution(text)


def mesh_virtual_services(snapshot: ConfigSnapshot) -> list[VirtualService]:
    """VirtualServices that apply to sidecars (no ``gateways``, or the ``mesh`` gateway)
    and are exported to the proxy's namespace."""
    return [
        vs
        for vs in snapshot.virtual_services
        if (not vs.gateways or MESH_GATEWAY in vs.gateways)
        and exported_to(vs.export_to, vs.namespace, snapshot.proxy.namespace)
    ]


def vs_hosts(vs: VirtualService) -> list[str]:
    """A VirtualService's hosts, short names resolved in its namespace."""
    return [resolve_short_name(host, vs.namespace) for host in vs.hosts]
