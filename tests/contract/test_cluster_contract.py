"""The Cluster protocol, stated once as tests, run on every registered backend.

Each test is a promise a backend makes to the steps (clusters/protocol.py says the same
in words). The backends are the registry's (clusters/backends.py): a new backend is one
package and one registry line, and these tests run on it. Which ones run here, and on
which clusters, is conftest.py's ``started_cluster``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from clusters import backends
from clusters.istio import proxyconfig, recorded
from clusters.protocol import (
    Cluster,
    ClusterError,
    Injection,
    InvalidResource,
    OutboundTrafficPolicy,
    sidecar_log_before_barrier,
)

EXEC_TIMEOUT = 60.0
PROPAGATION = 120.0


@pytest.fixture(scope="module", params=backends.names())
def cluster(request: pytest.FixtureRequest, started_cluster: Callable[[str], Cluster]) -> Cluster:
    return started_cluster(request.param)


@pytest.fixture(autouse=True)
def page_start(cluster: Cluster) -> Iterator[None]:
    cluster.reset()
    yield


SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
spec:
  hosts: [{host}]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: DNS
  location: MESH_EXTERNAL
"""
# A ServiceEntry Istio refuses (resolution DSN), as recorded: the fake knows no other.
BAD_SE = recorded.manifest("resolution-enum")


def test_describe_names_the_backend_istio_and_ranges(cluster: Cluster) -> None:
    facts = cluster.describe()
    for key in ("backend", "platform", "istio", "internal_ip_ranges"):
        assert facts.get(key), f"describe() has no {key!r}: {dict(facts)}"
    assert facts["backend"] == cluster.name
    assert facts["internal_ip_ranges"].split(",") == cluster.internal_ip_ranges()


def test_apply_returns_what_it_applied_and_resources_lists_it(cluster: Cluster) -> None:
    refs = cluster.apply(
        SE.format(name="b", host="b.example") + "---\n" + SE.format(name="a", host="a.example")
    )
    assert [(r.kind, r.name) for r in refs] == [("ServiceEntry", "b"), ("ServiceEntry", "a")]
    assert cluster.resources("ServiceEntry") == ["a", "b"]
    assert cluster.resources("se") == ["a", "b"]  # kubectl's names for the kind
    again = cluster.apply(SE.format(name="a", host="a.example"))  # apply is idempotent
    assert [r.name for r in again] == ["a"] and cluster.resources("serviceentries") == ["a", "b"]


def test_a_stream_with_an_invalid_document_applies_nothing(cluster: Cluster) -> None:
    with pytest.raises(InvalidResource, match="resolution"):
        cluster.apply(SE.format(name="good", host="good.example") + "---\n" + BAD_SE)
    assert cluster.resources("ServiceEntry") == []


def test_delete_says_whether_there_was_something(cluster: Cluster) -> None:
    cluster.apply(SE.format(name="gone", host="gone.example"))
    assert cluster.delete("serviceentry", "gone") is True
    assert cluster.resources("ServiceEntry") == []
    with pytest.raises(ClusterError, match='"gone" not found'):
        cluster.delete("serviceentry", "gone")
    assert cluster.delete("se", "gone", ignore_not_found=True) is False


@pytest.mark.parametrize("mode", list(OutboundTrafficPolicy))
def test_the_mode_is_set_and_the_sidecar_enforces_it(
    cluster: Cluster, mode: OutboundTrafficPolicy
) -> None:
    cluster.set_outbound_traffic_policy(mode)
    cluster.wait_for_proxy_config(PROPAGATION)
    assert cluster.outbound_traffic_policy() is mode
    assert proxyconfig.mode_in_effect(cluster.sidecar_config_dump(proxyconfig.LISTENERS)) is mode


@pytest.mark.parametrize("injection", list(Injection))
def test_the_pod_shows_how_its_sidecar_was_injected(cluster: Cluster, injection: Injection) -> None:
    pod = cluster.deploy_source_pod(injection=injection)
    assert pod == cluster.source_pod()
    assert pod.ready and pod.has_sidecar and pod.injection is injection
    assert pod.labels.get("app") == "sleep"
    assert pod.include_ip_ranges is None  # every destination intercepted


def test_include_ranges_are_read_back_from_the_pod(cluster: Cluster) -> None:
    ranges = cluster.internal_ip_ranges()
    pod = cluster.deploy_source_pod(include_ip_ranges=ranges)
    assert pod.include_ip_ranges == tuple(ranges)
    cluster.reset()
    assert cluster.source_pod().include_ip_ranges is None  # reset brings full interception


def test_exec_returns_the_commands_exit_code(cluster: Cluster) -> None:
    started = time.perf_counter()
    result = cluster.exec_in_source_pod(["sh", "-c", "exit 3"], EXEC_TIMEOUT)
    wall = time.perf_counter() - started
    assert result.exit_code == 3 and result.argv == ("sh", "-c", "exit 3")
    assert 0 < result.elapsed <= wall  # the command's own time, within the call's


def test_a_command_the_pod_lacks_is_the_runtimes_refusal(cluster: Cluster) -> None:
    """As kubectl exec on kind answers: the command never ran, exit 1, and the API
    server's one line (containerd's and runc's words), not a shell's exit 127."""
    result = cluster.exec_in_source_pod(["nosuchcmd"], EXEC_TIMEOUT)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: Internal error occurred: Internal error occurred:")
    assert result.stderr.rstrip().endswith(
        'exec: "nosuchcmd": executable file not found in $PATH'
    ), result.stderr


def test_the_log_after_a_cursor_has_only_newer_lines(cluster: Cluster) -> None:
    cluster.exec_in_source_pod(
        ["curl", "-sS", "-o", "/dev/null", "http://httpbin.org/status/200"], EXEC_TIMEOUT
    )
    # The proxy flushes its log periodically (100 ms here, longer under load): a barrier
    # first, so the older request's line is in the log before the mark, not after it.
    cluster.sidecar_log_barrier(PROPAGATION)
    cursor = cluster.sidecar_log_cursor()
    cluster.exec_in_source_pod(
        ["curl", "-sS", "-o", "/dev/null", "http://httpbin.org/headers"], EXEC_TIMEOUT
    )
    lines, _ = sidecar_log_before_barrier(cluster, cursor, PROPAGATION)
    assert any("/headers" in line for line in lines), lines
    assert not any("/status/200" in line for line in lines), lines


def test_reset_returns_to_the_pages_starting_point(cluster: Cluster) -> None:
    cluster.apply(SE.format(name="left", host="left.example"))
    cluster.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    cluster.deploy_source_pod(injection=Injection.MANUAL)
    cluster.reset()
    assert cluster.resources("ServiceEntry") == []
    assert cluster.outbound_traffic_policy() is OutboundTrafficPolicy.ALLOW_ANY
    pod = cluster.source_pod()
    assert pod.injection is Injection.AUTOMATIC and pod.include_ip_ranges is None


def test_a_deleted_pod_is_gone_until_reset(cluster: Cluster) -> None:
    name = cluster.source_pod().name
    assert cluster.pods_labelled("app=sleep") == [name]
    assert cluster.pods_labelled("app=sleep,app!=sleep") == []
    assert cluster.delete_source_pod() is True
    with pytest.raises(ClusterError):
        cluster.source_pod()
    assert cluster.pods_labelled("app=sleep") == []  # asked of the cluster, not its record
    assert cluster.delete_source_pod() is False
    cluster.reset()
    assert cluster.source_pod().ready
