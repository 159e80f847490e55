"""Delivering Envoy resources by file-based xDS, and waiting until they are applied.

Why files and not a gRPC ADS server: a change reaches traffic in milliseconds, with no
server process to manage (docs/local-mesh-facts.md: ADS took about 40 ms a change).
Each file is a DiscoveryResponse written as JSON and moved into place atomically, in
the order CDS, RDS, LDS, so a listener never points at a route or cluster Envoy lacks.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from clusters.local.snapshot import EnvoyResources
from clusters.protocol import ClusterError
from clusters.shared.envoy import EnvoyAdmin
from clusters.shared.waiting import NotYet, wait_for


class FileXds:
    """The watched directory a sidecar reads its dynamic configuration from."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _source(self, filename: str) -> dict[str, Any]:
        return {
            "path_config_source": {
                "path": str(self.directory / filename),
                "watched_directory": {"path": str(self.directory)},
            },
            "resource_api_version": "V3",
        }

    def dynamic_resources(self) -> dict[str, Any]:
        """The bootstrap's ``dynamic_resources`` pointing at this directory."""
        return {"cds_config": self._source("cds.json"), "lds_config": self._source("lds.json")}

    def write(self, resources: EnvoyResources, version: str) -> list[str]:
        """Hand a full set of resources to the proxy; returns the route names it uses."""
        self.directory.mkdir(parents=True, exist_ok=True)
        listeners = [self._with_file_rds(listener) for listener in resources.listeners]
        self._publish("cds.json", version, resources.clusters)
        route_names = []
        for route in resources.routes:
            route_names.append(route["name"])
            self._publish(f"rds-{route['name']}.json", version, [route])
        self._publish("lds.json", version, listeners)
        return route_names

    def _with_file_rds(self, listener: dict[str, Any]) -> dict[str, Any]:
        """Replace istiod's ADS config sources for RDS with this directory's files."""
        listener = copy.deepcopy(listener)
        for rds in _find_key(listener, "rds"):
            rds["config_source"] = self._source(f"rds-{rds['route_config_name']}.json")
        return listener

    def _publish(self, filename: str, version: str, resources: Any) -> None:
        response = {"version_info": version, "resources": list(resources)}
        temporary = self.directory / f".{filename}.tmp"
        temporary.write_text(json.dumps(response))
        os.replace(temporary, self.directory / filename)  # atomic within the directory

    def wait_applied(
        self,
        admin: EnvoyAdmin,
        version: str,
        route_names: list[str],
        *,
        timeout: float,
        alive: Callable[[], None],
        rejected_before: int,
        rejection: Callable[[], str],
    ) -> int:
        """Block until the proxy reports ``version`` for CDS, LDS and every RDS it uses.

        ``rejected_before`` is the proxy's count of refused updates before the writes
        being waited for: any increase means Envoy refused part of them, and
        ``rejection`` says why. Returns the count seen, the baseline for the next wait.
        """

        def applied() -> int:
            stats = admin.stats_or_death(
                r"(version_text|update_rejected|total_listeners_warming)$", alive
            )
            lagging = _lagging(stats, version, route_names)
            if not lagging:
                return _rejected(stats)
            alive()
            if _rejected(stats) > rejected_before:
                raise ClusterError(f"the sidecar rejected config version {version}: {rejection()}")
            raise NotYet(", ".join(lagging))

        return wait_for(
            applied, timeout=timeout, what=f"the sidecar did not apply config version {version}"
        )


def rejected_updates(admin: EnvoyAdmin) -> int:
    """How many xDS updates the proxy has refused so far."""
    return _rejected(admin.stats(r"update_rejected$"))


def _rejected(stats: dict[str, Any]) -> int:
    return sum(int(v or 0) for n, v in stats.items() if n.endswith("update_rejected"))


def _lagging(stats: dict[str, Any], version: str, route_names: list[str]) -> list[str]:
    lagging = [
        name
        for name in ("cluster_manager.cds.version_text", "listener_manager.lds.version_text")
        if stats.get(name) != version
    ]
    if stats.get("listener_manager.total_listeners_warming"):
        lagging.append("warming listeners")
    for route in route_names:
        # Envoy writes ':' in a stat name as '_' (a route named "example.com:8080").
        suffix = f".rds.{route.replace(':', '_')}.version_text"
        versions = [value for name, value in stats.items() if name.endswith(suffix)]
        if not versions or any(value != version for value in versions):
            lagging.append(f"route {route}")
    return lagging


def _find_key(node: Any, key: str) -> Iterator[dict[str, Any]]:
    """Every dict found under ``key`` anywhere in a JSON tree."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, dict):
                yield value
            else:
                yield from _find_key(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _find_key(item, key)
