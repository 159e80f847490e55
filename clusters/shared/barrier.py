"""The sidecar-log barrier of the backends with a real sidecar (local, kube).

A request to the sleep Service from the source pod: the sidecar intercepts and logs it
whatever the include ranges and the mode, and Envoy writes its access log in order, so
once its line is in the log every line of what finished before it is there too.
"""

from __future__ import annotations

import secrets

from clusters.protocol import Cluster
from clusters.shared.waiting import NotYet, wait_for


def curl_barrier(cluster: Cluster, service_url: str, timeout: float) -> str:
    """GET ``service_url/<marker>`` from the source pod, wait until the sidecar's log has
    its line; the marker."""
    marker = f"egress-conformance-barrier-{secrets.token_hex(6)}"
    url = f"{service_url}/{marker}"
    cluster.exec_in_source_pod(["curl", "-s", "-o", "/dev/null", "--max-time", "5", url], timeout)

    def logged() -> None:
        if not any(marker in line for line in cluster.sidecar_log()):
            raise NotYet(f"the line of GET /{marker}")

    wait_for(logged, timeout=timeout, what="the sidecar did not log the barrier request")
    return marker
