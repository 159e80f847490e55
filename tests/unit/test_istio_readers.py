"""The readers of cluster objects and proxy config that the page's checks rely on:
each must tell the cases apart, or a check built on it could not fail."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from clusters.istio import drift, injection, proxyconfig, syncz
from clusters.protocol import ClusterError, Injection, OutboundTrafficPolicy

ISTIO_INIT = {"name": "istio-init", "args": ["istio-iptables", "-p", "15001", "-i", "*"]}
STATUS = {"sidecar.istio.io/status": json.dumps({"containers": ["istio-proxy"]})}


def pod(containers: list[str], annotations: dict[str, str] | None = None, **spec: Any) -> dict:
    return {
        "metadata": {"name": "sleep-1", "annotations": annotations or {}},
        "spec": {"containers": [{"name": c} for c in containers], **spec},
    }


def deployment(containers: list[str]) -> dict:
    return {"spec": {"template": pod(containers)}}


def test_the_sample_is_istios_sleep_deployment() -> None:
    sample = injection.sleep_deployment()
    assert sample["kind"] == "Deployment" and sample["metadata"]["name"] == "sleep"
    assert injection.container_names(injection.template(sample)) == ("sleep",)


@pytest.mark.parametrize(
    ("stored", "admitted", "expected"),
    [
        (["sleep", "istio-proxy"], pod(["sleep", "istio-proxy"], STATUS), Injection.MANUAL),
        (["sleep"], pod(["sleep", "istio-proxy"], STATUS), Injection.AUTOMATIC),
        (["sleep"], pod(["sleep"]), None),
        # a sidecar container nobody's injection accounts for is not called injected
        (["sleep"], pod(["sleep", "istio-proxy"]), None),
    ],
)
def test_injection_is_told_from_the_objects(
    stored: list[str], admitted: dict, expected: Injection | None
) -> None:
    assert injection.injected_by(deployment(stored), admitted) is expected


def test_a_native_sidecar_counts_as_a_container() -> None:
    native = pod(
        ["sleep"], STATUS, initContainers=[{"name": "istio-proxy", "restartPolicy": "Always"}]
    )
    assert injection.container_names(native) == ("istio-proxy", "sleep")
    assert injection.injected_by(deployment(["sleep"]), native) is Injection.AUTOMATIC


@pytest.mark.parametrize(
    ("value", "expected"),
    [("*", None), ("198.51.100.0/25,198.51.100.128/25", ("198.51.100.0/25", "198.51.100.128/25"))],
)
def test_include_ranges_are_istio_inits_argument(value: str, expected: object) -> None:
    init = copy.deepcopy(ISTIO_INIT)
    init["args"][-1] = value
    assert injection.include_ip_ranges(pod(["sleep"], initContainers=[init])) == expected
    assert injection.include_ip_ranges(pod(["sleep"])) == ()  # no istio-init, nothing redirected


def dump(*chains: dict, name: str = "virtualOutbound") -> dict:
    listener = {"name": name, "filter_chains": list(chains)}
    return {"configs": [{"active_state": {"listener": listener}}]}


def tcp_proxy(cluster: str, **match: Any) -> dict:
    chain: dict[str, Any] = {
        "filters": [
            {"name": "envoy.filters.network.tcp_proxy", "typed_config": {"cluster": cluster}}
        ]
    }
    if match:
        chain["filter_chain_match"] = match
    return chain


@pytest.mark.parametrize("mode", list(OutboundTrafficPolicy))
def test_the_mode_in_effect_is_the_catch_all_chains_cluster(mode: OutboundTrafficPolicy) -> None:
    # istiod's listener: a matched chain to BlackHoleCluster (port 15001 itself) comes first
    config = dump(
        tcp_proxy("BlackHoleCluster", destination_port=15001),
        tcp_proxy(proxyconfig.CLUSTER_OF_MODE[mode]),
    )
    assert proxyconfig.mode_in_effect(config) is mode


def test_no_virtual_outbound_means_no_mode() -> None:
    assert proxyconfig.mode_in_effect(dump(tcp_proxy("PassthroughCluster"), name="other")) is None
    assert proxyconfig.mode_in_effect({"configs": []}) is None


@pytest.mark.parametrize(
    ("istio", "declared"),
    [
        ("1.31.0", {"mixer-logs", "configmap-mode-line", "helm-template-x"}),
        (
            "1.31-dev (istio.io/istio v0.0.0-20260827124520-eed52ebb66ad)",
            {"mixer-logs", "configmap-mode-line", "helm-template-x"},
        ),
        ("1.4.6", {"configmap-mode-line"}),
        ("1.7.0", {"configmap-mode-line", "helm-template-x"}),
        ("1.2.10", set()),
        (None, {"mixer-logs", "configmap-mode-line", "helm-template-x"}),  # a current Istio
    ],
)
def test_the_version_table_declares_what_cannot_be_observed(
    istio: str | None, declared: set[str]
) -> None:
    facts = {"istio": istio} if istio else {}
    assert {name for name, record in drift.DRIFTS.items() if drift.declared(record, facts)} == (
        declared
    )


def test_an_unknown_drift_record_fails_loudly() -> None:
    with pytest.raises(ValueError, match="unknown drift record 'mixer'"):
        drift.known_drift("mixer")


@pytest.mark.parametrize(
    ("name", "command", "today"),
    [
        (
            "configmap-mode-line",
            "kubectl get configmap istio -n istio-system -o yaml | sed 's/mode: REGISTRY_ONLY/"
            "mode: ALLOW_ANY/g' | kubectl replace -n istio-system -f -",
            "istioctl install <the flags you used to install Istio> --set "
            "meshConfig.outboundTrafficPolicy.mode=ALLOW_ANY",
        ),
        (
            "mixer-logs",
            "kubectl -n istio-system logs -l istio-mixer-type=telemetry -c mixer | grep "
            "'www.google.com'",
            "kubectl logs $SOURCE_POD -c istio-proxy | grep 'www.google.com'",
        ),
        (
            "helm-template-x",
            "helm template install/kubernetes/helm/istio <the flags you used to install Istio> "
            "-x templates/sidecar-injector-configmap.yaml | kubectl apply -f -",
            "istioctl install <the flags you used to install Istio>",
        ),
        (
            "kubectl-exec-without-dashes",
            "kubectl exec -it $SOURCE_POD -c sleep sh",
            "kubectl exec -it $SOURCE_POD -c sleep -- sh",
        ),
        ("kubectl-exec-without-dashes", "kubectl exec -it $SOURCE_POD -c sleep -- sh", None),
    ],
)
def test_an_outdated_command_reads_as_today(name: str, command: str, today: str | None) -> None:
    assert drift.known_drift(name).replace(command) == today


CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"


def _syncz_entry(cluster_push: int, listener_push: int, acked: bool = True) -> dict[str, Any]:
    """istiod's /debug/syncz entry: per type, the nonce sent (version + UUID) and ACKed."""
    uuid = "0123456789abcdef0123456789abcdef0123"
    resources = {}
    for type_url, push in ((CLUSTER, cluster_push), (LISTENER, listener_push)):
        sent = f"2026-11-29T23:00:00Z/{push}{uuid}"
        resources[type_url] = {"sent": sent, "acked": sent if acked else ""}
    return {"proxy": "sleep-1.default", "resources": resources}


def test_syncz_says_what_keeps_a_proxy_behind() -> None:
    entry = _syncz_entry(cluster_push=7, listener_push=6)
    assert syncz.proxy_status([{"proxy": "other.default"}, entry], "sleep-1", "default") is entry
    assert syncz.proxy_status([entry], "sleep-1", "other") is None
    assert syncz.sync_lag(None, 7) == ["the proxy to connect to istiod"]
    assert syncz.sync_lag(entry, 7) == ["Listener push 7"]  # sent, not yet from push 7
    assert syncz.sync_lag(entry, 6) == []
    assert syncz.newest_push(entry) == 7
    unacked = _syncz_entry(7, 7, acked=False)
    assert syncz.unacked(unacked) == ["Cluster ACK", "Listener ACK"]
    assert syncz.behind(unacked, 7) == []
    entry["resources"][CLUSTER]["lastError"] = "bad"
    with pytest.raises(ClusterError, match="rejected istiod's Cluster push: bad"):
        syncz.sync_lag(entry, 6)
