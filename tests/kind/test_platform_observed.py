"""The platform section observes the cluster: an existing cluster's platform is told
from its nodes; on Kubernetes the page's Minikube command runs as written and must
print the cluster's Service range; where it cannot run (the embedded mesh), the ranges
must be what a pod given them has in its interception rules."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from clusters import protocol
from clusters.fake import FakeCluster
from clusters.istio import recorded
from clusters.kube import existing
from clusters.kube.backend import ExistingOptions
from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.protocol import ClusterError, Injection, Waits
from fixtures.journal import Journal
from fixtures.page import find_units, shipped
from fixtures.page.refs import BlockRef, split_ref
from steps import pod as pod_steps
from steps.platform import look_up_ranges, runs_on
from steps.state import ScenarioState
from tests.kube_api_fake import FakeKubeApi
from tests.step_calls import call_step

ROOT = Path(__file__).resolve().parents[2]
NODES = json.loads((ROOT / "tests" / "golden" / "nodes.json").read_text())
PAGE = shipped(find_units(ROOT / "features")[0])
MINIKUBE_BLOCK = "minikube-docker-for-desktop-bare-metal.1"
SERVICE_RANGE = "198.18.128.0/20"  # the kit's kind cluster's
MINIKUBE = "Minikube, Docker for Desktop or bare metal"  # the page's heading


def block(ref: str) -> BlockRef:
    found = split_ref(f"x [block {ref}]")[1]
    assert found is not None
    return found


# Platform detection, on recorded node objects -----------------------------------------
@pytest.mark.parametrize("case", [k for k in NODES if not k.startswith("_")])
def test_the_platform_is_told_from_the_nodes(case: str) -> None:
    from clusters.kube.platform import detect_platform

    recorded = NODES[case]
    found = detect_platform(recorded["nodes"], api_server_pods=recorded["api_server_pods"])
    assert found.name == recorded["expected"], found
    assert found.evidence


def test_an_existing_cluster_names_its_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = [{"apiVersion": "v1", "kind": "Node", **node} for node in NODES["gke"]["nodes"]]
    monkeypatch.setattr(existing, "KubeApi", lambda *args: FakeKubeApi(nodes))
    options = ExistingOptions(worker="t", waits=Waits(5.0, 5.0, 5.0))
    with existing.start_existing(options) as cluster:
        facts = cluster.describe()
    assert facts["platform"] == "gke", facts
    assert "cloud.google.com/gke-nodepool=default-pool" in facts["platform_evidence"]


# The Minikube command on a Kubernetes cluster --------------------------------------------
class KindLike(FakeCluster):
    """The fake with a user's kubectl (a script printing what kubectl describe would)."""

    def __init__(self, bin_dir: Path, service: list[str]) -> None:
        super().__init__()
        self.bin_dir = bin_dir
        self.service = service

    def describe(self) -> Mapping[str, str]:
        return {**super().describe(), "backend": "kind", "platform": "kind"}

    def shell_env(self) -> Mapping[str, str]:
        return {"PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def service_ip_ranges(self) -> list[str]:
        return list(self.service)


def kubectl(tmp_path: Path, printed: str, code: int = 0) -> Path:
    """A kubectl whose ``describe pod kube-apiserver`` prints the kube-apiserver flags."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2 $3" = "describe pod kube-apiserver" ] || exit 2\n'
        "echo 'Name:         kube-apiserver-egress-control-plane'\n"
        "echo '    Command:'\n"
        "echo '      kube-apiserver'\n"
        f"echo '      --service-cluster-ip-range={printed}'\n"
        f"exit {code}\n"
    )
    script.chmod(0o755)
    return bin_dir


def minikube_scenario(cluster: object, state: ScenarioState | None = None) -> Journal:
    journal = Journal.for_scenario("test", None)
    fixtures = {
        "cluster": cluster,
        "journal": journal,
        "page": PAGE,
        "scenario_state": state or ScenarioState(),
        "exec_timeout": 20.0,
        "propagation_timeout": 5.0,
        "block": block(MINIKUBE_BLOCK),
    }
    call_step(runs_on, **fixtures, platform=MINIKUBE, ranges="10.96.0.0/12")
    call_step(look_up_ranges, **fixtures)
    return journal


def test_on_kind_the_pages_command_prints_the_service_range(tmp_path: Path) -> None:
    cluster = KindLike(kubectl(tmp_path, SERVICE_RANGE), [SERVICE_RANGE])
    assert isinstance(cluster, protocol.KubernetesCluster)
    journal = minikube_scenario(cluster)
    step = journal.record.steps[-1]
    assert step.executed is True
    assert f"--service-cluster-ip-range={SERVICE_RANGE}" in (step.stdout or "")


def test_on_kind_a_range_other_than_the_service_range_fails(tmp_path: Path) -> None:
    cluster = KindLike(kubectl(tmp_path, "10.96.0.0/12"), [SERVICE_RANGE])
    with pytest.raises(AssertionError, match=r"prints 10\.96\.0\.0/12, but .* 198\.18\.128"):
        minikube_scenario(cluster)


def test_on_kind_a_failing_kubectl_is_not_hidden_by_grep(tmp_path: Path) -> None:
    cluster = KindLike(kubectl(tmp_path, SERVICE_RANGE, code=1), [SERVICE_RANGE])
    with pytest.raises(AssertionError, match="exit code 1"):
        minikube_scenario(cluster)


# The cluster's Service range, read through the API ---------------------------------------
def kubeadm_config(service: str) -> dict:
    configuration = {"networking": {"podSubnet": "198.19.0.0/16", "serviceSubnet": service}}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": yaml.safe_dump(configuration)},
    }


def kubernetes_service(cluster_ip: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"clusterIP": cluster_ip},
    }


def api_server_pod(service: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "kube-apiserver-egress-control-plane",
            "namespace": "kube-system",
            "labels": {"component": "kube-apiserver", "tier": "control-plane"},
        },
        "spec": {
            "containers": [
                {
                    "name": "kube-apiserver",
                    "command": ["kube-apiserver", f"--service-cluster-ip-range={service}"],
                }
            ]
        },
    }


def kube(*objects: dict) -> KubeCluster:
    settings = KubeSettings(backend="kind", platform="kind", waits=Waits(5.0, 5.0, 5.0))
    return KubeCluster(FakeKubeApi(objects), settings)


def test_the_service_range_is_kubeadms_and_holds_the_kubernetes_service() -> None:
    cluster = kube(kubeadm_config(SERVICE_RANGE), kubernetes_service("198.18.128.1"))
    assert cluster.service_ip_ranges() == [SERVICE_RANGE]
    assert cluster.internal_ip_ranges() == ["198.19.0.0/16", SERVICE_RANGE]


def test_the_service_range_falls_back_to_the_api_servers_flag() -> None:
    cluster = kube(api_server_pod("10.96.0.0/12"), kubernetes_service("10.96.0.1"))
    assert cluster.service_ip_ranges() == ["10.96.0.0/12"]


def test_a_service_range_that_does_not_hold_the_kubernetes_service_is_refused() -> None:
    cluster = kube(kubeadm_config(SERVICE_RANGE), kubernetes_service("10.96.0.1"))
    with pytest.raises(ClusterError, match=r"10\.96\.0\.1 is outside"):
        cluster.service_ip_ranges()


# Where the command cannot run: the pod's interception rules ------------------------------
class NoApiServer(FakeCluster):
    """The embedded mesh's case: no kube-apiserver, ranges the backend chose; the rules
    a pod gets are ``rules`` when set (an istio-iptables that ignores the ranges)."""

    rules: str | None = None

    def describe(self) -> Mapping[str, str]:
        return {**super().describe(), "backend": "local", "platform": "local"}

    def interception_rules(self) -> str:
        return self.rules if self.rules is not None else super().interception_rules()


def recorded_rules(include: list[str] | None) -> str:
    """The nat table Istio's istio-iptables builds for a pod injected with ``include``."""
    workload = recorded.injected(Injection.AUTOMATIC, include)
    assert workload is not None
    return str(workload["nat"])


EVERYTHING = recorded_rules(None)


def test_without_an_api_server_the_ranges_are_the_rules_of_a_pod_given_them() -> None:
    cluster = NoApiServer()
    state = ScenarioState()
    journal = minikube_scenario(cluster, state)
    assert list(state.internal_ranges or ()) == cluster.internal_ip_ranges()
    step = journal.record.steps[-1]
    assert step.executed is False and (step.not_executed or "").startswith("platform:")
    assert "ISTIO_REDIRECT: 198.51.100.0/25, 198.51.100.128/25" in (step.observed or "")


def test_without_an_api_server_rules_that_ignore_the_ranges_fail() -> None:
    cluster = NoApiServer()
    cluster.rules = EVERYTHING
    with pytest.raises(AssertionError, match="redirect every destination"):
        minikube_scenario(cluster)


def test_intercepting_internal_ranges_is_read_from_the_rules() -> None:
    cluster = NoApiServer()
    cluster.deploy_source_pod(include_ip_ranges=cluster.internal_ip_ranges())
    cluster.rules = recorded_rules(cluster.internal_ip_ranges()).replace(
        "-A ISTIO_OUTPUT -d 198.51.100.128/25 -j ISTIO_REDIRECT\n", ""
    )
    journal = Journal.for_scenario("test", None)
    with pytest.raises(AssertionError, match=r"redirect 198\.51\.100\.0/25, not"):
        call_step(
            pod_steps.intercepts_internal,
            cluster=cluster,
            journal=journal,
            exec_timeout=5.0,
            propagation_timeout=5.0,
        )


# The rules' parser -----------------------------------------------------------------------
ISTIO_INIT_LOG = """\
2026-12-03T10:00:00.000000Z\tinfo\tRunning iptables-restore with the following input:
* nat
-N ISTIO_INBOUND
-N ISTIO_REDIRECT
-N ISTIO_IN_REDIRECT
-N ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A OUTPUT -p tcp -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -d 10.244.0.0/16 -j ISTIO_REDIRECT
-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT
-A ISTIO_OUTPUT -j RETURN
COMMIT
"""


def test_the_parser_reads_istio_inits_log() -> None:
    found = pod_steps.intercepted(ISTIO_INIT_LOG)
    assert found.has_chain and not found.everything
    assert found.ranges == ("10.244.0.0/16", "10.96.0.0/12")


def test_the_parser_reads_the_table_istio_iptables_loads() -> None:
    assert pod_steps.intercepted(EVERYTHING).everything
    assert pod_steps.intercepted(EVERYTHING).ranges == ()
    some = recorded_rules(["198.51.100.0/25", "198.51.100.128/25"])
    assert (
        pod_steps.intercepted(some).ranges == ("198.51.100.0/25", "198.51.100.128/25")
        and not pod_steps.intercepted(some).everything
    )


def test_the_parser_finds_no_chain_in_what_is_not_rules() -> None:
    found = pod_steps.intercepted("istio-iptables -p 15001 -i 10.0.0.0/8")
    assert not found.has_chain and not found.ranges and not found.everything
