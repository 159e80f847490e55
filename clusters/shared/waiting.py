"""One way to wait for something, bounded, for every wait of the backends.

stamina (already the steps' retry library) does the timing: a check raises
:class:`NotYet`, naming what it still waits for, until it returns. When the time is up
the caller gets one ClusterError line saying what was awaited and what was still
missing, so every wait reads the same and none can spin forever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import stamina
import stamina.instrumentation

from clusters.protocol import ClusterError

T = TypeVar("T")
# A wait's retries are its polling, not events worth a log line each (stamina logs every
# retry by default); what a wait still misses is in its ClusterError.
stamina.instrumentation.set_on_retry_hooks([])


class NotYet(Exception):  # not an error: the condition does not hold yet
    """The awaited condition does not hold yet; the message says what is missing."""


def wait_for(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.002,
    max_interval: float = 0.01,
) -> T:
    """Call ``check`` until it returns instead of raising NotYet, for ``timeout`` seconds.

    The backoff stops at 10 ms: what the backends wait for (a ready line, Envoy's
    /ready, a proxy's ACK) comes within tens to hundreds of milliseconds, and a longer
    step would add up to itself to every wait; each check costs well under a
    millisecond.

    Other exceptions (a dead process explaining itself) end the wait at once.
    """
    try:
        for attempt in stamina.retry_context(
            on=NotYet,
            attempts=None,
            timeout=timeout,
            wait_initial=interval,
            wait_max=max_interval,
            wait_jitter=0,
        ):
            with attempt:
                return check()
    except NotYet as missing:
        raise ClusterError(f"{what} within {timeout:g}s (still waiting for {missing})") from None
    raise AssertionError("unreachable: stamina's loop returns or raises")


# A check of a real cluster is a request its API server (or an exec in a pod) serves on
# the same cores as the cluster itself: polled every few ms, as the in-process checks
# above are, such checks would compete with the very pushes and rollouts awaited.
CLUSTER_INTERVAL_S, CLUSTER_MAX_INTERVAL_S = 0.05, 0.25


def wait_on_cluster(check: Callable[[], T], *, timeout: float, what: str) -> T:
    """:func:`wait_for` at a real cluster's pace: a check every 50 to 250 ms."""
    return wait_for(
        check,
        timeout=timeout,
        what=what,
        interval=CLUSTER_INTERVAL_S,
        max_interval=CLUSTER_MAX_INTERVAL_S,
    )
