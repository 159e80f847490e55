"""Network namespaces, veth links and addresses: the wiring of the embedded mesh.

Every link is created directly inside a namespace of the run (``ip -n NS link add ...
peer ... netns OTHER``), so nothing is ever attached to the host's own namespace, no
forwarding is enabled and no NAT exists: packets cannot leave the run's namespaces.

Topology (one run)::

    pod netns                         internet netns
    eth0 198.51.100.10/24  <--veth-->  pod0 198.51.100.1/24 (the pod's gateway)
    default via 198.51.100.1           lo: 203.0.113.x/32 (one address per fake site)
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from clusters.protocol import ClusterError

NETNS_RUN_DIR = Path("/run/netns")
NETNS_ETC_DIR = Path("/etc/netns")  # ``ip netns exec`` bind-mounts NAME/* over /etc
CLONE_NEWNET = 0x40000000

T = TypeVar("T")


def run_ip(args: list[str], *, batch: Iterable[str] | None = None) -> None:
    """Run one ``ip`` command (or a batch of them); fail with ip's own one-line reason."""
    argv = ["ip", *args]
    stdin = None
    if batch is not None:
        argv += ["-batch", "-"]
        stdin = "\n".join(batch) + "\n"
    completed = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise ClusterError(f"`{' '.join(argv)}` failed: {reason[-1] if reason else 'no output'}")


def exists(name: str) -> bool:
    return (NETNS_RUN_DIR / name).exists()


def list_namespaces(prefix: str) -> list[str]:
    if not NETNS_RUN_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_RUN_DIR.iterdir() if p.name.startswith(prefix))


def create(name: str, etc_files: dict[str, str | bytes] | None = None) -> None:
    """Create a namespace with loopback up and, optionally, its own /etc overlay files."""
    if etc_files:
        write_etc_overlay(name, etc_files)
    run_ip(["netns", "add", name])
    run_ip(["-n", name, "link", "set", "lo", "up"])


def write_etc_overlay(name: str, files: dict[str, str | bytes]) -> None:
    """Files that processes started with ``ip netns exec NAME`` see under /etc."""
    root = NETNS_ETC_DIR / name
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)
        target.chmod(0o644)


def pids(name: str) -> list[int]:
    """PIDs of the processes whose network namespace is ``name`` (all of them ours)."""
    if not exists(name):
        return []
    completed = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
    )
    return [int(token) for token in completed.stdout.split() if token.isdigit()]


def delete(name: str) -> None:
    """Remove a namespace and its /etc overlay; links inside it vanish with it."""
    if exists(name):
        try:
            run_ip(["netns", "delete", name])
        except ClusterError:
            if exists(name):  # a concurrent sweep may have removed it first
                raise
    shutil.rmtree(NETNS_ETC_DIR / name, ignore_errors=True)


def connect(
    pod_ns: str,
    internet_ns: str,
    *,
    pod_ip: str,
    gateway_ip: str,
    prefix_len: int,
) -> None:
    """Link a pod namespace to the internet namespace and route everything through it."""
    run_ip(
        ["-n", internet_ns],
        batch=[
            f"link add pod0 type veth peer name eth0 netns {pod_ns}",
            f"address add {gateway_ip}/{prefix_len} dev pod0",
            "link set pod0 up",
        ],
    )
    run_ip(
        ["-n", pod_ns],
        batch=[
            f"address add {pod_ip}/{prefix_len} dev eth0",
            "link set eth0 up",
            f"route add default via {gateway_ip} dev eth0",
        ],
    )


def delete_link(namespace: str, link: str) -> None:
    """Remove a link (a veth takes its peer with it); absent links are fine."""
    subprocess.run(
        ["ip", "-n", namespace, "link", "delete", link], capture_output=True, check=False
    )


def add_local_addresses(name: str, addresses: Iterable[str]) -> None:
    """Give host addresses to a namespace's loopback (the fake internet's sites)."""
    lines = [f"address add {address}/32 dev lo" for address in addresses]
    if lines:
        run_ip(["-n", name], batch=lines)


_libc = ctypes.CDLL(None, use_errno=True)


def call_in(name: str, function: Callable[[], T]) -> T:
    """Run ``function`` in a thread that has entered the namespace ``name``.

    Why a thread: a network namespace is a per-thread attribute on Linux, and sockets
    keep the namespace they were created in, so a short-lived thread can open
    connections inside a namespace without spawning ``ip netns exec`` each time.
    """
    outcome: dict[str, object] = {}

    def enter_and_call() -> None:
        try:
            with open(NETNS_RUN_DIR / name) as handle:
                if _libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns({name}): {os.strerror(error)}")
            outcome["value"] = function()
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=enter_and_call, name=f"netns-{name}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
