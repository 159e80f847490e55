"""istiod's /debug/syncz on a Kubernetes cluster: one kept port-forward for a run's reads,
exec only where the API server refuses the forward."""

from __future__ import annotations

from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.protocol import OutboundTrafficPolicy, Waits
from fixtures.page.manifests import httpbin_service_entry
from tests.kube_api_fake import FakeKubeApi

SYNCZ_EXEC = ("pilot-discovery", "request", "GET", "/debug/syncz")


def kube(api: FakeKubeApi) -> KubeCluster:
    cluster = KubeCluster(
        api, KubeSettings(backend="kind", platform="kind", waits=Waits(5.0, 5.0, 5.0))
    )
    cluster.reset()
    return cluster


def _changes(cluster: KubeCluster) -> None:
    cluster.apply(httpbin_service_entry())
    cluster.wait_for_proxy_config(5.0)
    cluster.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    cluster.wait_for_proxy_config(5.0)
    cluster.reset()


def test_every_read_of_a_run_goes_over_one_forward() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    _changes(cluster)
    assert len(api.forwards) == 1
    assert len(api.forwards[0].requests) >= 4
    assert set(api.forwards[0].requests) == {"/debug/syncz"}
    assert [argv for _pod, argv in api.execs if argv == SYNCZ_EXEC] == []
    cluster.close()
    assert not api.forwards[0].connected  # closed with the cluster


def test_a_refused_forward_reads_by_exec_from_then_on() -> None:
    api = FakeKubeApi(
        forward_refused='pods "istiod-1" is forbidden: cannot create pods/portforward'
    )
    cluster = kube(api)
    _changes(cluster)
    assert api.forwards == []
    assert cluster.istiod_debug.refused is not None and "forbidden" in cluster.istiod_debug.refused
    assert len([argv for _pod, argv in api.execs if argv == SYNCZ_EXEC]) >= 4
    cluster.close()


def test_a_forward_that_went_away_is_opened_again() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    api.forwards[0].close()  # the API server ended the stream (istiod's pod restarted, say)
    _changes(cluster)
    assert len(api.forwards) == 2
    assert api.forwards[1].requests
    cluster.close()


def test_a_replaced_istiod_is_reached_by_a_new_forward() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    pod = api.get("v1", "Pod", "istiod-1", "istio-system")
    assert pod is not None
    pod["metadata"]["name"] = "istiod-2"
    api.apply([pod], "istio-system")
    cluster.install = type(cluster.install)(
        cluster.install.version, cluster.install.namespace, "istiod-2"
    )
    _changes(cluster)
    assert len(api.forwards) == 2
    cluster.close()
