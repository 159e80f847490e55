"""The embedded control plane's config generator: Istio config in, Envoy resources out.

``generate`` is what istiod does for one sidecar's outbound side, as a pure function:
the mesh config, the cluster's Services, ServiceEntries and VirtualServices become the
listeners, route configurations and clusters istiod (1.30) would push, with istiod's
names (virtualOutbound, PassthroughCluster, BlackHoleCluster, ``outbound|80||httpbin.org``)
so that access-log lines and config dumps read the same as in a real mesh.

Modules: ``model`` (istiod's service model), ``listeners``, ``routes``, ``clusters``
(one per xDS type) and ``envoy`` (JSON builders they share).
"""

from __future__ import annotations

from clusters.local.pilot.clusters import build_clusters
from clusters.local.pilot.listeners import build_listeners
from clusters.local.pilot.model import mesh_virtual_services, proxy_dns_domain, services
from clusters.local.pilot.routes import build_routes
from clusters.local.snapshot import ConfigSnapshot, EnvoyResources

__all__ = ["generate"]


def generate(snapshot: ConfigSnapshot) -> EnvoyResources:
    """Envoy v3 resources for the snapshot's sidecar, each list sorted by name.

    Listeners reference their route configurations through ADS, as istiod's do; the
    delivery layer rewrites those config sources for the transport it uses.
    """
    registry = services(snapshot)
    listeners, route_names = build_listeners(registry, snapshot.mesh)
    routes = build_routes(
        route_names,
        registry,
        mesh_virtual_services(snapshot),
        snapshot.mesh.outbound_traffic_policy,
        proxy_dns_domain(snapshot),
    )
    return EnvoyResources(
        listeners=tuple(listeners),
        routes=tuple(routes),
        clusters=tuple(build_clusters(registry)),
    )
