"""RDS: one RouteConfiguration per HTTP listener port ("80"), or per sniffed service VIP.

Follows istiod's sidecar route builder (pilot/pkg/networking/core/httproute.go and
route/route.go): a virtual host per service host (its routes from a VirtualService, or
a default route), sorted by name, then the catch-all ``allow_any`` / ``block_all``.
"""

from __future__ import annotations

import dataclasses
import http
from dataclasses import dataclass

from clusters.local.pilot.envoy import JSON, ROUTE_TYPE, duration, typed
from clusters.local.pilot.model import (
    PASSTHROUGH_CLUSTER,
    WILDCARD_ADDRESS,
    Service,
    cluster_name,
    host_matches,
    resolve_short_name,
    vs_hosts,
)
from clusters.local.pilot.resources import (
    Destination,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    VirtualService,
)
from clusters.protocol import OutboundTrafficPolicy

MAX_DIRECT_RESPONSE_BODY = 1024 * 1024  # istiod raises Envoy's 4 KiB default
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
CONFIG_PATH = "/apis/networking.istio.io/v1/namespaces/{namespace}/virtual-service/{name}"


@dataclass(frozen=True)
class HostGroup:
    """istiod's ``VirtualHostWrapper``: hosts that share the same routes on a port."""

    services: tuple[Service, ...]
    vs_hosts: tuple[str, ...]  # VirtualService hosts that are no service (port 80 only)
    routes: tuple[JSON, ...]


def build_routes(
    route_names: list[str],
    services: list[Service],
    virtual_services: list[VirtualService],
    policy: OutboundTrafficPolicy,
    dns_domain: str,
) -> list[JSON]:
    """The route configurations the listeners reference, sorted by name."""
    return [
        route_configuration(name, services, virtual_services, policy, dns_domain)
        for name in sorted(route_names)
    ]


def route_configuration(
    name: str,
    services: list[Service],
    virtual_services: list[VirtualService],
    policy: OutboundTrafficPolicy,
    dns_domain: str,
) -> JSON:
    """``"80"``: every HTTP host on port 80, then the catch-all. ``"host:port"`` (a sniffed
    service with its own VIP): only that host, matching any authority."""
    sniffed_host, _, port_text = name.rpartition(":")
    port = int(port_text)
    by_name = services_on_port(services, port)
    groups = host_groups(by_name, virtual_services, port)
    virtual_hosts = sorted(build_virtual_hosts(groups, port, dns_domain), key=lambda v: v["name"])
    if sniffed_host:
        virtual_hosts = [v for v in virtual_hosts if sniffed_host in v["domains"]]
        if len(virtual_hosts) == 1:
            virtual_hosts[0]["domains"] = ["*"]
    else:
        virtual_hosts.append(catch_all_virtual_host(policy))
    return {
        "@type": ROUTE_TYPE,
        "name": name,
        "virtual_hosts": virtual_hosts,
        "validate_clusters": False,
        "max_direct_response_body_size_bytes": MAX_DIRECT_RESPONSE_BODY,
        "ignore_port_in_host_matching": True,
    }


def services_on_port(services: list[Service], port: int) -> dict[str, Service]:
    """Services that have the port, reduced to it (istiod's ``servicesByName``)."""
    out: dict[str, Service] = {}
    for service in services:
        if (service_port := service.port(port)) is not None:
            out.setdefault(service.hostname, dataclasses.replace(service, ports=(service_port,)))
    return out


def host_groups(
    by_name: dict[str, Service], virtual_services: list[VirtualService], port: int
) -> list[HostGroup]:
    """VirtualService groups first; services without a VirtualService get a default route."""
    if port != 80:  # istiod keeps VirtualServices for unknown hosts on port 80 only
        virtual_services = [vs for vs in virtual_services if _selects_service(vs, by_name)]
    groups: list[HostGroup] = []
    claimed: set[str] = set()
    for vs in virtual_services:
        routes = vs_routes(vs, port)
        if not routes:
            continue
        other_hosts, matched = _split_hosts(vs, by_name)
        http_services = tuple(s for s in matched if s.ports[0].is_http_or_sniffed)
        if http_services or port == 80:
            groups.append(HostGroup(http_services, tuple(other_hosts), tuple(routes)))
            claimed |= {s.hostname for s in http_services}
    for hostname, service in by_name.items():
        if hostname not in claimed and service.ports[0].is_http_or_sniffed:
            groups.append(HostGroup((service,), (), (default_route(service),)))
    return groups


def _selects_service(vs: VirtualService, by_name: dict[str, Service]) -> bool:
    return any(host_matches(h, s) for h in vs_hosts(vs) for s in by_name)


def _split_hosts(
    vs: VirtualService, by_name: dict[str, Service]
) -> tuple[list[str], list[Service]]:
    """A VirtualService's hosts: services of the registry, and names that are no service."""
    other: list[str] = []
    matched: list[Service] = []
    for host in vs_hosts(vs):
        if "*" not in host:
            if host in by_name:
                matched.append(by_name[host])
            else:
                other.append(host)
            continue
        found = [s for name, s in by_name.items() if host_matches(host, name)]
        matched += [s for s in found if s not in matched]
        if not found:
            other.append(host)
    return other, matched


def build_virtual_hosts(groups: list[HostGroup], port: int, dns_domain: str) -> list[JSON]:
    """One virtual host per host; a name or domain already taken is dropped (istiod)."""
    names: set[str] = set()
    seen_domains: set[str] = set()
    known_fqdns = {
        n for g in groups for s in g.services for n in (s.hostname, f"{s.hostname}:{port}")
    }
    out = []
    for group in groups:
        candidates = [(host, [host], []) for host in group.vs_hosts]
        candidates += [(s.hostname, *virtual_host_domains(s, dns_domain)) for s in group.services]
        for host, domains, alt_hosts in candidates:
            name = f"{host}:{port}"
            if name in names:
                continue
            names.add(name)
            if kept := _dedupe_domains(domains, alt_hosts, seen_domains, known_fqdns):
                out.append(
                    {
                        "name": name,
                        "domains": kept,
                        "routes": list(group.routes),
                        "include_request_attempt_count": True,
                    }
                )
    return out


def _dedupe_domains(
    domains: list[str], alt_hosts: list[str], seen: set[str], known_fqdns: set[str]
) -> list[str]:
    """Drop domains an earlier virtual host has, and short forms that are another
    service's full name (Envoy refuses a domain twice in one route configuration)."""
    kept = []
    for domain in domains:
        if domain.lower() in seen or (domain in alt_hosts and domain in known_fqdns):
            continue
        seen.add(domain.lower())
        kept.append(domain)
    return kept


def virtual_host_domains(service: Service, dns_domain: str) -> tuple[list[str], list[str]]:
    """The Host headers that reach a service, without ports (the route configuration
    ignores them): its name, the absolute name (Istio 1.27+), the short forms a
    Kubernetes Service has from its own namespace, and its VIPs."""
    hostname = service.hostname
    alt_hosts = [f"{hostname}.", *kubernetes_alt_hosts(hostname, dns_domain)]
    vips = [a for a in service.addresses if "/" not in a and a != WILDCARD_ADDRESS]
    return [hostname, *alt_hosts, *vips], alt_hosts


def kubernetes_alt_hosts(hostname: str, dns_domain: str) -> list[str]:
    """``sleep``, ``sleep.default.svc``, ``sleep.default`` for a Service of the proxy's
    namespace; only the ``name.namespace`` forms for another namespace."""
    suffix = dns_domain[dns_domain.index(".svc.") :]
    svc_at = hostname.find(".svc.")
    if not hostname.endswith(suffix) or svc_at <= 0:
        return []
    dot = hostname.index(".")
    if dot + 1 > svc_at:
        return []
    if hostname[dot + 1 : svc_at] == dns_domain[: dns_domain.index(".svc.")]:
        return [hostname[:dot], hostname[:svc_at] + ".svc", hostname[:svc_at]]
    return [hostname[:svc_at], hostname[:svc_at] + ".svc"]


def catch_all_virtual_host(policy: OutboundTrafficPolicy) -> JSON:
    """Unknown hosts: passed through under ALLOW_ANY, answered 502 under REGISTRY_ONLY."""
    if policy is OutboundTrafficPolicy.REGISTRY_ONLY:
        name, action = "block_all", {"direct_response": {"status": 502}}
    else:
        name = "allow_any"
        action = {
            "route": {"cluster": PASSTHROUGH_CLUSTER, "timeout": "0s", "max_grpc_timeout": "0s"}
        }
    return {
        "name": name,
        "domains": ["*"],
        "routes": [{"name": name, "match": {"prefix": "/"}, **action}],
        "include_request_attempt_count": True,
    }


def default_route(service: Service) -> JSON:
    """A host without a VirtualService: everything to its cluster, no timeout, retries."""
    port = service.ports[0].number
    return {
        "name": "default",
        "match": {"prefix": "/"},
        "route": {
            "cluster": cluster_name(service.hostname, port),
            "timeout": "0s",
            "retry_policy": default_retry_policy(),
            "max_grpc_timeout": "0s",
        },
        "decorator": {"operation": f"{service.hostname}:{port}/*"},
    }


def vs_routes(vs: VirtualService, port: int) -> list[JSON]:
    """The VirtualService's http[] in order, one route per match; nothing after a
    catch-all (Envoy would never reach it)."""
    out: list[JSON] = []
    for route in vs.http:
        if not route.match:  # no match: takes everything, whatever follows is dead
            if (translated := translate_route(vs, route, None, port)) is not None:
                out.append(translated)
            return out
        for match in route.match:
            if (translated := translate_route(vs, route, match, port)) is None:
                continue
            out.append(translated)
            if is_catch_all(translated):
                return out
    return out


def translate_route(
    vs: VirtualService, route: HTTPRoute, match: HTTPMatchRequest | None, port: int
) -> JSON | None:
    """One http[] entry (for one of its matches) as an Envoy route; None if it does not
    apply to this port or has no destination."""
    if match is not None and match.port and match.port != port:
        return None
    if not route.route:
        return None
    name = route_name(route, match)
    out: JSON = {"name": name} if name else {}
    out["match"] = route_match(match)
    timeout = duration(route.timeout or 0)
    action: JSON = {}
    if len(route.route) == 1:
        action["cluster"] = destination_cluster(route.route[0].destination, vs, port)
    else:
        action["weighted_clusters"] = {
            "clusters": [
                {"name": destination_cluster(d.destination, vs, port), "weight": d.weight}
                for d in route.route
                if d.weight
            ]
        }
    action["timeout"] = timeout
    if (retry := retry_policy(route.retries)) is not None:
        action["retry_policy"] = retry
    action["max_grpc_timeout"] = timeout
    out["route"] = action
    out["metadata"] = {
        "filter_metadata": {
            "istio": {"config": CONFIG_PATH.format(namespace=vs.namespace, name=vs.name)}
        }
    }
    out["decorator"] = {"operation": route_operation(out, vs.name, port)}
    return out


def route_name(route: HTTPRoute, match: HTTPMatchRequest | None) -> str:
    """istiod's route name: the http[] entry's name, then ``.<match name>`` if it has one."""
    name = route.name or ""
    if match is not None and match.name:
        name = f"{name}.{match.name}"
    return name


def route_match(match: HTTPMatchRequest | None) -> JSON:
    """URI prefix/exact/regex; "/" when the route has no URI match."""
    if match is None:
        return {"prefix": "/"}
    uri = match.uri
    if uri is None or uri.kind == "prefix":
        out: JSON = {"prefix": uri.value if uri else "/"}
    elif uri.kind == "exact":
        out = {"path": uri.value}
    else:
        out = {"safe_regex": {"regex": uri.value}}
    out["case_sensitive"] = not match.ignore_uri_case
    return out


def destination_cluster(destination: Destination, vs: VirtualService, port: int) -> str:
    """``outbound|<port>|<subset>|<host>``: the destination's port, else the listener's."""
    host = resolve_short_name(destination.host, vs.namespace)
    return cluster_name(host, destination.port or port, destination.subset or "")


def route_operation(route: JSON, vs_name: str, port: int) -> str:
    """The decorator: ``host:port/*`` for one destination, ``<vs name>:port/*`` for many."""
    match = route["match"]
    if "prefix" in match:
        path = match["prefix"] + "*"
    elif "path" in match:
        path = match["path"]
    else:
        path = match["safe_regex"]["regex"]
    cluster = route["route"].get("cluster", "")
    parts = cluster.split("|")
    if len(parts) == 4 and parts[0] == "outbound":
        return f"{parts[3]}:{parts[1]}{path}"
    return f"{vs_name}:{port}{path}"


def is_catch_all(route: JSON) -> bool:
    match = route["match"]
    return match.get("prefix") == "/" or match.get("safe_regex", {}).get("regex") == ".*"


def default_retry_policy() -> JSON:
    """istiod's retries when a VirtualService says nothing: 2, on connection trouble. The
    conditions name ``retriable-status-codes`` but list no code (retry.DefaultPolicy since
    Istio 1.2x), so an upstream 503 is not retried."""
    return {
        "retry_on": DEFAULT_RETRY_ON,
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": typed(
                    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                ),
            }
        ],
        "host_selection_retry_max_attempts": "5",
    }


def retry_policy(retries: HTTPRetry | None) -> JSON | None:
    """VirtualService ``retries`` over the default; ``attempts: 0`` means no retries."""
    policy = default_retry_policy()
    if retries is None:
        return policy
    if retries.attempts <= 0:
        return None
    policy["num_retries"] = retries.attempts
    if retries.retry_on:
        retry_on, codes = parse_retry_on(retries.retry_on)
        if codes and "retriable-status-codes" not in retry_on:
            retry_on += ",retriable-status-codes"
        policy["retry_on"] = retry_on
        if codes:
            policy["retriable_status_codes"] = codes
    if retries.per_try_timeout is not None:
        policy["per_try_timeout"] = duration(retries.per_try_timeout)
    return policy


def parse_retry_on(text: str) -> tuple[str, list[int]]:
    """``retryOn`` mixes Envoy conditions and HTTP status codes: split them."""
    conditions: list[str] = []
    codes: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.isdigit() and _is_status(int(part)):
            codes.append(int(part))
        else:
            conditions.append(part)
    return ",".join(conditions), codes


def _is_status(code: int) -> bool:
    try:
        http.HTTPStatus(code)
    except ValueError:
        return False
    return True
