"""The notes' own measurement, like for like: the page's six outcomes in sequence.

docs/local-mesh-facts.md times "the page's six outcomes in sequence" at
10.5 s, 8.0 s of which are the page's own waits. This replays exactly those six on a
fresh mesh, through the Cluster protocol, checking each
outcome (a wrong one is an error, not a figure), and reports the wall time with and
without bringing the mesh up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.mesh import BenchError
from clusters.local import LocalCluster
from clusters.protocol import ExecResult, OutboundTrafficPolicy
from fixtures.page.manifests import (
    google_service_entry,
    httpbin_service_entry,
    httpbin_timeout_virtual_service,
)

PAGE_WAITS_S = 5.0 + 3.0  # the /delay/5 request, then the VirtualService's 3 s timeout
EXEC_TIMEOUT_S = 15.0
PROPAGATION_TIMEOUT_S = 10.0
STATUS_LINE = ("curl", "-sSI")
HTTP_CODE = ("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}")


def six_outcomes(run_root: Path) -> dict[str, Any]:
    """Mesh up, the six outcomes, mesh down; each phase's seconds."""
    started = time.perf_counter()
    mesh = LocalCluster.up(run_root=run_root, owner="bench")
    ready = time.perf_counter()
    try:
        steps = _replay(mesh)
    finally:
        mesh.close()
    done = time.perf_counter()
    outcomes_s = sum(steps.values())
    return {
        "up_s": ready - started,
        "outcomes_s": outcomes_s,
        "down_s": done - ready - outcomes_s,
        "from_nothing_s": done - started,
        "steps_s": steps,
        "page_waits_s": PAGE_WAITS_S,
        "ratio_outcomes_to_waits": outcomes_s / PAGE_WAITS_S,
        "ratio_from_nothing_to_waits": (done - started) / PAGE_WAITS_S,
    }


def _replay(mesh: LocalCluster) -> dict[str, float]:
    def run(argv: tuple[str, ...], url: str) -> ExecResult:
        return mesh.exec_in_source_pod([*argv, url], timeout=EXEC_TIMEOUT_S)

    def changed(change: Callable[[], object]) -> None:
        change()
        mesh.wait_for_proxy_config(PROPAGATION_TIMEOUT_S)

    def passthrough() -> None:
        for url in ("https://www.google.com", "https://edition.cnn.com"):
            _expect(run(STATUS_LINE, url).stdout.startswith("HTTP/2 200"), f"{url}: HTTP/2 200")

    def blocking() -> None:
        changed(lambda: mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY))
        for url in ("https://www.google.com", "https://edition.cnn.com"):
            _expect(run(STATUS_LINE, url).exit_code == 35, f"{url}: curl exit code 35")

    def http_service_entry() -> None:
        changed(lambda: mesh.apply(httpbin_service_entry()))
        body = run(("curl", "-sS"), "http://httpbin.org/headers").stdout
        _expect('"X-Envoy-Decorator-Operation": "httpbin.org:80/*"' in body, "decorator header")

    def https_service_entry() -> None:
        changed(lambda: mesh.apply(google_service_entry()))
        result = run(STATUS_LINE, "https://www.google.com")
        _expect(result.stdout.startswith("HTTP/2 200"), "www.google.com: HTTP/2 200")

    def delay() -> None:
        _expect(run(HTTP_CODE, "http://httpbin.org/delay/5").stdout == "200", "/delay/5: 200")

    def timeout() -> None:
        changed(lambda: mesh.apply(httpbin_timeout_virtual_service()))
        _expect(run(HTTP_CODE, "http://httpbin.org/delay/5").stdout == "504", "/delay/5: 504")

    steps: dict[str, float] = {}
    for step in (passthrough, blocking, http_service_entry, https_service_entry, delay, timeout):
        started = time.perf_counter()
        step()
        steps[step.__name__] = time.perf_counter() - started
    return steps


def _expect(condition: bool, outcome: str) -> None:
    if not condition:
        raise BenchError(f"the page's outcome did not happen: {outcome}")
