"""The fidelity machinery (clusters/local/fidelity): the normaliser and diff on small
config dumps, the corpus as data, and one run of three cases through both planes."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
import yaml
from clusters.local.pilot.resources import parse_resources

from clusters.istio.kubectl_documents import load_documents
from clusters.local.fidelity.compare import compare_case, diff
from clusters.local.fidelity.corpus import CorpusError, load_case, load_corpus
from clusters.local.fidelity.normalise import normalise, without_system_services
from clusters.protocol import InvalidResource
from fixtures.page import manifests

TYPE = "type.googleapis.com/envoy."
HCM = "envoy.filters.network.http_connection_manager"
TCP = "envoy.filters.network.tcp_proxy"
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"


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


def small_dump() -> dict[str, Any]:
    """A sidecar with the page's two ServiceEntries, a 3 s timeout, and one system Service."""
    retry = {"retry_on": DEFAULT_RETRY_ON, "num_retries": 2}
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
                    {"cluster": {"name": "BlackHoleCluster", "type": "STATIC"}},
                    {"cluster": {"name": "inbound|80||", "type": "ORIGINAL_DST"}},
                    {
                        "cluster": {
                            "name": "outbound|15014||istiod.istio-system.svc.cluster.local",
                            "type": "EDS",
                        }
                    },
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
                    listener("198.51.100.140_443", 443, [tcp_chain("outbound|443||istiod")]),
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
                                    "domains": ["istiod.istio-system.svc.cluster.local"],
                                    "routes": [route("default", "outbound|15014||istiod")],
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
    assert config["clusters"]["BlackHoleCluster"]["type"] == "EDS|STATIC"
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


def test_system_services_are_dropped_with_what_only_they_produce() -> None:
    config = without_system_services(normalise(small_dump()))
    assert sorted(config["listeners"]) == ["0.0.0.0_443", "0.0.0.0_80"]
    assert sorted(config["routes"]) == ["80"]
    assert "outbound|15014||istiod.istio-system.svc.cluster.local" not in config["clusters"]


def test_diff_names_the_path_and_both_values() -> None:
    istiod = normalise(small_dump())
    model = copy.deepcopy(istiod)
    action = model["routes"]["80"]["virtual_hosts"]["httpbin.org:80"]["routes"][0]["action"]
    action["retry_policy"]["retriable_status_codes"] = [503]
    del model["listeners"]["0.0.0.0_443"]
    assert diff(istiod, model, "config") == [
        'config["listeners"]["0.0.0.0_443"]: only istiod has it: '
        '{"address":"0.0.0.0:443",'
        '"chains":[{"server_names":["www.google.com"],"to":["tcp:outbound|443||www.google.com"]}],'
        '"default_chain":{"to":["tcp:BlackHoleCluster"]},"listener_filters":[],'
        '"use_original_dst":false}',
        'config["routes"]["80"]["virtual_hosts"]["httpbin.org:80"]["routes"][0]["action"]'
        '["retry_policy"]["retriable_status_codes"]: only the model has [503]',
    ]


def test_compare_case_counts_refusals_and_recorded_probe_fields_only() -> None:
    probe = {"curl": "curl http://httpbin.org/", "record": ["http_code"], "http_code": "200"}
    step = {"refusal": None, "stage": None, "config": {}, "probes": [probe]}
    istiod = {"steps": [step]}
    model = {"steps": [{**step, "probes": [{**probe, "elapsed_s": 9.9}]}]}
    assert compare_case(istiod, model) == []  # elapsed_s is not recorded
    refused = {**step, "refusal": "no", "stage": "model: not implemented"}
    (difference,) = compare_case(istiod, {"steps": [refused]})
    assert difference["aspect"] == "refusal"


def test_corpus_loads_with_the_pages_manifests_and_enough_cases_beyond() -> None:
    cases = load_corpus()
    assert len({case.name for case in cases}) == len(cases)
    page = [case for case in cases if case.name.startswith("page-")]
    assert len(cases) - len(page) >= 25
    applied = [yaml.safe_load_all(s.apply) for case in page for s in case.steps if s.apply]
    documents = [document for stream in applied for document in stream]
    for manifest in (
        manifests.httpbin_service_entry(),
        manifests.google_service_entry(),
        manifests.httpbin_timeout_virtual_service(),
    ):
        assert load_documents(manifest)[0] in documents
    assert {case.mode.value for case in page} == {"ALLOW_ANY", "REGISTRY_ONLY"}


def test_corpus_file_mistakes_are_one_line(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nmode: REGISTRY_ONLY\nprobes: [{curl: wget http://x}]\n")
    with pytest.raises(CorpusError, match=r"bad.yaml.probes\[0\].curl: expected a command"):
        load_case(path)


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("vs-06-fault-abort", "spec.http[0].fault"),
        ("vs-08-header-match", "spec.http[0].match[0].headers"),
        ("vs-15-tcp-route", "spec.tcp"),
    ],
)
def test_the_model_refuses_what_it_does_not_implement(case: str, field: str) -> None:
    (loaded,) = load_corpus(names=[case])
    with pytest.raises(InvalidResource) as refusal:
        parse_resources(loaded.steps[0].apply or "")
    message = str(refusal.value)
    assert "\n" not in message
    assert f"{field} is not implemented by the local mesh's model control plane" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="the local mesh needs root")
def test_three_cases_through_both_control_planes() -> None:
    from clusters.local.fidelity.measure import measure

    names = ["page-02-registry-only", "page-03-httpbin-service-entry", "vs-06-fault-abort"]
    report = measure(load_corpus(names=names))
    results = {result["name"]: result for result in report["results"]}
    assert report["cases"] == 3
    page = results["page-03-httpbin-service-entry"]
    assert page["identical"], page["differences"]
    (probe, *_) = page["outcomes"]["model"]["steps"][0]["probes"]
    assert (probe["http_code"], probe["upstream_cluster"]) == ("200", "outbound|80||httpbin.org")
    fault = results["vs-06-fault-abort"]
    assert fault["aspects"][0] == "config" and "refusal" in fault["aspects"]
    assert fault["outcomes"]["model"]["steps"][0]["stage"] == "model: not implemented"
    assert fault["outcomes"]["istiod"]["steps"][0]["refusal"] is None
    assert report["summary"].startswith("model vs istiod: ")
