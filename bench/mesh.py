"""Measurements of the embedded mesh itself: start-up, config propagation, memory.

Everything goes through the Cluster protocol the steps use (``up``/``down``,
``set_outbound_traffic_policy``, ``apply``/``delete``, ``exec_in_source_pod``,
``wait_for_proxy_config``), so the figures are what a feature run pays. The exceptions
are the socket probe, which opens the connection from a thread inside the pod's network
namespace to show how much of a curl probe is process spawning, and the memory and
push-version reads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import summary, wall_times
from clusters import local
from clusters.local import LocalCluster
from clusters.protocol import OutboundTrafficPolicy
from clusters.shared import processes
from clusters.shared.envoy import resident_memory_bytes
from clusters.shared.processes import ProcessRecord
from fixtures.page.manifests import httpbin_service_entry

URL = "http://httpbin.org/headers"
CURL_PROBE = ("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", URL)
SETTLE_TIMEOUT_S = 30.0  # bounds a broken run only; never a pass/fail threshold
OBSERVE_TIMEOUT_S = 30.0
EXEC_TIMEOUT_S = 10.0
OWNER = "bench"


class BenchError(Exception):
    """The bench could not measure something (the mesh misbehaved); a one-line reason."""


# Run roots and leftovers --------------------------------------------------------------
@contextlib.contextmanager
def run_root(label: str, leftovers: list[str]) -> Iterator[Path]:
    """A fresh run root under /run (the sidecar's uid must reach it), removed afterwards.

    Whatever the mesh failed to remove is appended to ``leftovers`` before the root is
    cleaned, so a teardown bug is reported rather than hidden by the bench's own rmtree.
    """
    root = Path(tempfile.mkdtemp(dir="/run", prefix=f"egc-bench-{label}-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        leftovers.extend(local.leftovers(root))
        local.remove_private_root(root)  # the bench's own root: everything under it


def still_running(records: Sequence[ProcessRecord]) -> list[str]:
    """The mesh processes (by PID and start time) that outlived their teardown."""
    return [f"{r.name} (pid {r.pid})" for r in records if processes.is_running(r)]


# Mesh start-up -------------------------------------------------------------------------
@dataclass
class UpResult:
    up_s: list[float]  # wall time around LocalCluster.up, httpbin preloaded (as in pytest)
    timings: list[dict[str, float]]  # the mesh's own timings (its actions, ready_s)
    down_s: list[float]  # wall time around down(), for the meshes torn down here
    bench_rss_before: int  # the bench's own VmRSS before the first up
    cold_up_s: list[float] = field(default_factory=list)  # nothing preloaded
    preload_s: list[float] = field(default_factory=list)  # httpbin's preload, until loaded

    def to_json(self) -> dict[str, Any]:
        """Each of the mesh's timings summarised across the ups, in its actions' order."""
        names = list(dict.fromkeys(name for timings in self.timings for name in timings))
        return {
            "up_s": summary(self.up_s),
            "cold_up_s": summary(self.cold_up_s),
            "preload_s": summary(self.preload_s),
            "timings_s": {
                name: summary([t[name] for t in self.timings if name in t]) for name in names
            },
            "down_s": summary(self.down_s),
        }


def measure_up(
    root: Path, repetitions: int, records: list[ProcessRecord]
) -> tuple[UpResult, LocalCluster]:
    """Time ``up`` ``repetitions`` times each way; the last mesh is returned running.

    Each round first times an up with nothing preloaded (``egress-mesh up``'s case, all
    but), then one after the backend's prepare has loaded httpbin, as an xdist worker's
    configure does before its collection. Every other mesh is torn down at once (timed
    too), and any failure tears down the one in hand before the error propagates.
    """
    result = UpResult([], [], [], own_rss())
    for index in range(repetitions):
        mesh = _timed_up(root, result.cold_up_s, records)
        _timed_down(mesh, result.down_s)
        result.preload_s.append(preload_httpbin())
        mesh = _timed_up(root, result.up_s, records)
        result.timings.append(dict(mesh.timings))
        if index == repetitions - 1:
            return result, mesh
        _timed_down(mesh, result.down_s)
    raise ValueError("repetitions must be at least 1")


def _timed_up(root: Path, times: list[float], records: list[ProcessRecord]) -> LocalCluster:
    started = time.perf_counter()
    mesh = LocalCluster.up(run_root=root, owner=OWNER)
    times.append(time.perf_counter() - started)
    records.extend(mesh.state.processes)
    return mesh


def _timed_down(mesh: LocalCluster, times: list[float]) -> None:
    started = time.perf_counter()
    mesh.close()
    times.append(time.perf_counter() - started)


def preload_httpbin() -> float:
    """The local backend's prepare, and the seconds until httpbin has loaded."""
    started = time.perf_counter()
    prepare = local.BACKEND.prepare
    assert prepare is not None
    prepare(local.BACKEND.options_from({}))
    for server in local.preloaded_httpbin():
        if not server.wait_loaded(SETTLE_TIMEOUT_S):
            raise BenchError("the preloaded httpbin ended or did not load within 30 s")
    return time.perf_counter() - started


# Probes --------------------------------------------------------------------------------
def curl_outcome(mesh: LocalCluster) -> str:
    """One request from the source pod, as the page makes it: the status, or why none."""
    result = mesh.exec_in_source_pod(CURL_PROBE, timeout=EXEC_TIMEOUT_S)
    code = result.stdout.strip() or "000"
    return code if result.exit_code == 0 else f"{code} (curl exit {result.exit_code})"


def socket_outcome(address: str, host: str = "httpbin.org", path: str = "/headers") -> str:
    """The same request over a fresh socket; must run inside the pod's namespace.

    A new connection every time, as curl does: a kept-alive one would stay on the
    listener it was accepted by and hide the change.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: egress-bench\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((address, 80), timeout=5.0) as connection:
            connection.sendall(request)
            head = connection.recv(64)
    except OSError as error:
        return f"000 ({type(error).__name__})"
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not head.startswith(b"HTTP/"):
        return "000 (no status line)"
    return parts[1].decode(errors="replace")


def httpbin_address(mesh: LocalCluster) -> str:
    for site in mesh.internet.sites:
        if site.host == "httpbin.org":
            return site.address
    raise BenchError("the fake internet has no httpbin.org site")


def in_pod(mesh: LocalCluster, function: Callable[[], Any]) -> Any:
    """Run ``function`` on a thread inside the source pod's network namespace."""
    return mesh.call_in_pod(function)


def spawn_costs(mesh: LocalCluster, repetitions: int) -> dict[str, Any]:
    """What one probe costs before it measures anything: exec of ``true``, a whole curl."""
    true_s = [
        mesh.exec_in_source_pod(["true"], timeout=EXEC_TIMEOUT_S).elapsed
        for _ in range(repetitions)
    ]
    curl_s = wall_times(lambda: curl_outcome(mesh), repetitions)
    address = httpbin_address(mesh)
    sockets_s = in_pod(mesh, lambda: wall_times(lambda: socket_outcome(address), repetitions))
    return {
        "exec_true_s": summary(true_s),
        "curl_probe_s": summary(curl_s),
        "socket_probe_s": summary(sockets_s),
    }


# Config changes ------------------------------------------------------------------------
@dataclass(frozen=True)
class Toggle:
    """One of the two states a series alternates between, and what a probe then sees."""

    name: str
    change: Callable[[], object]
    expect: str


def mode_toggles(mesh: LocalCluster) -> tuple[Toggle, Toggle]:
    """outboundTrafficPolicy: REGISTRY_ONLY makes httpbin.org 502, ALLOW_ANY 200 again."""
    return (
        Toggle(
            "mode REGISTRY_ONLY",
            lambda: mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY),
            "502",
        ),
        Toggle(
            "mode ALLOW_ANY",
            lambda: mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.ALLOW_ANY),
            "200",
        ),
    )


def service_entry_toggles(mesh: LocalCluster) -> tuple[Toggle, Toggle]:
    """Under REGISTRY_ONLY, the page's httpbin-ext ServiceEntry turns 502 into 200."""
    return (
        Toggle("apply ServiceEntry", lambda: mesh.apply(httpbin_service_entry()), "200"),
        Toggle("delete ServiceEntry", lambda: mesh.delete("serviceentry", "httpbin-ext"), "502"),
    )


def change_series(
    mesh: LocalCluster,
    toggles: tuple[Toggle, Toggle],
    changes: int,
    probe: Callable[[], str],
) -> dict[str, Any]:
    """Alternate the toggles ``changes`` times; time each until a probe sees it.

    Each sample starts just before the call that changes config (it returns once istiod's
    push context holds the change, before the push reaches the proxy) and ends when the
    first probe of a tight loop observes the new behaviour. Before each change the
    previous one is confirmed applied (untimed), so samples never overlap.
    """
    mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
    before = probe()
    if before != toggles[1].expect:
        raise BenchError(
            f"before the first {toggles[0].name!r} a probe saw {before}, "
            f"expected {toggles[1].expect}"
        )
    seen_s, after_call_s, call_s, probes = [], [], [], []
    surprises: dict[str, int] = {}
    for index in range(changes):
        toggle, previous = toggles[index % 2], toggles[(index + 1) % 2]
        mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
        started = time.perf_counter()
        toggle.change()
        written = time.perf_counter()
        count = 0
        while True:
            outcome = probe()
            count += 1
            if outcome == toggle.expect:
                break
            if outcome != previous.expect:  # neither old nor new: worth reporting
                surprises[outcome] = surprises.get(outcome, 0) + 1
            if time.perf_counter() - started > OBSERVE_TIMEOUT_S:
                raise BenchError(
                    f"{toggle.name}: traffic still showed {outcome} after "
                    f"{OBSERVE_TIMEOUT_S:g} s (expected {toggle.expect})"
                )
        seen = time.perf_counter()
        seen_s.append(seen - started)
        after_call_s.append(seen - written)
        call_s.append(written - started)
        probes.append(count)
    if changes % 2:  # an odd count ends in the other state: the next series starts from this one's
        toggles[1].change()
    mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
    return {
        "changes": changes,
        "states": [toggle.name for toggle in toggles],
        "change_to_traffic_s": summary(seen_s),
        "after_change_returned_s": summary(after_call_s),
        "change_call_s": summary(call_s),
        "probes_per_change": summary([float(count) for count in probes]),
        "unexpected_outcomes": surprises,
    }


def wait_series(mesh: LocalCluster, changes: int, repetitions: int) -> dict[str, Any]:
    """The sync signal: mode toggles, each followed by wait_for_proxy_config.

    The signal is istiod's /debug/syncz ACK of the change's push. Every change is then
    checked with one curl (untimed); a mismatch would mean the signal said 'applied'
    before traffic showed it, and is counted.
    """
    toggles = mode_toggles(mesh)
    mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
    idle = []
    for _ in range(repetitions):  # the floor: the signal's reads with nothing pending
        started = time.perf_counter()
        mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
        idle.append(time.perf_counter() - started)
    applied_s, wait_s, mismatches = [], [], []
    for index in range(changes):
        toggle = toggles[index % 2]
        started = time.perf_counter()
        toggle.change()
        written = time.perf_counter()
        mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
        applied = time.perf_counter()
        applied_s.append(applied - started)
        wait_s.append(applied - written)
        outcome = curl_outcome(mesh)
        if outcome != toggle.expect:
            mismatches.append(f"{toggle.name}: {outcome}")
    if mesh.outbound_traffic_policy() != OutboundTrafficPolicy.ALLOW_ANY:
        mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.ALLOW_ANY)
        mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
    return {
        "changes": changes,
        "change_to_applied_s": summary(applied_s),
        "wait_call_s": summary(wait_s),
        "wait_call_nothing_pending_s": summary(idle),
        "traffic_not_yet_changed_when_applied": mismatches,
    }


def propagation(
    mesh: LocalCluster,
    changes: int,
    repetitions: int,
    bench_rss_before: int,
    result: dict[str, Any],
) -> None:
    """All propagation series on one running mesh, and the memory around them.

    Each figure goes into ``result`` as soon as it is taken, so a series that fails
    (the error propagates) costs only the figures after it.
    """
    result["spawn"] = spawn_costs(mesh, repetitions)
    first_version = config_version(mesh)
    memory = result["memory"] = {}
    memory["after_up"] = memory_snapshot(mesh, bench_rss_before, first_version)

    result["mode_curl"] = change_series(
        mesh, mode_toggles(mesh), changes, lambda: curl_outcome(mesh)
    )
    memory["after_changes"] = memory_snapshot(mesh, bench_rss_before, first_version)

    address = httpbin_address(mesh)
    result["mode_socket"] = in_pod(
        mesh,
        lambda: change_series(mesh, mode_toggles(mesh), changes, lambda: socket_outcome(address)),
    )
    result["wait_for_proxy_config"] = wait_series(mesh, changes, repetitions)

    mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    result["serviceentry_curl"] = change_series(
        mesh, service_entry_toggles(mesh), changes, lambda: curl_outcome(mesh)
    )
    mesh.delete("serviceentry", "httpbin-ext", ignore_not_found=True)
    mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.ALLOW_ANY)
    mesh.wait_for_proxy_config(SETTLE_TIMEOUT_S)
    memory["end"] = memory_snapshot(mesh, bench_rss_before, first_version)


def config_version(mesh: LocalCluster) -> int:
    """How many config versions istiod has pushed to the sidecar: its client keeps the
    push version the proxy must ACK next."""
    return int(getattr(mesh.plane, "_pending", -1))


# Memory --------------------------------------------------------------------------------
def memory_snapshot(
    mesh: LocalCluster, bench_rss_before: int, first_version: int
) -> dict[str, Any]:
    """The sidecar's and istiod's resident memory at one point of the run, and the bench
    process's own growth since before the first up (the mesh's client side)."""
    own = own_rss()
    return {
        "sidecar": process_memory(mesh, "istio-proxy"),
        "control_plane": process_memory(mesh, "istiod"),
        "bench_process": {"vmrss_bytes": own, "growth_bytes": own - bench_rss_before},
        "config_versions_since_up": config_version(mesh) - first_version,
    }


def process_memory(mesh: LocalCluster, name: str) -> dict[str, Any]:
    """VmRSS (and the peak, VmHWM) of the mesh's running process called ``name``."""
    records = [r for r in mesh.state.processes if r.name == name]
    if not records or not processes.is_running(records[-1]):
        raise BenchError(f"no running {name} process in the mesh's state")
    pid = records[-1].pid
    rss = resident_memory_bytes(pid)
    if rss is None:
        raise BenchError(f"cannot read VmRSS of {name} (pid {pid})")
    return {"pid": pid, "comm": _comm(pid), "vmrss_bytes": rss, "vmhwm_bytes": _vmhwm(pid)}


def own_rss() -> int:
    """The bench's own VmRSS: the mesh's client side lives in it."""
    rss = resident_memory_bytes(os.getpid())
    if rss is None:
        raise BenchError("cannot read the bench's own VmRSS")
    return rss


def _comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return "?"


def _vmhwm(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def load_average() -> list[float]:
    """The machine is shared: readers should see how busy it was."""
    return list(os.getloadavg())
