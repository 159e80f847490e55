"""The embedded mesh: network namespaces, a real Envoy sidecar, a fake internet and
Istio's own istiod. This package's surface is what other packages may use of it; its
modules are private (pyproject.toml's import contracts hold that). The mesh itself is
loaded on first use, so the backend's declaration stays cheap to import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clusters.local.backend import BACKEND, WAITS, LocalOptions

if TYPE_CHECKING:
    from clusters.local.httpbin_preload import waiting as preloaded_httpbin
    from clusters.local.mesh import LocalCluster
    from clusters.local.runstate import leftovers, remove_private_root, sweep

__all__ = [
    "BACKEND",
    "WAITS",
    "LocalCluster",
    "LocalOptions",
    "leftovers",
    "preloaded_httpbin",
    "remove_private_root",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """The mesh and its run roots' upkeep, imported when first asked for."""
    if name == "LocalCluster":
        from clusters.local.mesh import LocalCluster

        return LocalCluster
    if name == "preloaded_httpbin":  # bench waits for the backend's prepare to load
        from clusters.local.httpbin_preload import waiting

        return waiting
    if name in ("leftovers", "remove_private_root", "sweep"):
        from clusters.local import runstate

        return getattr(runstate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
