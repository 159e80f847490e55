"""A mode change on a Kubernetes cluster is in sync once the sidecar's listener shows it,
not when istiod's push counter alone says so."""

from __future__ import annotations

import json

from clusters.protocol import OutboundTrafficPolicy
from tests.kube_api_fake import FakeKubeApi
from tests.kube_api_fake import kube_cluster as kube


def test_a_mode_change_is_in_sync_once_the_sidecars_listener_shows_it() -> None:
    """istiod's counter can be ahead of the mode's own push (a push started just before
    the change took the number): the wait holds until virtualOutbound sends where the
    mode says, as the steps then check."""
    from clusters.istio import proxyconfig
    from clusters.kube.portforward import HttpAnswer

    stale_reads = {"left": 0}

    def lagging_dump(namespace: str, pod: str, port: int, path: str) -> HttpAnswer | None:
        if port == proxyconfig.ADMIN_PORT and stale_reads["left"] > 0:
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
            return HttpAnswer(200, json.dumps(dump))
        return None

    api = FakeKubeApi(http_handler=lagging_dump)
    cluster = kube(api)
    stale_reads["left"] = 3
    cluster.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    cluster.wait_for_proxy_config(5.0)
    assert stale_reads["left"] == 0  # it read the listener until it showed the mode
    dump = cluster.sidecar_config_dump(proxyconfig.LISTENERS)
    assert proxyconfig.unmatched_outbound_cluster(dump) == "BlackHoleCluster"
    cluster.close()
