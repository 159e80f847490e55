"""Envoy's ``/config_dump`` reduced to what decides where a sidecar sends traffic.

The two sides of ``make fidelity`` (the local mesh's Envoy and the kind sidecar's) get
their config from the same istiod build, so their dumps can be compared, but not byte
for byte. This keeps what routing depends on, keyed by name so a diff reads as a path
(``routes["80"].virtual_hosts["httpbin.org:80"].routes[0].action.timeout``):

- listeners: address; per filter chain its match (server names, destination port,
  transport and application protocols, prefix ranges) and where it leads (an RDS route
  configuration or a tcp_proxy cluster); the default chain; listener filter names;
- route configurations: virtual hosts with their sorted domains, and their routes in
  order: name, match (path, prefix, regex, headers), action (cluster, weighted clusters,
  direct_response status, redirect, timeout, retry policy, fault);
- clusters: discovery type, lb policy, static endpoints, upstream HTTP protocol, TLS
  origination.

Ignored, because Istio's order or value there does not change where traffic goes:
the order of filter chains, virtual hosts, domains, clusters, weighted clusters and
retry conditions (Envoy matches chains and domains by specificity, not order; route
order is kept); chain and listener-filter configs; HTTP filter chains, access logs,
tracing, stat prefixes, decorators, metadata, circuit breakers, connect and DNS
timers, ``alt_stat_name``; the inbound side (``virtualInbound``, ``inbound|...``
clusters), which egress never uses. Whether a listener or cluster is still warming (a
DNS cluster until its first answer) is a moment, not config: warming ones count as
present. Route configurations no listener references are left out: Envoy keeps one in
the dump while the listener that used it drains. EDS clusters' endpoints are not in the
dump the Cluster protocol reads (Envoy adds them only with ``include_eds``); where they
lead shows in the traffic instead.

What differs between the sides by nature, and is therefore renamed or dropped:

- versions, timestamps and pod names (``version_info``, ``last_updated``, the node) are
  bookkeeping of one proxy's life: none of them is kept;
- the fake sites' addresses (203.0.113.x locally, 198.18.0.x on kind's docker network):
  each is named by the corpus placeholder it filled in (``${address:httpbin.org}``,
  clusters/fidelity/addresses.py), see :class:`Renames`;
- the cluster's own addresses (pod and Service ranges, ``Cluster.internal_ip_ranges``):
  Kubernetes picks them; a Service VIP is named by its Service (``${vip:sleep}``, from the
  virtual host that lists it), any other one ``${internal}``;
- the cluster domain (``cluster.local`` on both today, a kubelet setting elsewhere):
  Service names are written with ``cluster.local``;
- every Service that is not the corpus' and what it alone produces
  (:func:`without_others_services`). The corpus' Services are those of the pod's
  namespace (``default``), ``kubernetes`` aside. The platform's (``kubernetes``, and every
  Service in ``kube-system`` and ``istio-system``: kube-dns, istiod, the ingress gateway,
  kind's istiod revision tag) are the installation's, with ports and counts that differ by
  installer. Those of any other namespace belong to whoever else uses the cluster: on
  kind, the ``existing`` backend's run in its own namespace, when the contract session
  shares the cluster with it; every sidecar sees them, and the local mesh has none.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
CORPUS_NAMESPACE = "default"  # the sleep pod's, where the corpus applies its objects
CLUSTER_DOMAIN = "cluster.local"
HEADER_MATCH_FLAGS = frozenset({"name", "invert_match", "treat_missing_header_as_empty"})


def normalise(dump: Mapping[str, Any], renames: Renames | None = None) -> JSON:
    """``{"listeners", "routes", "clusters"}`` of a ``/config_dump`` body, with each
    side's own addresses and cluster domain renamed (``renames``)."""
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
    config = {
        "listeners": dict(sorted(listeners.items())),
        "routes": dict(sorted(routes.items())),
        "clusters": dict(sorted(clusters.items())),
    }
    return (renames or Renames()).apply(config)


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
        "type": kind,
        "lb_policy": cluster.get("lb_policy", DEFAULT_LB_POLICY),
    }
    if kind == "EDS":
        if eds is not None:  # only in a dump with include_eds
            out["endpoints"] = eds
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


def is_others_host(host: str) -> bool:
    """A Service that is not the corpus' (``NAME.NAMESPACE.svc.DOMAIN``, maybe with
    ``:PORT``): the platform's, or one of a namespace other than the pod's."""
    labels = host.rsplit(":", 1)[0].split(".")
    if len(labels) < 3 or labels[2] != "svc":
        return False
    return labels[1] != CORPUS_NAMESPACE or labels[0] == "kubernetes"


def without_others_services(config: JSON) -> JSON:
    """The config without what only Services that are not the corpus' produce.

    Their clusters, their virtual hosts and route configurations, the listeners bound to
    their VIPs (every chain leads to them); then a route configuration left with only the
    catch-all host, and the 0.0.0.0 listener that only leads there, existed for them alone.
    """
    clusters = {
        name: cluster
        for name, cluster in config["clusters"].items()
        if not is_others_host(name.rsplit("|", 1)[-1])
    }
    routes: JSON = {}
    emptied: set[str] = set()
    for name, route in config["routes"].items():
        if is_others_host(name):
            emptied.add(name)
            continue
        kept = {h: v for h, v in route["virtual_hosts"].items() if not is_others_host(h)}
        if len(kept) < len(route["virtual_hosts"]) and set(kept) <= CATCH_ALL_HOSTS:
            emptied.add(name)
            continue
        routes[name] = {**route, "virtual_hosts": kept}
    listeners = {
        name: listener
        for name, listener in config["listeners"].items()
        if not _leads_only_to(listener, emptied) and not _only_system_targets(listener)
    }
    return {"listeners": listeners, "routes": routes, "clusters": clusters}


def _only_system_targets(listener: Mapping[str, Any]) -> bool:
    targets = [t for chain in _all_chains(listener) for t in chain["to"]]
    hosts = [t.split(":", 1)[1].rsplit("|", 1)[-1] for t in targets if ":" in t]
    return bool(hosts) and len(hosts) == len(targets) and all(map(is_others_host, hosts))


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


# Each side's own names ------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?![\d.])")
_SERVICE_DOMAIN = re.compile(r"\.svc\.([a-z0-9-]+(?:\.[a-z0-9-]+)*?)(?=$|[:|/\]\\\"])")


@dataclass(frozen=True)
class Renames:
    """One side's names for what differs by nature (see the module's docstring).

    ``addresses`` maps a value the side filled in for a corpus placeholder back to the
    placeholder; ``internal`` are the cluster's pod and Service ranges.
    """

    addresses: Mapping[str, str] = field(default_factory=dict)
    internal: Sequence[str] = ()

    def apply(self, config: JSON) -> JSON:
        networks = [ipaddress.ip_network(cidr, strict=False) for cidr in self.internal]
        names = dict(self.addresses)
        for vip, service in _service_vips(config).items():
            if _inside(vip, networks):
                names.setdefault(vip, f"${{vip:{service}}}")

        def address(match: re.Match[str]) -> str:
            text = match[0]
            if text in names:
                return names[text]
            return "${internal}" if _inside(text.split("/")[0], networks) else text

        def rename(text: str) -> str:
            text = _IPV4.sub(address, text)
            return _SERVICE_DOMAIN.sub(f".svc.{CLUSTER_DOMAIN}", text)

        return _map_strings(config, rename)


def _service_vips(config: JSON) -> dict[str, str]:
    """Service VIP -> Service name, from the domains of the Services' virtual hosts."""
    out = {}
    for route in config["routes"].values():
        for name, host in route["virtual_hosts"].items():
            labels = name.rsplit(":", 1)[0].split(".")
            if len(labels) > 2 and labels[2] == "svc":
                for domain in host["domains"]:
                    if _IPV4.fullmatch(domain.rsplit(":", 1)[0]):
                        out[domain.rsplit(":", 1)[0]] = labels[0]
    return out


def _inside(address: str, networks: Sequence[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _map_strings(value: Any, rename: Any) -> Any:
    """``value`` with ``rename`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return rename(value)
    if isinstance(value, Mapping):
        return {rename(k): _map_strings(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, rename) for item in value]
    return value
