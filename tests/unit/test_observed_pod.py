"""The pod steps observe the cluster: "no pod is labelled" asks it (an API server that
cannot answer fails the step), and SOURCE_POD is what the page's label query gives,
checked against the pod the steps use and, on Kubernetes, the pod the exec reaches."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from clusters.fake import FakeCluster
from clusters.protocol import ClusterError, ExecResult, PodStatus
from fixtures.journal import Journal
from steps.pod import no_pod_labelled, set_source_pod, source_pod_names
from steps.state import ScenarioState
from tests.kube_api_fake import FakeKubeApi
from tests.kube_api_fake import kube_cluster as kube
from tests.step_calls import call_step

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


def _source_pod(cluster: object, state: ScenarioState) -> None:
    record = journal()
    fixtures = {"cluster": cluster, "journal": record, "page": None, "scenario_state": state}
    call_step(set_source_pod, **fixtures, label="app=sleep")
    call_step(source_pod_names, **fixtures, exec_timeout=10.0, first="sleep", second="istio-proxy")


def test_source_pod_is_the_page_query_and_it_names_one_pod() -> None:
    cluster = FakeCluster()
    cluster.other_pods = {"sleep-5d4c8b7f9-old01": {"app": "sleep"}}  # a second sleep pod
    state = ScenarioState()
    with pytest.raises(AssertionError, match="2 pods have the label"):
        _source_pod(cluster, state)


def test_source_pod_on_a_single_pod_passes() -> None:
    cluster = FakeCluster()
    state = ScenarioState()
    _source_pod(cluster, state)
    assert state.source_pod_name == cluster.source_pod().name


def test_source_pod_is_the_pod_the_exec_reaches_on_kubernetes() -> None:
    def elsewhere(namespace: str, pod: str, container: str, argv: Sequence[str]):
        if tuple(argv) == ("hostname",):
            return ExecResult(tuple(argv), 0, "sleep-5d4c8b7f9-other\n", "", 0.01)
        return None

    cluster = kube(FakeKubeApi(exec_handler=elsewhere))
    with pytest.raises(AssertionError, match="exec reaches sleep-5d4c8b7f9-other"):
        _source_pod(cluster, ScenarioState())


def test_source_pod_on_kubernetes_passes_when_exec_reaches_it() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    _source_pod(cluster, ScenarioState())
    assert (cluster.source_pod().name, ("hostname",)) in api.execs


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
