"""The kind backend's figures: the cluster and Istio ready, action by action beside each
action's floor; what one scenario pays over the API; the page's scenarios on the cluster.

One cluster is made exactly as ``--cluster kind`` makes it (``create_kind``, the backend's
ordered actions, each one timed). Its per-scenario costs go through the same KubeCluster
the steps drive. ``pytest features/`` then runs on that cluster (``--reuse-cluster``), so
the scenarios' figure is the page's, not a second cluster's creation. The cluster, its
fake internet and the project's Docker daemon go when the phase ends, whatever failed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.features import run_features
from bench.stats import summary, wall_times
from clusters.istio.proxyconfig import LISTENERS
from clusters.kind.cluster import READY, create_kind
from clusters.kind.options import KindOptions
from clusters.kube.cluster import KubeCluster
from fixtures.page.manifests import httpbin_service_entry

# What an action cannot beat here, as measured on this kind of machine (two cores): kind's
# own create of a one-node cluster, istioctl install's wait for istiod's rollout, and a
# sidecar-injected pod from create to 2/2 Ready. docs/kind-offline.md gives the figures.
FLOORS_S = {
    "create the kind cluster": 15.0,
    "install Istio": 12.0,
    "deploy the sleep sample": 5.0,
}
CURL = ("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://httpbin.org/headers")
EXEC_TIMEOUT_S = 60.0


def timed(function: Callable[[], object], samples: int) -> dict[str, Any]:
    """The summary of ``samples`` calls' wall times."""
    return summary(wall_times(function, samples))


def api_costs(cluster: KubeCluster, samples: int) -> dict[str, Any]:
    """One scenario's recurring costs: an exec, a curl step, a read of istiod's syncz and
    of the sidecar's listeners, the sidecar's log read whole and after a cursor, a reset
    with nothing to undo and one after a ServiceEntry."""
    cursor = cluster.sidecar_log_cursor()
    costs: dict[str, Any] = {
        "exec_true_s": timed(lambda: cluster.exec_in_source_pod(["true"], EXEC_TIMEOUT_S), samples),
        "exec_curl_s": timed(lambda: cluster.exec_in_source_pod(CURL, EXEC_TIMEOUT_S), samples),
        "syncz_s": timed(cluster.proxy_sync_status, samples),  # each wait's read
        "listeners_s": timed(lambda: cluster.sidecar_config_dump(LISTENERS), samples),
        "log_whole_s": timed(cluster.sidecar_log, samples),
        "log_after_cursor_s": timed(lambda: cluster.sidecar_log(since=cursor), samples),
        "reset_unchanged_s": timed(cluster.reset, samples),
    }
    after_change: list[float] = []
    for _ in range(max(1, samples // 2)):
        cluster.apply(httpbin_service_entry())
        cluster.wait_for_proxy_config(EXEC_TIMEOUT_S)  # as a step waits after its apply
        after_change += wall_times(cluster.reset, 1)
    costs["reset_after_serviceentry_s"] = summary(after_change)
    costs["log_lines"] = len(cluster.sidecar_log())
    return costs


def kind_figures(root: Path, samples: int, run_features_too: bool) -> dict[str, Any]:
    """Cluster ready (and each action beside its floor), the API costs, the scenarios."""
    results: dict[str, Any] = {"floors_s": FLOORS_S}
    with tempfile.TemporaryDirectory(prefix="egc-bench-kind-") as scratch:
        run = create_kind(KindOptions(logs_dir=Path(scratch) / "kind-logs"))
        assert run.cluster is not None
        try:
            results["timings_s"] = dict(run.timings)
            results["ready_s"] = run.timings[READY]
            results["api"] = api_costs(run.cluster, samples)
            if run_features_too:
                results["feature_run"] = scenario_figures(root, run.name)
        finally:
            run.cluster.close()
    return results


def scenario_figures(root: Path, cluster_name: str) -> dict[str, Any]:
    """``pytest features/`` on the cluster: its wall time, and the scenarios after the
    first (the first one's setup finds the cluster and deploys the sample)."""
    with tempfile.TemporaryDirectory(prefix="egc-bench-kind-run-") as run_root:
        run = run_features(
            root,
            root / "features",
            Path(run_root),
            backend_args=["--cluster", "kind", "--reuse-cluster", cluster_name],
            workers="0",  # one cluster, one namespace: the scenarios take turns
        )
    times = run.get("testcase_times_s") or []
    run["first_s"] = times[0] if times else None
    run["after_first_s"] = sum(times[1:]) if len(times) > 1 else None
    run["after_first_count"] = max(0, len(times) - 1)
    return run
