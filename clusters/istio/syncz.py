"""Reading istiod's ``/debug/syncz`` (what ``istioctl proxy-status`` shows): whether a
proxy has ACKed the push that carries a change. The same for the embedded istiod and a
real cluster's, since both run Istio's own code.

istiod's versions read ``<RFC 3339 time>/<push number>``; a nonce is the version
followed by a UUID.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clusters.protocol import ClusterError

UUID_LENGTH = 36  # istiod's nonce is the push version followed by a UUID


def push_counter(version: str) -> int:
    """The push number of an istiod version ``<RFC3339 time>/<n>``."""
    try:
        return int(version.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return -1


def proxy_status(
    statuses: list[Mapping[str, Any]], pod: str, namespace: str
) -> Mapping[str, Any] | None:
    """The syncz entry of the proxy ``pod.namespace`` (None: not connected)."""
    proxy_id = f"{pod}.{namespace}"
    return next((s for s in statuses if s.get("proxy") == proxy_id), None)


def sync_lag(status: Mapping[str, Any] | None, pending: int) -> list[str]:
    """What keeps a proxy from being in sync with push ``pending``, per istiod's syncz.

    In sync: connected; clusters and listeners sent by push ``pending`` or later
    (:func:`behind`); every watched type ACKed (:func:`unacked`). A NACK raises, with
    Envoy's words.
    """
    if status is None:
        return ["the proxy to connect to istiod"]
    return behind(status, pending) + unacked(status)


def behind(status: Mapping[str, Any], pending: int) -> list[str]:
    """The types istiod has not yet sent from push ``pending`` on."""
    resources: Mapping[str, Any] = status.get("resources") or {}
    lagging = []
    for type_url in ("envoy.config.cluster.v3.Cluster", "envoy.config.listener.v3.Listener"):
        sent = (resources.get(f"type.googleapis.com/{type_url}") or {}).get("sent", "")
        if push_counter(sent[:-UUID_LENGTH]) < pending:
            lagging.append(f"{type_url.rsplit('.', 1)[1]} push {pending}")
    return lagging


def unacked(status: Mapping[str, Any]) -> list[str]:
    """The types whose last push the proxy has not ACKed; a NACK raises."""
    lagging = []
    for type_url, item in (status.get("resources") or {}).items():
        short = type_url.rsplit(".", 1)[1]
        if item.get("lastError"):
            raise ClusterError(f"the sidecar rejected istiod's {short} push: {item['lastError']}")
        if item.get("sent") != item.get("acked"):
            lagging.append(f"{short} ACK")
    return lagging


def newest_push(status: Mapping[str, Any] | None) -> int:
    """The highest push number istiod has sent this proxy (-1 before any)."""
    if status is None:
        return -1
    resources: Mapping[str, Any] = status.get("resources") or {}
    sent = [str(item.get("sent", "")) for item in resources.values()]
    return max((push_counter(nonce[:-UUID_LENGTH]) for nonce in sent), default=-1)
