"""The embedded mesh observes what the steps ask: a label query looks at the pod's
network namespace and sidecar, not at the run's record of a delete; the mode as
installed is what the first sidecar ran. Needs root, like the backend."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.local import network
from clusters.local.mesh import LocalCluster
from clusters.protocol import OutboundTrafficPolicy
from clusters.shared import processes

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def mesh(run_root: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster.up(run_root=run_root)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(autouse=True)
def page_start(mesh: LocalCluster) -> Iterator[None]:
    mesh.reset()
    yield
    mesh.reset()


def test_the_label_query_finds_the_pod_and_nothing_after_the_delete(mesh: LocalCluster) -> None:
    name = mesh.source_pod().name
    assert mesh.pods_labelled("app=sleep") == [name]
    assert mesh.pods_labelled("app=httpbin") == []
    assert mesh.delete_source_pod()
    assert mesh.pods_labelled("app=sleep") == []


def test_a_pod_namespace_the_delete_left_is_still_a_pod(mesh: LocalCluster) -> None:
    assert mesh.delete_source_pod()
    pod_ns = mesh.state.namespace("pod")
    subprocess.run(["ip", "netns", "add", pod_ns], check=True)  # as if the delete failed
    try:
        assert mesh.pods_labelled("app=sleep") == [f"(the pod of network namespace {pod_ns})"]
    finally:
        network.delete(pod_ns)
    assert mesh.pods_labelled("app=sleep") == []


def test_a_pod_gone_behind_the_records_back_is_gone(mesh: LocalCluster) -> None:
    name = mesh.source_pod().name
    proxies = [r for r in mesh.state.processes if r.name == "istio-proxy"]
    processes.terminate(proxies)
    network.delete(mesh.state.namespace("pod"))
    assert mesh.state.pod is not None and mesh.state.pod.name == name  # the record says so
    assert mesh.pods_labelled("app=sleep") == []


def test_the_installed_mode_is_what_the_sidecar_ran(mesh: LocalCluster) -> None:
    assert mesh.describe()["installed_outbound_traffic_policy"] == "ALLOW_ANY"
    mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    mesh.wait_for_proxy_config(30)
    assert mesh.describe()["installed_outbound_traffic_policy"] == "ALLOW_ANY"  # as installed
    mesh._observe_installed_mode()  # read again now: the sidecar's answer, not a default
    try:
        assert mesh.describe()["installed_outbound_traffic_policy"] == "REGISTRY_ONLY"
    finally:
        mesh.state.installed_mode = OutboundTrafficPolicy.ALLOW_ANY.value
