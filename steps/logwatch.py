"""Watching the sidecar's log for lines that mention a host (shared by the log and pod
steps; a plain module, not a pytest plugin)."""

from __future__ import annotations

import time

from clusters.protocol import Cluster, LogCursor

POLL_INTERVAL = 0.1


def watch_for(
    cluster: Cluster, cursor: LogCursor, host: str, seconds: float
) -> tuple[list[str], int]:
    """New lines that mention ``host``, watched for up to ``seconds`` (the proxy flushes
    its log periodically); returns as soon as one shows, with the count of new lines."""
    deadline = time.monotonic() + seconds
    while True:
        lines = cluster.sidecar_log(since=cursor)
        mentioning = [line for line in lines if host in line]
        if mentioning or time.monotonic() >= deadline:
            return mentioning, len(lines)
        time.sleep(POLL_INTERVAL)
