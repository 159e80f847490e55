"""The local pod's interception: Istio's FORCE_IPTABLES_BINARY=nft, which the mesh sets
where the nft binaries are installed, makes istio-iptables install what its own probe
would have chosen to install in a new namespace, and nothing in legacy iptables. Runs
Istio's istio-iptables in namespaces of its own, so it needs root."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from clusters.local import iptables, network, prerequisites
from clusters.shared import gobuild

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

ISTIO_INIT = [  # istio-init's arguments for the sleep pod, as Istio's injector writes them
    "istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
    "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
]  # fmt: skip


@contextmanager
def pod_namespace(name: str) -> Iterator[str]:
    """A namespace with an address, as a pod's (istio-iptables needs a local IP)."""
    network.create(name)
    try:
        network.run_ip(["-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "v1"])
        network.run_ip(["-n", name, "addr", "add", "198.51.100.5/24", "dev", "eth0"])
        network.run_ip(["-n", name, "link", "set", "eth0", "up"])
        yield name
    finally:
        network.delete(name)


def tables(namespace: str, program: str) -> str:
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, program], capture_output=True, text=True, check=True
    )
    return "\n".join(line for line in completed.stdout.splitlines() if not line.startswith("#"))


def installed(namespace: str, env: dict[str, str]) -> dict[str, str]:
    binary = gobuild.iptables_path(gobuild.ensure_built(gobuild.istio_build(None)))
    subprocess.run(
        ["ip", "netns", "exec", namespace, str(binary), *ISTIO_INIT],
        capture_output=True,
        check=True,
        env={**os.environ, **env},
    )
    return {
        program: tables(namespace, program)
        for program in ("iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save")
    }


def test_forcing_nft_installs_what_the_probe_chooses() -> None:
    prerequisites.check_prerequisites()
    choice = iptables._iptables_choice()
    if not choice:
        pytest.skip("this machine lacks the nft binaries: istio-iptables probes as always")
    with pod_namespace("egc-test-ipt-probe") as probed:
        by_probe = installed(probed, {})
    with pod_namespace("egc-test-ipt-force") as forced:
        by_choice = installed(forced, choice)
    assert "-A ISTIO_OUTPUT" in by_choice["iptables-nft-save"]
    assert by_choice["iptables-nft-save"] == by_probe["iptables-nft-save"]
    assert by_choice["ip6tables-nft-save"] == by_probe["ip6tables-nft-save"]
    assert "ISTIO" not in by_choice["iptables-legacy-save"]
