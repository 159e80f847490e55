"""The registry: which backends exist, one line each ("module:attribute" of its
:class:`~clusters.plugin.Backend`). A backend is loaded only when it is asked for, so a
run on one backend imports no other (a run on local never imports kubernetes)."""

from __future__ import annotations

import importlib
from typing import Any

from clusters.plugin import Backend
from clusters.protocol import ClusterError

REGISTRY: dict[str, str] = {
    "local": "clusters.local.backend:BACKEND",
    "kind": "clusters.kind.backend:BACKEND",
    "existing": "clusters.kube.backend:BACKEND",
    "fake": "clusters.fake.backend:BACKEND",
}


class UnknownBackend(ClusterError):
    """A backend name the registry does not hold."""


def names() -> tuple[str, ...]:
    """Every registered backend's name, in the registry's order."""
    return tuple(REGISTRY)


def backend(name: str) -> Backend[Any]:
    """The named backend's declaration; an unknown name is refused as argparse refuses
    an invalid choice."""
    target = REGISTRY.get(name)
    if target is None:
        choices = ", ".join(repr(known) for known in REGISTRY)
        raise UnknownBackend(f"invalid choice: {name!r} (choose from {choices})")
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    if not isinstance(found, Backend) or found.name != name:
        raise UnknownBackend(f"{target} is not the Backend named {name!r}")
    return found
