"""The pod steps observe the cluster: "no pod is labelled" asks it (an API server that
cannot answer fails the step)."""

from __future__ import annotations

import pytest

from clusters.backends import Waits
from clusters.fake import FakeCluster
from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.protocol import ClusterError, PodStatus
from fixtures.journal import Journal
from steps.pod import no_pod_labelled
from tests.kube_api_fake import FakeKubeApi

UNREACHABLE = "the API server does not answer: connection refused"


class Unreachable(FakeCluster):
    """A cluster whose API server stops answering (``answering = False``)."""

    answering = True

    def source_pod(self) -> PodStatus:
        if not self.answering:
            raise ClusterError(UNREACHABLE)
        return super().source_pod()

    def pods_labelled(self, selector: str) -> list[str]:
        if not self.answering:
            raise ClusterError(UNREACHABLE)
        return super().pods_labelled(selector)


def journal() -> Journal:
    return Journal.for_scenario("test", None)


def test_no_pod_labelled_fails_when_the_cluster_cannot_be_asked() -> None:
    cluster = Unreachable()
    cluster.delete_source_pod()
    cluster.answering = False
    with pytest.raises(ClusterError, match="does not answer"):
        no_pod_labelled(cluster, journal(), "app=sleep")


def test_no_pod_labelled_sees_a_pod_the_delete_left_running() -> None:
    cluster = FakeCluster()
    assert cluster.delete_source_pod()
    cluster.other_pods = {"sleep-5d4c8b7f9-old01": {"app": "sleep"}}  # still terminating
    with pytest.raises(AssertionError, match="sleep-5d4c8b7f9-old01 still labelled app=sleep"):
        no_pod_labelled(cluster, journal(), "app=sleep")


def test_no_pod_labelled_passes_when_the_cluster_lists_none() -> None:
    cluster = FakeCluster()
    cluster.other_pods = {"httpbin-1": {"app": "httpbin"}}
    cluster.delete_source_pod()
    no_pod_labelled(cluster, journal(), "app=sleep")


def kube(api: FakeKubeApi) -> KubeCluster:
    cluster = KubeCluster(
        api, KubeSettings(backend="kind", platform="kind", waits=Waits(5.0, 5.0, 5.0))
    )
    cluster.reset()
    return cluster


def test_kube_lists_terminating_pods_as_labelled() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    pod = cluster.source_pod().name
    stored = api.objects[("Pod", "default", pod)]
    stored["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert cluster.pods_labelled("app=sleep") == [pod]  # kubectl get pod lists it too
    with pytest.raises(ClusterError, match="no pod matches"):
        cluster.source_pod()  # the suite uses only a pod that is not on its way out


def test_fake_label_query_follows_the_selector() -> None:
    cluster = FakeCluster()
    name = cluster.source_pod().name
    assert cluster.pods_labelled("app=sleep") == [name]
    assert cluster.pods_labelled("app=sleep,security.istio.io/tlsMode=istio") == [name]
    assert cluster.pods_labelled("app!=sleep") == []
    assert cluster.pods_labelled("!app") == []
