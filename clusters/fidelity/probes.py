"""Traffic probes: a curl in the source pod, and the sidecar's access-log line for it.

What a probe observes is curl's status code and exit code (the application's view) and,
from the access log, the upstream cluster, response flags and route name (the proxy's
view: which cluster and route Envoy chose, and why it answered itself).
"""

from __future__ import annotations

from typing import Any

from clusters.fidelity.corpus import Probe
from clusters.istio.accesslog import parse_access_log
from clusters.protocol import ClusterError, ExecResult, sidecar_log_before_barrier

LOG_BARRIER_S = 10.0  # how long the sidecar may take to log the barrier request
EXEC_SLACK_S = 5.0  # beyond curl's own --max-time
# curl's "empty reply" (52) and "recv failure" (56) both mean the proxy closed the
# connection without answering; which one curl sees is a race between the proxy's close
# and curl's request (a close with the request unread is a reset), so they count as one.
SAME_EXIT_CODE = {56: 52}


def run_probe(mesh: Any, probe: Probe) -> dict[str, Any]:
    """Every recordable observation of one probe (the comparison keeps ``probe.record``)."""
    cursor = mesh.sidecar_log_cursor()
    try:
        result: ExecResult = mesh.exec_in_source_pod(
            probe.argv, timeout=probe.max_time + EXEC_SLACK_S
        )
    except ClusterError as error:
        return {"http_code": None, "exit_code": None, "error": str(error)}
    observed: dict[str, Any] = {
        "http_code": result.stdout.strip()[-3:] or None,
        "exit_code": SAME_EXIT_CODE.get(result.exit_code, result.exit_code),
        "elapsed_s": round(result.elapsed, 3),
    }
    entry = _last_entry(mesh, cursor)
    observed["log_lines"] = entry[1]
    if entry[0] is not None:
        observed.update(
            upstream_cluster=entry[0].upstream_cluster,
            response_flags=entry[0].response_flags,
            route_name=entry[0].route_name,
        )
    else:
        observed.update(upstream_cluster=None, response_flags=None, route_name=None)
    if result.exit_code and result.stderr.strip():
        observed["curl_error"] = result.stderr.strip().splitlines()[-1]
    return observed


def _last_entry(mesh: Any, cursor: Any) -> tuple[Any, int]:
    """The probe's outbound access-log entry and how many entries the probe left.

    A barrier line (Cluster.sidecar_log_barrier) comes after every line of the probe, so
    they are all read, whatever the flush timing. A request to a Service of the mesh is
    logged twice, outbound then inbound as it reaches the pod; the outbound line is the
    one that says where the sidecar sent the request.
    """
    before, _ = sidecar_log_before_barrier(mesh, cursor, LOG_BARRIER_S)
    entries = parse_access_log(before)
    outbound = [e for e in entries if not _inbound(e.upstream_cluster)]
    chosen = outbound or entries
    return (chosen[-1] if chosen else None), len(entries)


def _inbound(cluster: str | None) -> bool:
    return bool(cluster) and (
        cluster.startswith("inbound|") or cluster == "InboundPassthroughCluster"
    )
