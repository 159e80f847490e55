"""Envoy's ``/config_dump`` reduced to what decides where a sidecar sends traffic.

Both control planes configure the same Envoy, so their config dumps can be compared,
but not byte for byte: istiod adds Istio-only extensions and bookkeeping the model
leaves out on purpose. This keeps what routing depends on, keyed by name so a diff reads
as a path (``routes["80"].virtual_hosts["httpbin.org:80"].routes[0].action.timeout``):

- listeners: address; per filter chain its match (server names, destination port,
  transport and application protocols, prefix ranges) and where it leads (an RDS route
  configuration or a tcp_proxy cluster); the default chain; listener filter names;
- route configurations: virtual hosts with their sorted domains, and their routes in
  order: name, match (path, prefix, regex, headers), action (cluster, weighted clusters,
  direct_response status, redirect, timeout, retry policy, fault);
- clusters: discovery type, lb policy, endpoints, upstream HTTP protocol, TLS origination.

Ignored, because Istio's order or value there does not change where traffic goes:
the order of filter chains, virtual hosts, domains, clusters, weighted clusters and
retry conditions (Envoy matches chains and domains by specificity, not order; route
order is kept); chain and listener-filter configs; HTTP filter chains, access logs,
tracing, stat prefixes, decorators, metadata, circuit breakers, connect and DNS
timers, ``alt_stat_name``; the static bootstrap cluster (``xds-grpc``); the inbound side
(``virtualInbound``, ``inbound|...`` clusters, static route configs), which egress never
uses; EDS and STATIC discovery are one type (the model inlines the endpoints istiod
serves by EDS, see pilot/clusters.py), compared by their endpoints. Whether a listener or
cluster is still warming (a DNS cluster until its first answer) is a moment, not config:
warming ones count as present. Route configurations no listener references are left
out: Envoy keeps one in the dump while the listener that used it drains.

The local istiod's cluster also holds Kubernetes' system Services (kubernetes, kube-dns,
istiod, istio-ingressgateway; clusters/local/kubeobjects.py) that the model's world does
not have; :func:`without_system_services` drops what they alone produce, on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import yaml

JSON = dict[str, Any]

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
FAULT = "envoy.filters.http.fault"
CATCH_ALL_HOSTS = frozenset({"allow_any", "block_all"})
EGRESS_CLUSTERS = frozenset({"PassthroughCluster", "BlackHoleCluster"})
# Envoy's defaults, filled in so that an omitted default and an explicit one compare equal.
DEFAULT_LB_POLICY = "ROUND_ROBIN"
DEFAULT_NUM_RETRIES = 1
DEFAULT_PERCENT = {"numerator": 0, "denominator": "HUNDRED"}
INBOUND_LISTENERS = frozenset({"virtualInbound"})
HEADER_MATCH_FLAGS = frozenset({"name", "invert_match", "treat_missing_header_as_empty"})


def normalise(dump: Mapping[str, Any]) -> JSON:
    """``{"listeners", "routes", "clusters"}`` of a ``/config_dump?include_eds`` body."""
    sections = {item.get("@type", "").rsplit(".", 1)[-1]: item for item in dump.get("configs", ())}
    endpoints = _eds_endpoints(sections.get("EndpointsConfigDump", {}))
    listeners = {}
    for item in sections.get("ListenersConfigDump", {}).get("dynamic_listeners", ()):
        state = item.get("active_state") or item.get("warming_state") or {}
        listener = state.get("listener")
        if listener and listener["name"] not in INBOUND_LISTENERS:
            listeners[listener["name"]] = _listener(listener)
    referenced = {
        target[4:]
        for listener in listeners.values()
        for chain in _all_chains(listener)
        for target in chain["to"]
        if target.startswith("rds:")
    }
    routes = {}
    for item in sections.get("RoutesConfigDump", {}).get("dynamic_route_configs", ()):
        config = item.get("route_config") or {}
        if config.get("name") in referenced:
            routes[config["name"]] = _route_configuration(config)
    clusters = {}
    dump = sections.get("ClustersConfigDump", {})
    for item in [
        *dump.get("dynamic_active_clusters", ()),
        *dump.get("dynamic_warming_clusters", ()),
    ]:
        cluster = item.get("cluster") or {}
        name = cluster.get("name", "")
        if name and not name.startswith("inbound|"):
            clusters.setdefault(name, _cluster(cluster, endpoints.get(name)))
    return {
        "listeners": dict(sorted(listeners.items())),
        "routes": dict(sorted(routes.items())),
        "clusters": dict(sorted(clusters.items())),
    }


# Listeners ---------------------------------------------------------------------------


def _listener(listener: Mapping[str, Any]) -> JSON:
    chains = sorted((_chain(chain) for chain in listener.get("filter_chains", ())), key=_sort_key)
    out: JSON = {
        "address": _address(listener.get("address", {})),
        "chains": chains,
        "default_chain": (
            _chain(listener["default_filter_chain"]) if "default_filter_chain" in listener else None
        ),
        "listener_filters": sorted(f.get("name", "") for f in listener.get("listener_filters", ())),
        "use_original_dst": bool(listener.get("use_original_dst", False)),
    }
    return out


def _address(address: Mapping[str, Any]) -> str:
    socket = address.get("socket_address") or {}
    return f"{socket.get('address', '')}:{socket.get('port_value', 0)}"


def _chain(chain: Mapping[str, Any]) -> JSON:
    match = chain.get("filter_chain_match") or {}
    out: JSON = {}
    if names := match.get("server_names"):
        out["server_names"] = sorted(names)
    if "destination_port" in match:
        out["destination_port"] = int(match["destination_port"])
    if protocol := match.get("transport_protocol"):
        out["transport_protocol"] = protocol
    if protocols := match.get("application_protocols"):
        out["application_protocols"] = sorted(protocols)
    if ranges := match.get("prefix_ranges"):
        out["prefix_ranges"] = sorted(
            f"{r.get('address_prefix', '')}/{r.get('prefix_len', 0)}" for r in ranges
        )
    out["to"] = [_filter_target(item) for item in chain.get("filters", ())]
    return out


def _filter_target(item: Mapping[str, Any]) -> str:
    """Where a network filter sends what it takes: ``rds:80``, ``tcp:outbound|...``."""
    name = item.get("name", "")
    config = item.get("typed_config") or {}
    if name == HCM:
        if "rds" in config:
            return f"rds:{config['rds'].get('route_config_name', '')}"
        return f"inline:{(config.get('route_config') or {}).get('name', '')}"
    if name == TCP_PROXY:
        if "cluster" in config:
            return f"tcp:{config['cluster']}"
        weighted = (config.get("weighted_clusters") or {}).get("clusters", ())
        parts = sorted(f"{c.get('name')}={c.get('weight', 0)}" for c in weighted)
        return f"tcp:{{{', '.join(parts)}}}"
    return name


# Routes --------------------------------------------------------------------------------


def _route_configuration(config: Mapping[str, Any]) -> JSON:
    hosts = {}
    for host in config.get("virtual_hosts", ()):
        hosts[host.get("name", "")] = {
            "domains": sorted(host.get("domains", ())),
            "routes": [_route(route) for route in host.get("routes", ())],
        }
    return {"virtual_hosts": dict(sorted(hosts.items()))}


def _route(route: Mapping[str, Any]) -> JSON:
    out: JSON = {"name": route.get("name", ""), "match": _match(route.get("match") or {})}
    action: JSON = {}
    if "route" in route:
        action = _route_action(route["route"])
    elif "direct_response" in route:
        action = {"direct_response": int(route["direct_response"].get("status", 0))}
    elif "redirect" in route:
        action = {"redirect": dict(sorted(route["redirect"].items()))}
    fault = (route.get("typed_per_filter_config") or {}).get(FAULT)
    if fault:
        action["fault"] = _fault(fault)
    out["action"] = action
    for key in ("request_headers_to_add", "response_headers_to_add"):
        if route.get(key):
            out[key] = sorted(h.get("header", {}).get("key", "") for h in route[key])
    for key in ("request_headers_to_remove", "response_headers_to_remove"):
        if route.get(key):
            out[key] = sorted(route[key])
    return out


def _match(match: Mapping[str, Any]) -> JSON:
    out: JSON = {}
    for key in ("prefix", "path", "path_separated_prefix"):
        if key in match:
            out[key] = match[key]
    if "safe_regex" in match:
        out["regex"] = match["safe_regex"].get("regex", "")
    if headers := match.get("headers"):
        out["headers"] = sorted(_header_match(h) for h in headers)
    if params := match.get("query_parameters"):
        out["query_parameters"] = sorted(_header_match(p) for p in params)
    if match.get("case_sensitive") is False:
        out["case_sensitive"] = False
    return out


def _header_match(header: Mapping[str, Any]) -> str:
    """``end-user exact jason``: one readable line per header or query matcher."""
    condition = {k: v for k, v in header.items() if k not in HEADER_MATCH_FLAGS}
    if "string_match" in condition:
        condition = dict(condition.pop("string_match"), **condition)
    parts = [header.get("name", "")]
    parts += [f"{key} {_scalar(value)}" for key, value in sorted(condition.items())]
    if header.get("invert_match"):
        parts.append("inverted")
    return " ".join(parts)


def _scalar(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_scalar(v)}" for k, v in sorted(value.items()))
    return str(value)


def _route_action(action: Mapping[str, Any]) -> JSON:
    out: JSON = {}
    if "cluster" in action:
        out["cluster"] = action["cluster"]
    elif "weighted_clusters" in action:
        out["weighted_clusters"] = sorted(
            f"{c.get('name')}={c.get('weight', 0)}"
            for c in action["weighted_clusters"].get("clusters", ())
        )
    elif "cluster_header" in action:
        out["cluster_header"] = action["cluster_header"]
    out["timeout"] = _duration(action.get("timeout", "15s"))  # Envoy's default route timeout
    if policy := action.get("retry_policy"):
        out["retry_policy"] = _retry_policy(policy)
    for key in ("prefix_rewrite", "host_rewrite_literal"):
        if key in action:
            out[key] = action[key]
    return out


def _retry_policy(policy: Mapping[str, Any]) -> JSON:
    out: JSON = {
        "num_retries": int(policy.get("num_retries", DEFAULT_NUM_RETRIES)),
        "retry_on": sorted(part for part in policy.get("retry_on", "").split(",") if part),
        "retriable_status_codes": sorted(policy.get("retriable_status_codes", ())),
    }
    if "per_try_timeout" in policy:
        out["per_try_timeout"] = _duration(policy["per_try_timeout"])
    return out


def _fault(fault: Mapping[str, Any]) -> JSON:
    out: JSON = {}
    if abort := fault.get("abort"):
        status = abort.get("http_status") or abort.get("grpc_status")
        out["abort"] = f"{status} at {_percent(abort.get('percentage'))}"
    if delay := fault.get("delay"):
        out["delay"] = f"{_duration(delay.get('fixed_delay', '0s'))} at "
        out["delay"] += _percent(delay.get("percentage"))
    return out


def _percent(value: Mapping[str, Any] | None) -> str:
    value = value or DEFAULT_PERCENT
    return f"{value.get('numerator', 0)}/{value.get('denominator', 'HUNDRED')}"


_DURATION = re.compile(r"^(\d+)(?:\.(\d+))?s$")


def _duration(text: str) -> str:
    """``3s``, ``3.000s`` and ``3.0s`` are one duration; printed in Envoy's shortest form."""
    match = _DURATION.match(str(text))
    if not match:
        return str(text)
    fraction = (match.group(2) or "").rstrip("0")
    return f"{int(match.group(1))}{'.' + fraction if fraction else ''}s"


# Clusters ------------------------------------------------------------------------------


def _cluster(cluster: Mapping[str, Any], eds: list[str] | None) -> JSON:
    kind = cluster.get("type") or (cluster.get("cluster_type") or {}).get("name", "STATIC")
    out: JSON = {
        "type": "EDS|STATIC" if kind in ("EDS", "STATIC") else kind,
        "lb_policy": cluster.get("lb_policy", DEFAULT_LB_POLICY),
    }
    if kind == "EDS":
        out["endpoints"] = eds or []
    elif kind != "ORIGINAL_DST":
        out["endpoints"] = _endpoints(cluster.get("load_assignment") or {})
    if protocol := _upstream_protocol(cluster):
        out["upstream_protocol"] = protocol
    if socket := cluster.get("transport_socket"):
        out["transport_socket"] = socket.get("name", "")
    if "outlier_detection" in cluster:
        out["outlier_detection"] = True
    return out


def _endpoints(assignment: Mapping[str, Any]) -> list[str]:
    """``203.0.113.10:80`` per endpoint (``*3`` when weighted), sorted."""
    out = []
    for locality in assignment.get("endpoints", ()):
        for item in locality.get("lb_endpoints", ()):
            socket = ((item.get("endpoint") or {}).get("address") or {}).get("socket_address", {})
            text = f"{socket.get('address', '')}:{socket.get('port_value', 0)}"
            weight = int(item.get("load_balancing_weight", 1))
            out.append(text if weight == 1 else f"{text}*{weight}")
    return sorted(out)


def _eds_endpoints(section: Mapping[str, Any]) -> dict[str, list[str]]:
    out = {}
    for item in section.get("dynamic_endpoint_configs", ()):
        config = item.get("endpoint_config") or {}
        out[config.get("cluster_name", "")] = _endpoints(config)
    return out


def _upstream_protocol(cluster: Mapping[str, Any]) -> str | None:
    options = (cluster.get("typed_extension_protocol_options") or {}).get(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    )
    if not options:
        return None
    if "explicit_http_config" in options:
        explicit = options["explicit_http_config"]
        return "h2" if "http2_protocol_options" in explicit else "http/1.1"
    if "use_downstream_protocol_config" in options:
        return "downstream"
    if "auto_config" in options:
        return "auto"
    return None


# The world's difference ----------------------------------------------------------------


@cache
def system_services() -> tuple[frozenset[str], frozenset[str]]:
    """Host names and VIPs of the Services only istiod's Kubernetes holds."""
    from clusters.local import kubeobjects

    hosts, vips = set(), set()
    for item in yaml.safe_load_all(kubeobjects.cluster_objects()):
        if item.get("kind") != "Service" or item["metadata"]["name"] == "sleep":
            continue
        metadata = item["metadata"]
        hosts.add(f"{metadata['name']}.{metadata['namespace']}.svc.cluster.local")
        vips.add(item["spec"]["clusterIP"])
    return frozenset(hosts), frozenset(vips)


def without_system_services(config: JSON) -> JSON:
    """The config without what only the Kubernetes system Services produce.

    Their clusters, their listeners (bound to their VIPs), their virtual hosts; then a
    route configuration left with only the catch-all host, and the 0.0.0.0 listener that
    only leads there, existed for them alone.
    """
    hosts, vips = system_services()

    def is_system_host(name: str) -> bool:
        return name.rsplit(":", 1)[0] in hosts

    clusters = {
        name: cluster
        for name, cluster in config["clusters"].items()
        if name.rsplit("|", 1)[-1] not in hosts
    }
    routes: JSON = {}
    emptied: set[str] = set()
    for name, route in config["routes"].items():
        if is_system_host(name):
            emptied.add(name)
            continue
        kept = {h: v for h, v in route["virtual_hosts"].items() if not is_system_host(h)}
        if len(kept) < len(route["virtual_hosts"]) and set(kept) <= CATCH_ALL_HOSTS:
            emptied.add(name)
            continue
        routes[name] = {**route, "virtual_hosts": kept}
    listeners = {
        name: listener
        for name, listener in config["listeners"].items()
        if name.rsplit("_", 1)[0] not in vips and not _leads_only_to(listener, emptied)
    }
    return {"listeners": listeners, "routes": routes, "clusters": clusters}


def _leads_only_to(listener: Mapping[str, Any], emptied: set[str]) -> bool:
    targets = [t for chain in _all_chains(listener) for t in chain["to"]]
    egress = {f"tcp:{name}" for name in EGRESS_CLUSTERS}
    routes = [t for t in targets if t.startswith("rds:")]
    return bool(routes) and all(
        t in egress or (t.startswith("rds:") and t[4:] in emptied) for t in targets
    )


def _all_chains(listener: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield from listener["chains"]
    if listener.get("default_chain"):
        yield listener["default_chain"]


def _sort_key(chain: Mapping[str, Any]) -> str:
    return repr(sorted(chain.items()))
