"""LDS: virtualOutbound, virtualInbound and one outbound listener per service port.

Follows istiod's sidecar listener builder (pilot/pkg/networking/core/listener*.go):
services are folded port by port into listener entries keyed by (bind, port), HTTP and
TCP services on one port are merged into a sniffing listener, and each entry becomes a
listener whose match-all chain (if any) is its default filter chain.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from clusters.local.pilot.envoy import (
    ADS_CONFIG_SOURCE,
    JSON,
    LISTENER_TYPE,
    access_logs,
    extension,
    listener_filter,
    socket_address,
    tcp_proxy,
)
from clusters.local.pilot.model import (
    BLACKHOLE_CLUSTER,
    INBOUND_PASSTHROUGH_CLUSTER,
    PASSTHROUGH_CLUSTER,
    TLS_PROTOCOLS,
    VIRTUAL_INBOUND_PORT,
    VIRTUAL_OUTBOUND_PORT,
    WILDCARD_ADDRESS,
    ListenerProtocol,
    Port,
    Service,
    cluster_name,
)
from clusters.local.snapshot import MeshConfig
from clusters.protocol import OutboundTrafficPolicy

# What http_inspector detects on plaintext (istiod's plaintextHTTPALPNs without HTTP/1.0).
PLAINTEXT_HTTP_ALPNS = ("http/1.1", "h2c")
RAW_BUFFER = "raw_buffer"


@dataclass
class Chain:
    """istiod's ``filterChainOpts``: the match of one filter chain and what it runs."""

    sni_hosts: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    application_protocols: tuple[str, ...] = ()
    transport_protocol: str = ""
    network_filters: list[JSON] = field(default_factory=list)
    rds: str | None = None  # set for an HTTP chain: the route configuration's name

    @property
    def match_all(self) -> bool:
        return (
            (not self.sni_hosts or "*" in self.sni_hosts)
            and not self.application_protocols
            and not self.transport_protocol
            and not self.cidrs
        )

    def conflicts_with(self, other: Chain) -> bool:
        """Two chains Envoy could not tell apart; istiod keeps the first."""
        return (
            self.transport_protocol == other.transport_protocol
            and self.application_protocols == other.application_protocols
            and set(self.sni_hosts) - {"*"} == set(other.sni_hosts) - {"*"}
            and _networks(self.cidrs) == _networks(other.cidrs)
        )


@dataclass
class Entry:
    """istiod's ``outboundListenerEntry``: one (bind, port) and its chains so far."""

    bind: str
    port: int
    protocol: str  # "TCP", "AUTO" (sniffing) or "HTTP" (HTTP_PROXY only)
    chains: list[Chain]


def build_listeners(services: list[Service], mesh: MeshConfig) -> tuple[list[JSON], list[str]]:
    """All listeners sorted by name, and the route configuration names they reference."""
    entries: dict[tuple[str, int], Entry] = {}
    for service in services:
        for port in service.ports:
            _add_service_port(entries, service, port, mesh)
    listeners = [outbound_listener(entry, mesh) for entry in entries.values()]
    listeners += [virtual_outbound_listener(mesh), virtual_inbound_listener(mesh)]
    route_names = sorted(
        {chain.rds for entry in entries.values() for chain in entry.chains if chain.rds}
    )
    return sorted(listeners, key=lambda listener: listener["name"]), route_names


def _add_service_port(
    entries: dict[tuple[str, int], Entry], service: Service, port: Port, mesh: MeshConfig
) -> None:
    """HTTP ports share 0.0.0.0:<port>; TCP and sniffed ports bind to each service address
    (a CIDR address means 0.0.0.0 plus a destination match)."""
    protocol = port.listener_protocol
    if protocol is ListenerProtocol.NONE:
        return  # UDP: istiod builds nothing
    if protocol is ListenerProtocol.HTTP:
        _merge_entry(entries, service, port, WILDCARD_ADDRESS, None, mesh)
        return
    for address in service.listen_addresses:
        if "/" in address:
            _merge_entry(entries, service, port, WILDCARD_ADDRESS, address, mesh)
        else:
            _merge_entry(entries, service, port, address, None, mesh)


def _merge_entry(
    entries: dict[tuple[str, int], Entry],
    service: Service,
    port: Port,
    bind: str,
    cidr: str | None,
    mesh: MeshConfig,
) -> None:
    """istiod's conflict rules: HTTP and TCP on one port become a sniffing listener,
    TCP chains are merged, a second HTTP service only adds virtual hosts (via RDS)."""
    key = (bind, port.number)
    current = entries.get(key)
    protocol = port.listener_protocol
    if port.protocol == "HTTP_PROXY":
        entries[key] = Entry(bind, port.number, "HTTP", [_http_chain(str(port.number), False)])
        return
    if protocol is ListenerProtocol.HTTP:
        if current is not None and current.protocol != "TCP":
            return
        chains, new_protocol = [_http_chain(str(port.number), True)], "AUTO"
    elif protocol is ListenerProtocol.TCP:
        chains, new_protocol = _tcp_chains(service, port, bind, cidr, mesh), "TCP"
    else:  # sniffed
        if current is not None and current.protocol == "AUTO":
            return
        if current is not None and current.protocol == "HTTP":
            current = None  # istiod replaces an HTTP_PROXY entry with the sniffing one
        rds = f"{service.hostname}:{port.number}" if bind != WILDCARD_ADDRESS else str(port.number)
        chains = [*_tcp_chains(service, port, bind, cidr, mesh), _http_chain(rds, True)]
        new_protocol = "AUTO"
    if current is None:
        entries[key] = Entry(bind, port.number, new_protocol, chains)
        return
    for chain in chains:
        if not any(existing.conflicts_with(chain) for existing in current.chains):
            current.chains.append(chain)
    if current.protocol != new_protocol:
        current.protocol = "AUTO"


def _http_chain(rds: str, sniffed: bool) -> Chain:
    """An HTTP chain; on 0.0.0.0 it only takes what http_inspector saw as plaintext HTTP."""
    if not sniffed:
        return Chain(rds=rds)
    return Chain(rds=rds, application_protocols=PLAINTEXT_HTTP_ALPNS, transport_protocol=RAW_BUFFER)


def _tcp_chains(
    service: Service, port: Port, bind: str, cidr: str | None, mesh: MeshConfig
) -> list[Chain]:
    """One tcp_proxy chain to the service's cluster; TLS ports on 0.0.0.0 match on SNI."""
    target = service.ports[0].number if len(service.ports) == 1 else port.number
    cluster = cluster_name(service.hostname, target)
    cidrs = (cidr,) if cidr else ()
    sni: tuple[str, ...] = ()
    if port.protocol in TLS_PROTOCOLS and (cidr or bind == WILDCARD_ADDRESS):
        sni = (service.hostname,)
    return [Chain(sni_hosts=sni, cidrs=cidrs, network_filters=[tcp_proxy(cluster, mesh)])]


def outbound_listener(entry: Entry, mesh: MeshConfig) -> JSON:
    """``0.0.0.0_80``: reached only through virtualOutbound's original-destination handoff."""
    name = f"{entry.bind}_{entry.port}"
    chains: list[JSON] = []
    default: JSON | None = None
    for chain in entry.chains:
        rendered = _render_chain(chain, name, mesh)
        if chain.match_all:
            default = rendered
        else:
            chains.append({"filter_chain_match": _filter_chain_match(chain), **rendered})
    if default is not None and not chains:
        chains, default = [default], None
    elif default is None:
        default = passthrough_filter_chain(mesh)
    listener: JSON = {
        "@type": LISTENER_TYPE,
        "name": name,
        "address": socket_address(entry.bind, entry.port),
        "filter_chains": chains,
    }
    if default is not None:
        listener["default_filter_chain"] = default
    if filters := _listener_filters(entry.chains):
        listener["listener_filters"] = filters
    return listener | {
        "listener_filters_timeout": "0s",  # meshConfig.protocolDetectionTimeout
        "continue_on_listener_filters_timeout": True,
        "traffic_direction": "OUTBOUND",
        "bind_to_port": False,
    }


def _listener_filters(chains: list[Chain]) -> list[JSON]:
    """Inspectors only when a chain matches on what they detect (SNI for the TLS one,
    plaintext ALPN for the HTTP one), always in this order (istiod's buildListenerFilters)."""
    needs_http = any(chain.application_protocols for chain in chains)
    needs_tls = any(chain.sni_hosts for chain in chains)
    kinds = (["tls_inspector"] if needs_tls else []) + (["http_inspector"] if needs_http else [])
    return [listener_filter(kind) for kind in kinds]


def _render_chain(chain: Chain, listener_name: str, mesh: MeshConfig) -> JSON:
    if chain.rds is None:
        return {"filters": chain.network_filters}
    return {"filters": [http_connection_manager(chain.rds, f"outbound_{listener_name}", mesh)]}


def _filter_chain_match(chain: Chain) -> JSON:
    match: JSON = {}
    if chain.cidrs:
        match["prefix_ranges"] = [cidr_range(cidr) for cidr in sorted(chain.cidrs)]
    if chain.sni_hosts and "*" not in chain.sni_hosts:
        match["server_names"] = sorted(chain.sni_hosts)
    if chain.transport_protocol:
        match["transport_protocol"] = chain.transport_protocol
    if chain.application_protocols:
        match["application_protocols"] = list(chain.application_protocols)
    return match


def http_connection_manager(route_name: str, stat_prefix: str, mesh: MeshConfig) -> JSON:
    """istiod's outbound HCM, minus Istio-only filters (metadata exchange, ALPN, stats)."""
    config: JSON = {
        "stat_prefix": stat_prefix,
        "rds": {"config_source": dict(ADS_CONFIG_SOURCE), "route_config_name": route_name},
        "http_filters": _http_filters(),
        # The tracing block is what makes Envoy send X-Envoy-Decorator-Operation upstream
        # (operation name "egress" from traffic_direction OUTBOUND). Upstream Envoy has no
        # Istio tracer, so only istiod's sampling (PILOT_TRACE_SAMPLING 1%) is kept.
        "tracing": {
            "client_sampling": {"value": 100},
            "random_sampling": {"value": 1},
            "overall_sampling": {"value": 100},
        },
    }
    if logs := access_logs(mesh):
        config["access_log"] = logs
    config |= {
        "use_remote_address": False,
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "stream_idle_timeout": "0s",
        "normalize_path": True,  # meshConfig.pathNormalization DEFAULT
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
        "proxy_100_continue": True,
    }
    return extension(
        "envoy.filters.network.http_connection_manager",
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        **config,
    )


def _http_filters() -> list[JSON]:
    return [
        extension(
            "envoy.filters.http.grpc_stats",
            "envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
            emit_filter_state=True,
            stats_for_all_methods=False,
        ),
        extension("envoy.filters.http.fault", "envoy.extensions.filters.http.fault.v3.HTTPFault"),
        extension("envoy.filters.http.cors", "envoy.extensions.filters.http.cors.v3.Cors"),
        extension("envoy.filters.http.router", "envoy.extensions.filters.http.router.v3.Router"),
    ]


def egress_cluster(mesh: MeshConfig) -> str:
    """Where unknown destinations go: outboundTrafficPolicy decides."""
    if mesh.outbound_traffic_policy is OutboundTrafficPolicy.REGISTRY_ONLY:
        return BLACKHOLE_CLUSTER
    return PASSTHROUGH_CLUSTER


def passthrough_filter_chain(mesh: MeshConfig) -> JSON:
    """The default chain of a listener whose chains all match on something."""
    return {
        "filter_chain_match": {},
        "name": "PassthroughFilterChain",
        "filters": [tcp_proxy(egress_cluster(mesh), mesh)],
    }


def virtual_outbound_listener(mesh: MeshConfig) -> JSON:
    """15001, where iptables sends every outbound connection; hands it to the listener of
    its original destination, or handles it here when there is none."""
    return {
        "@type": LISTENER_TYPE,
        "name": "virtualOutbound",
        "address": socket_address(WILDCARD_ADDRESS, VIRTUAL_OUTBOUND_PORT),
        "filter_chains": [
            {
                # Connections addressed to 15001 itself would loop: refuse them.
                "filter_chain_match": {"destination_port": VIRTUAL_OUTBOUND_PORT},
                "filters": [tcp_proxy(BLACKHOLE_CLUSTER, None)],
                "name": "virtualOutbound-blackhole",
            },
            {
                "filters": [tcp_proxy(egress_cluster(mesh), mesh)],
                "name": "virtualOutbound-catchall-tcp",
            },
        ],
        "use_original_dst": True,
        "traffic_direction": "OUTBOUND",
        **_listener_access_log(mesh),
    }


def virtual_inbound_listener(mesh: MeshConfig) -> JSON:
    """15006, where iptables sends inbound connections; kept minimal (no inbound services):
    everything passes through to the application from 127.0.0.6."""
    return {
        "@type": LISTENER_TYPE,
        "name": "virtualInbound",
        "address": socket_address(WILDCARD_ADDRESS, VIRTUAL_INBOUND_PORT),
        "filter_chains": [
            {
                "filter_chain_match": {"destination_port": VIRTUAL_INBOUND_PORT},
                "filters": [tcp_proxy(BLACKHOLE_CLUSTER, None)],
                "name": "virtualInbound-blackhole",
            },
            {
                "filter_chain_match": {"prefix_ranges": [cidr_range("0.0.0.0/0")]},
                "filters": [tcp_proxy(INBOUND_PASSTHROUGH_CLUSTER, mesh)],
                "name": "virtualInbound",
            },
        ],
        "listener_filters": [listener_filter("original_dst")],
        "listener_filters_timeout": "0s",
        "continue_on_listener_filters_timeout": True,
        "traffic_direction": "INBOUND",
        **_listener_access_log(mesh),
    }


def _listener_access_log(mesh: MeshConfig) -> JSON:
    """Listener-level log for connections no chain took (``NR``), as istiod adds it."""
    logs = access_logs(mesh, flags_filter=("NR",))
    return {"access_log": logs} if logs else {}


def cidr_range(cidr: str) -> JSON:
    """``10.0.0.0/8`` (or a bare address, /32) as an Envoy CidrRange."""
    network = ipaddress.ip_network(cidr, strict=False)
    address = cidr.split("/", 1)[0]
    return {"address_prefix": address, "prefix_len": network.prefixlen}


def _networks(cidrs: tuple[str, ...]) -> set[str]:
    """CIDRs compared as networks, 0.0.0.0 ignored (istiod's conflict check)."""
    out = set()
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        if str(network.network_address) != WILDCARD_ADDRESS:
            out.add(str(network))
    return out
