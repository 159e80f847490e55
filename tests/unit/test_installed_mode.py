"""The mesh's mode as installed is observed on a sidecar (where its virtualOutbound
listener sends an unknown destination) before the suite first changes the mode; a
mesh config that names no mode is not read as ALLOW_ANY."""

from __future__ import annotations

import pytest
import yaml

from clusters.fake import FakeCluster
from clusters.istio import proxyconfig
from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.kube.portforward import HttpAnswer
from clusters.protocol import ClusterError, OutboundTrafficPolicy, Waits
from fixtures.journal import Journal
from steps.config import installed_mode_is
from tests.kube_api_fake import FakeKubeApi
from tests.step_calls import call_step

ALLOW_ANY, REGISTRY_ONLY = OutboundTrafficPolicy.ALLOW_ANY, OutboundTrafficPolicy.REGISTRY_ONLY


def kube(api: FakeKubeApi) -> KubeCluster:
    settings = KubeSettings(backend="kind", platform="kind", waits=Waits(5.0, 5.0, 5.0))
    return KubeCluster(api, settings)


def check(cluster: object, mode: str) -> None:
    journal = Journal.for_scenario("test", None)
    call_step(installed_mode_is, cluster=cluster, journal=journal, page=None, mode=mode)


def test_an_unset_mode_is_what_the_sidecar_ran_not_istios_default() -> None:
    # The istio ConfigMap names no mode, yet istiod runs REGISTRY_ONLY (a revision's or
    # an operator's mesh config): the page's "ALLOW_ANY by default" does not hold here.
    cluster = kube(FakeKubeApi(unset_mode_runs=REGISTRY_ONLY))
    cluster.reset()
    with pytest.raises(AssertionError, match="installed with REGISTRY_ONLY, not ALLOW_ANY"):
        check(cluster, "ALLOW_ANY")
    check(cluster, "REGISTRY_ONLY")
    facts = cluster.describe()
    assert "BlackHoleCluster" in facts["installed_outbound_traffic_policy_seen"]
    assert facts["mesh_config_outbound_traffic_policy"] == "unset"


def test_the_installed_mode_is_seen_before_reset_changes_it() -> None:
    api = FakeKubeApi(mesh={"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}})
    cluster = kube(api)
    cluster.reset()  # the page's start: ALLOW_ANY
    assert api.mode_in_effect() is ALLOW_ANY
    assert cluster.describe()["installed_outbound_traffic_policy"] == "REGISTRY_ONLY"


def test_a_mode_step_before_any_reset_is_seen_after_the_installed_mode() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    cluster.set_outbound_traffic_policy(REGISTRY_ONLY)
    assert api.mode_in_effect() is REGISTRY_ONLY
    check(cluster, "ALLOW_ANY")


def test_reset_reaches_allow_any_where_an_unset_mode_runs_registry_only() -> None:
    api = FakeKubeApi(unset_mode_runs=REGISTRY_ONLY)
    cluster = kube(api)
    cluster.reset()
    assert api.mode_in_effect() is ALLOW_ANY
    assert cluster.outbound_traffic_policy() is ALLOW_ANY
    cluster.close()  # the ConfigMap as found: no mode
    mesh = yaml.safe_load(api.get("v1", "ConfigMap", "istio", "istio-system")["data"]["mesh"])
    assert "outboundTrafficPolicy" not in (mesh or {})
    assert api.mode_in_effect() is REGISTRY_ONLY


def test_a_sidecar_that_cannot_be_read_is_reported_not_defaulted() -> None:
    readable = False

    def admin(namespace: str, pod: str, port: int, path: str) -> HttpAnswer | None:
        if port == proxyconfig.ADMIN_PORT and not readable:
            raise ClusterError(f"GET :{port}{path} in pod {pod}: connect: connection refused")
        return None

    cluster = kube(FakeKubeApi(http_handler=admin))
    cluster.reset()  # the first change: what was seen before it, or that nothing was
    readable = True
    mode, seen = cluster.installed_mode()
    assert mode == "unknown" and "connection refused" in seen
    with pytest.raises(AssertionError, match="installed with unknown"):
        check(cluster, "ALLOW_ANY")


def test_the_fake_reports_what_its_sidecar_ran() -> None:
    facts = FakeCluster(installed_mode=REGISTRY_ONLY).describe()
    assert facts["installed_outbound_traffic_policy"] == "REGISTRY_ONLY"
