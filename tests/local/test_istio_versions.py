"""Every pinned Istio build runs the page's core outcomes, and says which Istio it is.

`--istio-version` picks among clusters/local/istiod/go.mod and versions/*.mod; this
keeps each of them buildable and working, not just listed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clusters.local.mesh import LocalCluster
from clusters.protocol import OutboundTrafficPolicy
from clusters.shared import gobuild
from fixtures.page.manifests import httpbin_service_entry

pytestmark = pytest.mark.root


def test_at_least_two_istio_builds_are_pinned() -> None:
    builds = gobuild.pinned_versions()
    assert len(builds) >= 2
    assert len({build.module_version for build in builds.values()}) == len(builds)


@pytest.mark.parametrize("version", list(gobuild.pinned_versions()))
def test_each_pinned_istio_runs_the_page(run_root: Path, version: str) -> None:
    mesh = LocalCluster.up(run_root=run_root, istio_version=version)
    try:
        facts = mesh.describe()
        build = gobuild.istio_build(version)
        assert facts["istio"].startswith(f"{version} (istio.io/istio {build.module_version})")
        line = version.split("-")[0]  # 1.31-dev pulls istio.io/api v1.31.x
        assert facts["istio_api"].startswith(f"v{line}."), facts["istio_api"]

        def code() -> str:
            argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://httpbin.org/"]
            return mesh.exec_in_source_pod(argv, timeout=10).stdout

        assert code() == "200"
        mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
        mesh.wait_for_proxy_config(10)
        assert code() == "502"
        mesh.apply(httpbin_service_entry())
        mesh.wait_for_proxy_config(10)
        assert code() == "200"
    finally:
        mesh.close()
