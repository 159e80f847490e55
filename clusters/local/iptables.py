"""The source pod's traffic interception: Istio's own istio-iptables, run in its namespace.

istio-init's arguments come from Istio's injector (``-i`` holds includeOutboundIPRanges);
the ranges it leaves out bypass the proxy entirely, which is what the page's "direct
access" section relies on.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence

from clusters.protocol import ClusterError

PROXY_UID = 1337  # istio-proxy's uid and gid, which istio-iptables lets through
PROXY_GID = 1337
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def validate_cidrs(ranges: Sequence[str]) -> tuple[str, ...]:
    """Normalise CIDRs the way the injector reads the annotation; refuse malformed ones."""
    normalised = []
    for text in ranges:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ClusterError(
                f'traffic.sidecar.istio.io/includeOutboundIPRanges: invalid CIDR "{text}" '
                "(write ranges like 10.96.0.0/12, comma separated)"
            ) from None
        if network.version != 4:
            raise ClusterError(
                f'traffic.sidecar.istio.io/includeOutboundIPRanges: "{text}" is IPv6, and this '
                "pod is IPv4-only (give IPv4 CIDRs such as 10.96.0.0/12)"
            )
        normalised.append(str(network))
    return tuple(normalised)


def run_istio_iptables(namespace: str, args: Sequence[str], binary: str) -> None:
    """Run Istio's own istio-iptables (built beside egress-istiod) in the pod's namespace
    with istio-init's arguments (``istio-iptables -p 15001 ...``), as the container does."""
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, binary, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_iptables_choice()},
    )
    if completed.returncode != 0:
        errors = [line for line in completed.stderr.splitlines() if "error" in line]
        reason = (errors or completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClusterError(f"istio-iptables in {namespace} failed: {reason.strip()}")


@functools.cache
def _iptables_choice() -> dict[str, str]:
    """istio-iptables picks legacy iptables where a namespace holds legacy rules, else
    nft; a new pod's namespace holds none, so it picks nft wherever the nft binaries
    are installed. Istio's FORCE_IPTABLES_BINARY names that choice, and istio-iptables
    then skips its probe of both sets for IPv4 and IPv6 (a dozen iptables processes, the
    longer half of a pod's start here). Where they are missing it probes as always."""
    nft = ("iptables-nft", "iptables-nft-save", "iptables-nft-restore", "ip6tables-nft")
    if all(shutil.which(name, path=SBIN_PATH) for name in nft):
        return {"FORCE_IPTABLES_BINARY": "nft"}
    return {}


def dump(namespace: str) -> str:
    """The nat table as iptables-save prints it, for checks and debugging."""
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-save", "-t", "nat"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout
