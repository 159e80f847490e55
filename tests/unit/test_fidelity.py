"""The fidelity machinery (clusters/fidelity): the normaliser on small synthetic dumps and
on recorded ones from both sides, the diff and its grouping, the build check, the
placeholders and the known-differences file. No cluster runs here; the comparison
itself is tests/contract/test_fidelity_local_vs_kind.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from clusters.fidelity.addresses import AddressBook, placeholders_in, service_vip
from clusters.fidelity.builds import build_of, same_build
from clusters.fidelity.compare import ABSENT, Difference, compare_case, diff, distinct
from clusters.fidelity.known import Known, load_known, unknown
from clusters.fidelity.normalise import Renames, normalise, without_others_services
from clusters.protocol import ClusterError

TYPE = "type.googleapis.com/envoy."
HCM = "envoy.filters.network.http_connection_manager"
TCP = "envoy.filters.network.tcp_proxy"
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
RECORDED = Path(__file__).parents[1] / "golden" / "fidelity"
# What each side's recorded dump (tests/golden/fidelity) was taken with: its ranges.
RANGES = {
    "local": ["198.51.100.0/25", "198.51.100.128/25"],
    "kind": ["198.19.0.0/16", "198.18.128.0/20"],
}


def tcp_chain(cluster: str, **match: Any) -> dict[str, Any]:
    chain: dict[str, Any] = {
        "filters": [{"name": TCP, "typed_config": {"cluster": cluster, "stat_prefix": cluster}}]
    }
    if match:
        chain["filter_chain_match"] = match
    return chain


def http_chain(route: str) -> dict[str, Any]:
    return {
        "filter_chain_match": {
            "transport_protocol": "raw_buffer",
            "application_protocols": ["http/1.1", "h2c"],
        },
        "filters": [{"name": HCM, "typed_config": {"rds": {"route_config_name": route}}}],
    }


def listener(name: str, port: int, chains: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    address = name.rsplit("_", 1)[0] if "_" in name else "0.0.0.0"
    body = {
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": chains,
        **extra,
    }
    return {"name": name, "active_state": {"version_info": "1", "listener": body}}


def route(name: str, cluster: str, **action: Any) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"prefix": "/", "case_sensitive": True},
        "route": {"cluster": cluster, "timeout": "0s", **action},
        "decorator": {"operation": "ignored"},
    }


def static_cluster(name: str, address: str, port: int) -> dict[str, Any]:
    socket = {"address": {"socket_address": {"address": address, "port_value": port}}}
    return {
        "cluster": {
            "name": name,
            "type": "STATIC",
            "load_assignment": {"endpoints": [{"lb_endpoints": [{"endpoint": socket}]}]},
        }
    }


def small_dump(site: str = "203.0.113.10", vip: str = "198.51.100.140") -> dict[str, Any]:
    """A sidecar with the page's two ServiceEntries, a 3 s timeout, a STATIC endpoint at
    a site's address, and one system Service (istiod) at ``vip``."""
    retry = {"retry_on": DEFAULT_RETRY_ON, "num_retries": 2}
    istiod = "outbound|15014||istiod.istio-system.svc.cluster.local"
    return {
        "configs": [
            {"@type": TYPE + "admin.v3.BootstrapConfigDump", "bootstrap": {}},
            {
                "@type": TYPE + "admin.v3.ClustersConfigDump",
                "static_clusters": [{"cluster": {"name": "xds-grpc", "type": "STATIC"}}],
                "dynamic_active_clusters": [
                    {
                        "cluster": {
                            "name": "outbound|80||httpbin.org",
                            "type": "STRICT_DNS",
                            "lb_policy": "LEAST_REQUEST",
                            "connect_timeout": "10s",
                            "load_assignment": {
                                "endpoints": [
                                    {
                                        "lb_endpoints": [
                                            {
                                                "endpoint": {
                                                    "address": {
                                                        "socket_address": {
                                                            "address": "httpbin.org",
                                                            "port_value": 80,
                                                        }
                                                    }
                                                },
                                                "load_balancing_weight": 1,
                                            }
                                        ]
                                    }
                                ]
                            },
                        }
                    },
                    static_cluster("outbound|9000||static.example", site, 9000),
                    {"cluster": {"name": "BlackHoleCluster", "type": "STATIC"}},
                    {"cluster": {"name": "inbound|80||", "type": "ORIGINAL_DST"}},
                    {"cluster": {"name": istiod, "type": "EDS"}},
                ],
            },
            {
                "@type": TYPE + "admin.v3.ListenersConfigDump",
                "dynamic_listeners": [
                    listener(
                        "0.0.0.0_443",
                        443,
                        [
                            tcp_chain(
                                "outbound|443||www.google.com", server_names=["www.google.com"]
                            )
                        ],
                        default_filter_chain=tcp_chain("BlackHoleCluster"),
                    ),
                    listener(
                        "0.0.0.0_80",
                        80,
                        [http_chain("80")],
                        default_filter_chain=tcp_chain("BlackHoleCluster"),
                    ),
                    listener(
                        "0.0.0.0_15014",
                        15014,
                        [http_chain("15014")],
                        default_filter_chain=tcp_chain("BlackHoleCluster"),
                    ),
                    listener(
                        f"{vip}_443",
                        443,
                        [tcp_chain("outbound|443||istiod.istio-system.svc.cluster.local")],
                    ),
                    listener("virtualInbound", 15006, [tcp_chain("InboundPassthroughCluster")]),
                ],
            },
            {
                "@type": TYPE + "admin.v3.RoutesConfigDump",
                "dynamic_route_configs": [
                    {
                        "route_config": {
                            "name": "80",
                            "virtual_hosts": [
                                {
                                    "name": "httpbin.org:80",
                                    "domains": ["httpbin.org", "httpbin.org."],
                                    "routes": [
                                        route(
                                            "",
                                            "outbound|80||httpbin.org",
                                            timeout="3.000s",
                                            retry_policy=retry,
                                        )
                                    ],
                                },
                                {
                                    "name": "block_all",
                                    "domains": ["*"],
                                    "routes": [
                                        {
                                            "name": "block_all",
                                            "match": {"prefix": "/"},
                                            "direct_response": {"status": 502},
                                        }
                                    ],
                                },
                            ],
                        }
                    },
                    {
                        "route_config": {
                            "name": "15014",
                            "virtual_hosts": [
                                {
                                    "name": "istiod.istio-system.svc.cluster.local:15014",
                                    "domains": ["istiod.istio-system.svc.cluster.local", vip],
                                    "routes": [route("default", istiod)],
                                },
                                {"name": "block_all", "domains": ["*"], "routes": []},
                            ],
                        }
                    },
                    {"route_config": {"name": "8080", "virtual_hosts": []}},  # a drained one
                ],
            },
        ]
    }


def test_normaliser_keeps_what_routing_depends_on() -> None:
    config = normalise(small_dump())
    assert sorted(config["listeners"]) == [
        "0.0.0.0_15014",
        "0.0.0.0_443",
        "0.0.0.0_80",
        "198.51.100.140_443",
    ]
    assert config["listeners"]["0.0.0.0_443"]["chains"] == [
        {"server_names": ["www.google.com"], "to": ["tcp:outbound|443||www.google.com"]}
    ]
    assert config["listeners"]["0.0.0.0_80"]["chains"] == [
        {
            "transport_protocol": "raw_buffer",
            "application_protocols": ["h2c", "http/1.1"],
            "to": ["rds:80"],
        }
    ]
    assert config["listeners"]["0.0.0.0_80"]["default_chain"] == {"to": ["tcp:BlackHoleCluster"]}
    assert sorted(config["routes"]) == ["15014", "80"]  # "8080" is referenced by none
    (timeout_route,) = config["routes"]["80"]["virtual_hosts"]["httpbin.org:80"]["routes"]
    assert timeout_route == {
        "name": "",
        "match": {"prefix": "/"},
        "action": {
            "cluster": "outbound|80||httpbin.org",
            "timeout": "3s",
            "retry_policy": {
                "num_retries": 2,
                "retry_on": sorted(DEFAULT_RETRY_ON.split(",")),
                "retriable_status_codes": [],
            },
        },
    }
    assert config["routes"]["80"]["virtual_hosts"]["block_all"]["routes"][0]["action"] == {
        "direct_response": 502
    }
    assert config["clusters"]["outbound|80||httpbin.org"] == {
        "type": "STRICT_DNS",
        "lb_policy": "LEAST_REQUEST",
        "endpoints": ["httpbin.org:80"],
    }
    assert config["clusters"]["outbound|9000||static.example"]["endpoints"] == ["203.0.113.10:9000"]
    # an EDS cluster's endpoints are not in a dump without include_eds: none claimed
    eds = config["clusters"]["outbound|15014||istiod.istio-system.svc.cluster.local"]
    assert eds == {"type": "EDS", "lb_policy": "ROUND_ROBIN"}
    assert "inbound|80||" not in config["clusters"]
    assert "xds-grpc" not in config["clusters"]


def test_normaliser_ignores_the_order_istio_does_not_mean() -> None:
    dump = small_dump()
    shuffled = copy.deepcopy(dump)
    for section in shuffled["configs"]:
        for key in ("dynamic_listeners", "dynamic_active_clusters", "dynamic_route_configs"):
            section.get(key, []).reverse()
        for item in section.get("dynamic_route_configs", []):
            item["route_config"]["virtual_hosts"].reverse()
            for host in item["route_config"]["virtual_hosts"]:
                host["domains"].reverse()
    assert normalise(shuffled) == normalise(dump)


def test_the_platforms_services_are_dropped_with_what_only_they_produce() -> None:
    config = without_others_services(normalise(small_dump()))
    assert sorted(config["listeners"]) == ["0.0.0.0_443", "0.0.0.0_80"]
    assert sorted(config["routes"]) == ["80"]
    assert "outbound|15014||istiod.istio-system.svc.cluster.local" not in config["clusters"]


def test_another_namespaces_services_are_dropped_and_the_pods_namespaces_kept() -> None:
    """A Service of another namespace (the ``existing`` run sharing kind) is not the
    corpus'; the sleep Service of the pod's own namespace is."""
    dump = small_dump()
    clusters, _listeners, routes = (dump["configs"][i] for i in (1, 2, 3))
    for namespace in ("default", "egress-conformance-contract-a21a29"):
        host = f"sleep.{namespace}.svc.cluster.local"
        clusters["dynamic_active_clusters"].append(
            {"cluster": {"name": f"outbound|80||{host}", "type": "EDS"}}
        )
        routes["dynamic_route_configs"][0]["route_config"]["virtual_hosts"].append(
            {"name": f"{host}:80", "domains": [host], "routes": [route("", f"outbound|80||{host}")]}
        )
    config = without_others_services(normalise(dump))
    assert "outbound|80||sleep.default.svc.cluster.local" in config["clusters"]
    assert not [name for name in config["clusters"] if "egress-conformance" in name]
    hosts = config["routes"]["80"]["virtual_hosts"]
    assert "sleep.default.svc.cluster.local:80" in hosts
    assert not [name for name in hosts if "egress-conformance" in name]


def test_each_sides_addresses_are_named_as_the_corpus_names_them() -> None:
    local = Renames({"203.0.113.10": "${address:httpbin.org}"}, RANGES["local"])
    kind = Renames({"198.18.0.50": "${address:httpbin.org}"}, RANGES["kind"])
    on_local = normalise(small_dump(), local)
    on_kind = normalise(small_dump(site="198.18.0.50", vip="198.18.140.168"), kind)
    assert on_local == on_kind
    assert on_local["clusters"]["outbound|9000||static.example"]["endpoints"] == [
        "${address:httpbin.org}:9000"
    ]
    assert "${vip:istiod}_443" in on_local["listeners"]  # a VIP, named by its Service
    unnamed = normalise(small_dump(site="198.18.0.77"), kind)  # not filled in by a case
    assert unnamed["clusters"]["outbound|9000||static.example"]["endpoints"] == ["198.18.0.77:9000"]


def test_the_cluster_domain_is_written_cluster_local() -> None:
    text = json.dumps(small_dump()).replace("svc.cluster.local", "svc.corp.example")
    config = normalise(json.loads(text))
    assert "outbound|15014||istiod.istio-system.svc.cluster.local" in config["clusters"]


def test_recorded_dumps_of_both_sides_normalise_to_one_config() -> None:
    """Recorded from the local mesh and a kind cluster at the page's start (the same
    istiod build): they differ in every Service address and in kind's istiod revision
    tag, and are one config once normalised."""
    raw = {name: json.loads((RECORDED / f"{name}-sidecar.json").read_text()) for name in RANGES}
    assert normalise(raw["local"]) != normalise(raw["kind"])
    configs = {
        name: without_others_services(normalise(raw[name], Renames(internal=RANGES[name])))
        for name in RANGES
    }
    assert configs["local"] == configs["kind"]
    sleep = configs["kind"]["routes"]["80"]["virtual_hosts"]["sleep.default.svc.cluster.local:80"]
    assert "${vip:sleep}" in sleep["domains"]


def test_diff_names_the_path_and_both_values() -> None:
    local = normalise(small_dump())
    kind = copy.deepcopy(local)
    action = kind["routes"]["80"]["virtual_hosts"]["httpbin.org:80"]["routes"][0]["action"]
    action["retry_policy"]["retriable_status_codes"] = [503]
    del kind["listeners"]["0.0.0.0_443"]
    (gone, codes) = diff(local, kind)
    assert gone[0] == 'config["listeners"]["0.0.0.0_443"]' and gone[2] == ABSENT
    assert gone[1].startswith('{"address":"0.0.0.0:443",')
    assert codes == (
        'config["routes"]["80"]["virtual_hosts"]["httpbin.org:80"]["routes"][0]["action"]'
        '["retry_policy"]["retriable_status_codes"][only]',
        "[]",
        "[503]",
    )


def outcome(http_code: str = "200", refusal: str | None = None) -> dict[str, Any]:
    probe = {"curl": "curl http://httpbin.org/", "record": ["http_code"], "http_code": http_code}
    return {
        "steps": [
            {
                "refusal": refusal,
                "stage": "x" if refusal else None,
                "config": {},
                "probes": [{**probe, "elapsed_s": 1.0}],
            }
        ],
        "error": None,
    }


def test_compare_case_counts_refusals_and_recorded_probe_fields_only() -> None:
    same = outcome()
    same["steps"][0]["probes"][0]["elapsed_s"] = 9.9  # not recorded
    assert compare_case(outcome(), same) == []
    (refused,) = compare_case(outcome(), outcome(refusal="no"))
    assert refused.aspect == "refusal" and refused.second == "refused at x (no)"
    (traffic,) = compare_case(outcome(), outcome("503"))
    assert traffic.line() == 'step 1: `curl http://httpbin.org/` http_code: local "200"; kind "503"'


def test_distinct_differences_name_the_cases_they_occur_in() -> None:
    shared = Difference("step 1", "traffic", "`curl x` http_code", '"200"', '"503"')
    other = Difference("step 2", "config", 'config["clusters"]', "{}", ABSENT)
    grouped = distinct({"a": [shared, other], "b": [shared], "c": []})
    assert [(item["path"], item["cases"]) for item in grouped] == [
        ("`curl x` http_code", ["a", "b"]),
        ('config["clusters"]', ["a"]),
    ]


def test_the_build_is_the_commit_or_release_each_side_names() -> None:
    local = "1.31-dev (istio.io/istio v0.0.0-20260827124520-eed52ebb66ad)"
    assert build_of(local) == build_of("1.31-dev-eed52ebb66ad") == "eed52ebb66ad"
    assert build_of("1.24 (istio.io/istio v1.24.0)") == build_of("1.24.0") == "1.24.0"
    assert same_build({"local": {"istio": local}, "kind": {"istio": "1.31-dev-eed52ebb66ad"}})
    with pytest.raises(ClusterError, match=r"not comparing different Istio builds: local 1\.31"):
        same_build({"local": {"istio": local}, "kind": {"istio": "1.30-dev-0123456789ab"}})


def test_placeholders_are_filled_and_named_back() -> None:
    text = "endpoints: [{address: '${address:httpbin.org}'}]\naddresses: ['${cidr:x.org/28}']"
    assert placeholders_in(text) == [("address", "httpbin.org"), ("cidr", "x.org/28")]
    book = AddressBook({"${address:httpbin.org}": "198.18.0.50", "${cidr:x.org/28}": "1.2.3.0/28"})
    assert book.fill(text) == "endpoints: [{address: '198.18.0.50'}]\naddresses: ['1.2.3.0/28']"
    assert book.placeholders()["198.18.0.50"] == "${address:httpbin.org}"


def test_a_service_vip_is_read_from_its_virtual_host() -> None:
    routes = {
        "configs": [
            {
                "route_config": {
                    "virtual_hosts": [
                        {
                            "name": "sleep.default.svc.cluster.local:80",
                            "domains": ["sleep", "10.96.4.2"],
                        }
                    ]
                }
            }
        ]
    }
    assert service_vip(routes, "sleep") == "10.96.4.2"
    with pytest.raises(ClusterError, match="no VIP for the Service httpbin"):
        service_vip(routes, "httpbin")


def test_known_differences_need_a_reason_and_cover_by_case_and_path(tmp_path: Path) -> None:
    entries = load_known()
    assert all(entry.reason.strip() for entry in entries)
    known = [Known(("a",), "traffic", "`curl *` http_code", "why")]
    covered = Difference("step 1", "traffic", "`curl x` http_code", "1", "2")
    assert unknown({"a": [covered], "b": [covered]}, known) == {"b": [covered]}
    by_value = [Known(("a",), "traffic", "*", "why", first="1", second="3")]
    assert unknown({"a": [covered]}, by_value) == {"a": [covered]}  # kind said 2, not 3
    bad = tmp_path / "known.yaml"
    bad.write_text("- {cases: [a], aspect: traffic, path: x}\n")
    with pytest.raises(ValueError, match=r"known.yaml\[0\]: expected the fields"):
        load_known(bad)
