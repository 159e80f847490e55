"""Reading a sidecar's Envoy config as Istio generates it (``istioctl proxy-config``).

The mesh's outboundTrafficPolicy shows in one place of the proxy: the catch-all filter
chain of the ``virtualOutbound`` listener (port 15001, where istio-iptables redirects
every outbound connection). A destination that no other listener takes goes to
``PassthroughCluster`` under ALLOW_ANY and to ``BlackHoleCluster`` under REGISTRY_ONLY.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from clusters.protocol import OutboundTrafficPolicy

VIRTUAL_OUTBOUND = "virtualOutbound"
ADMIN_PORT = 15000  # ProxyConfig's proxyAdminPort: Envoy's admin, on the pod's loopback only
# The config_dump resources (``?resource=``) that hold the sidecar's xDS state.
LISTENERS = "dynamic_listeners"
ROUTES = "dynamic_route_configs"
CLUSTERS = "dynamic_active_clusters"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
CLUSTER_OF_MODE = {
    OutboundTrafficPolicy.ALLOW_ANY: "PassthroughCluster",
    OutboundTrafficPolicy.REGISTRY_ONLY: "BlackHoleCluster",
}


def configs(config_dump: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    """The ``key`` objects (listener, route_config, cluster) of a resource's dump: a
    listener sits in its active_state, a route config or cluster at the entry itself."""
    for entry in config_dump.get("configs") or ():
        item = (entry.get("active_state") or {}).get(key) or entry.get(key)
        if item:
            yield item


def unmatched_outbound_cluster(config_dump: Mapping[str, Any]) -> str | None:
    """Where virtualOutbound sends a connection no other listener takes: the tcp_proxy
    cluster of its filter chain without a match (or of its default chain)."""
    for listener in configs(config_dump, "listener"):
        if listener.get("name") != VIRTUAL_OUTBOUND:
            continue
        chains = [c for c in listener.get("filter_chains") or () if not c.get("filter_chain_match")]
        if listener.get("default_filter_chain"):
            chains.append(listener["default_filter_chain"])
        for chain in chains:
            for network_filter in chain.get("filters") or ():
                if network_filter.get("name") == TCP_PROXY:
                    return (network_filter.get("typed_config") or {}).get("cluster")
    return None


def mode_in_effect(config_dump: Mapping[str, Any]) -> OutboundTrafficPolicy | None:
    """The outboundTrafficPolicy the proxy enforces, or None if its config shows neither."""
    cluster = unmatched_outbound_cluster(config_dump)
    for mode, name in CLUSTER_OF_MODE.items():
        if cluster == name:
            return mode
    return None
