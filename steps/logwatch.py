"""Watching the sidecar's log for new lines (shared by the log and pod steps; a plain
module, not a pytest plugin)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from clusters.protocol import Cluster, LogCursor, sidecar_log_before_barrier

# The first read soon after the request (the local mesh's proxy flushes its log every
# 10 ms), then less and less often, up to POLL_INTERVAL (a read on kind is an API call).
FIRST_POLL = 0.01
POLL_INTERVAL = 0.1
T = TypeVar("T")


def watch(
    cluster: Cluster, cursor: LogCursor, seconds: float, select: Callable[[list[str]], list[T]]
) -> tuple[list[T], list[str]]:
    """What ``select`` finds in the lines written after ``cursor``, watched for up to
    ``seconds`` (the proxy flushes its log periodically); returns as soon as it finds
    something, with the new lines it looked at."""
    deadline = time.monotonic() + seconds
    interval = FIRST_POLL
    while True:
        lines = cluster.sidecar_log(since=cursor)
        found = select(lines)
        if found or time.monotonic() >= deadline:
            return found, lines
        time.sleep(interval)
        interval = min(interval * 2, POLL_INTERVAL)


def watch_for(
    cluster: Cluster, cursor: LogCursor, host: str, seconds: float
) -> tuple[list[str], int]:
    """New lines that mention ``host``, and how many new lines there were in all."""
    mentioning, lines = watch(cluster, cursor, seconds, lambda new: [n for n in new if host in n])
    return mentioning, len(lines)


def logged_before_barrier(
    cluster: Cluster, cursor: LogCursor, host: str, timeout: float
) -> tuple[list[str], int, str]:
    """The new lines mentioning ``host`` that the sidecar wrote before a barrier line
    (see Cluster.sidecar_log_barrier), the count of new lines before it, and its marker:
    an absence is read up to a line that must come after, not guessed from a wait."""
    before, marker = sidecar_log_before_barrier(cluster, cursor, timeout)
    return [line for line in before if host in line], len(before), marker
