"""istiod's /debug/syncz on a Kubernetes cluster: one kept port-forward for a run's reads,
exec only where the API server refuses the forward."""

from __future__ import annotations

import json
from collections.abc import Sequence

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


def test_a_mode_change_is_in_sync_once_the_sidecars_listener_shows_it() -> None:
    """istiod's counter can be ahead of the mode's own push (a push started just before
    the change took the number): the wait holds until virtualOutbound sends where the
    mode says, as the steps then check."""
    from clusters.istio import proxyconfig
    from clusters.protocol import ExecResult

    stale_reads = {"left": 0}

    def lagging_dump(namespace: str, pod: str, container: str, argv: Sequence[str]):
        if argv[:3] == ("pilot-agent", "request", "GET") and stale_reads["left"] > 0:
            stale_reads["left"] -= 1
            chain = {
                "filters": [
                    {
                        "name": proxyconfig.TCP_PROXY,
                        "typed_config": {
                            "cluster": proxyconfig.CLUSTER_OF_MODE[OutboundTrafficPolicy.ALLOW_ANY]
                        },
                    }
                ]
            }
            listener = {"name": proxyconfig.VIRTUAL_OUTBOUND, "filter_chains": [chain]}
            dump = {"configs": [{"active_state": {"listener": listener}}]}
            return ExecResult(tuple(argv), 0, json.dumps(dump), "", 0.01)
        return None

    api = FakeKubeApi(exec_handler=lagging_dump)
    cluster = kube(api)
    stale_reads["left"] = 3
    cluster.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    cluster.wait_for_proxy_config(5.0)
    assert stale_reads["left"] == 0  # it read the listener until it showed the mode
    dump = cluster.sidecar_config_dump(proxyconfig.LISTENERS)
    assert proxyconfig.unmatched_outbound_cluster(dump) == "BlackHoleCluster"
    cluster.close()
