"""CDS: ``outbound|<port>||<host>`` per service port, plus istiod's fixed clusters.

Follows istiod's cluster builder (pilot/pkg/networking/core/cluster*.go) with the
default mesh config and no DestinationRule.
"""

from __future__ import annotations

from clusters.local.pilot.envoy import CLUSTER_TYPE, HTTP_PROTOCOL_OPTIONS, JSON, typed
from clusters.local.pilot.model import (
    BLACKHOLE_CLUSTER,
    HTTP2_PROTOCOLS,
    INBOUND_PASSTHROUGH_BIND,
    INBOUND_PASSTHROUGH_CLUSTER,
    PASSTHROUGH_CLUSTER,
    ListenerProtocol,
    Port,
    Resolution,
    Service,
    cluster_name,
)

CONNECT_TIMEOUT = "10s"  # meshConfig.connectTimeout
DNS_REFRESH_RATE = "60s"  # meshConfig.dnsRefreshRate
PASSTHROUGH_IDLE_TIMEOUT = "300s"
MAX = 4294967295  # istiod lifts Envoy's circuit-breaker defaults to the maximum

DISCOVERY_TYPE = {
    Resolution.DNS: "STRICT_DNS",
    Resolution.DNS_ROUND_ROBIN: "LOGICAL_DNS",
    Resolution.NONE: "ORIGINAL_DST",
    # The one deliberate difference from istiod: it sends STATIC ServiceEntries and
    # Kubernetes Services as EDS clusters. We serve no EDS, so the endpoints go inline
    # in a STATIC cluster, which Envoy load-balances the same way.
    Resolution.STATIC: "STATIC",
    Resolution.EDS: "STATIC",
}


def build_clusters(services: list[Service]) -> list[JSON]:
    """Every cluster the sidecar needs, sorted by name; the first of a name wins (istiod)."""
    by_name: dict[str, JSON] = {}
    for service in services:
        for port in service.ports:
            if port.listener_protocol is ListenerProtocol.NONE:
                continue  # UDP is not proxied
            cluster = outbound_cluster(service, port)
            by_name.setdefault(cluster["name"], cluster)
    for cluster in (blackhole_cluster(), passthrough_cluster(), inbound_passthrough_cluster()):
        by_name.setdefault(cluster["name"], cluster)
    return [by_name[name] for name in sorted(by_name)]


def outbound_cluster(service: Service, port: Port) -> JSON:
    """``outbound|80||httpbin.org``: type from the resolution, istiod's defaults."""
    name = cluster_name(service.hostname, port.number)
    kind = DISCOVERY_TYPE[service.resolution]
    cluster: JSON = {
        "@type": CLUSTER_TYPE,
        "name": name,
        "type": kind,
        "connect_timeout": CONNECT_TIMEOUT,
        "lb_policy": "CLUSTER_PROVIDED" if kind == "ORIGINAL_DST" else "LEAST_REQUEST",
        "circuit_breakers": default_circuit_breakers(),
        "common_lb_config": {},
    }
    if kind in ("STRICT_DNS", "LOGICAL_DNS"):
        cluster |= {
            "dns_lookup_family": "V4_ONLY",  # an IPv4-only proxy
            "dns_refresh_rate": DNS_REFRESH_RATE,
            "respect_dns_ttl": True,
        }
    if kind != "ORIGINAL_DST":
        cluster["load_assignment"] = load_assignment(name, service, port)
    if options := upstream_protocol_options(port):
        cluster["typed_extension_protocol_options"] = {HTTP_PROTOCOL_OPTIONS: options}
    return cluster


def load_assignment(name: str, service: Service, port: Port) -> JSON:
    """The endpoints; a DNS service without endpoints resolves its own host name."""
    if service.endpoints:
        targets = [(e.address, e.port_for(port), e.weight or 1) for e in service.endpoints]
    elif service.resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN):
        targets = [(service.hostname, port.target_port or port.number, 1)]
    else:
        return {"cluster_name": name}  # istiod: an EDS cluster with no endpoints yet
    lb_endpoints = [
        {
            "endpoint": {"address": {"socket_address": {"address": address, "port_value": number}}},
            "load_balancing_weight": weight,
        }
        for address, number, weight in targets
    ]
    return {
        "cluster_name": name,
        "endpoints": [
            {
                "locality": {},
                "lb_endpoints": lb_endpoints,
                "load_balancing_weight": sum(weight for *_, weight in targets),
            }
        ],
    }


def upstream_protocol_options(port: Port) -> JSON | None:
    """HTTP/2 ports speak h2 upstream; sniffed ports keep the downstream protocol."""
    if port.protocol in HTTP2_PROTOCOLS:
        return typed(HTTP_PROTOCOL_OPTIONS, explicit_http_config={"http2_protocol_options": {}})
    if port.listener_protocol is ListenerProtocol.AUTO:
        return typed(HTTP_PROTOCOL_OPTIONS, use_downstream_protocol_config=_downstream())
    return None


def default_circuit_breakers() -> JSON:
    """istiod's default thresholds: effectively unlimited, remaining counts tracked."""
    return {
        "thresholds": [
            {
                "max_connections": MAX,
                "max_pending_requests": MAX,
                "max_requests": MAX,
                "max_retries": MAX,
                "track_remaining": True,
            }
        ]
    }


def blackhole_cluster() -> JSON:
    """A STATIC cluster with no endpoints: every connection to it fails at once."""
    return {
        "@type": CLUSTER_TYPE,
        "name": BLACKHOLE_CLUSTER,
        "type": "STATIC",
        "connect_timeout": CONNECT_TIMEOUT,
    }


def passthrough_cluster(name: str = PASSTHROUGH_CLUSTER) -> JSON:
    """ORIGINAL_DST to wherever the application connected, keeping its HTTP protocol."""
    return {
        "@type": CLUSTER_TYPE,
        "name": name,
        "type": "ORIGINAL_DST",
        "connect_timeout": CONNECT_TIMEOUT,
        "lb_policy": "CLUSTER_PROVIDED",
        "circuit_breakers": default_circuit_breakers(),
        "typed_extension_protocol_options": {
            HTTP_PROTOCOL_OPTIONS: typed(
                HTTP_PROTOCOL_OPTIONS,
                common_http_protocol_options={"idle_timeout": PASSTHROUGH_IDLE_TIMEOUT},
                use_downstream_protocol_config=_downstream(),
            )
        },
    }


def inbound_passthrough_cluster() -> JSON:
    """The passthrough cluster of virtualInbound, bound to 127.0.0.6 so iptables lets it out."""
    cluster = passthrough_cluster(INBOUND_PASSTHROUGH_CLUSTER)
    cluster["upstream_bind_config"] = {
        "source_address": {"address": INBOUND_PASSTHROUGH_BIND, "port_value": 0}
    }
    return cluster


def _downstream() -> JSON:
    return {"http_protocol_options": {}, "http2_protocol_options": {}}
