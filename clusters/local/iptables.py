"""istio-iptables' traffic interception for the source pod, as an iptables-restore script.

The chains and their order follow what Istio's init container (``istio-iptables``)
installs in a pod's ``nat`` table: outbound TCP goes to the proxy's 15001, inbound TCP
to 15006, and the proxy's own traffic (uid/gid 1337) and loopback are let through.
``includeOutboundIPRanges`` limits which destinations are redirected; the rest bypass
the proxy entirely, which is what the page's "direct access" section relies on.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from clusters.protocol import ClusterError

PROXY_UID = 1337
PROXY_GID = 1337
OUTBOUND_CAPTURE_PORT = 15001
INBOUND_CAPTURE_PORT = 15006
# Ports of the sidecar itself that inbound capture leaves alone (HBONE, Prometheus,
# health, agent) — as istio-iptables' defaults.
INBOUND_EXCLUDED_PORTS = (15008, 15090, 15021, 15020)
INBOUND_PASSTHROUGH_SOURCE = "127.0.0.6/32"


@dataclass(frozen=True)
class InterceptionConfig:
    """The knobs istio-iptables takes from the pod's annotations."""

    include_outbound_ip_ranges: Sequence[str] | None = None  # None means "*"
    exclude_outbound_ip_ranges: Sequence[str] = ()
    proxy_uid: int = PROXY_UID
    proxy_gid: int = PROXY_GID


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


def nat_rules(config: InterceptionConfig) -> str:
    """The ``nat`` table for iptables-restore (pure: golden-tested)."""
    uid, gid = config.proxy_uid, config.proxy_gid
    lines = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":ISTIO_INBOUND - [0:0]",
        ":ISTIO_IN_REDIRECT - [0:0]",
        ":ISTIO_OUTPUT - [0:0]",
        ":ISTIO_REDIRECT - [0:0]",
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
        *(f"-A ISTIO_INBOUND -p tcp --dport {port} -j RETURN" for port in INBOUND_EXCLUDED_PORTS),
        "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT",
        f"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {INBOUND_CAPTURE_PORT}",
        f"-A ISTIO_OUTPUT -s {INBOUND_PASSTHROUGH_SOURCE} -o lo -j RETURN",
        # The proxy talking to its own pod's IP over loopback is inbound traffic.
        f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner {uid} "
        "-j ISTIO_IN_REDIRECT",
        f"-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner {uid} -j RETURN",
        f"-A ISTIO_OUTPUT -m owner --uid-owner {uid} -j RETURN",
        f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner {gid} "
        "-j ISTIO_IN_REDIRECT",
        f"-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner {gid} -j RETURN",
        f"-A ISTIO_OUTPUT -m owner --gid-owner {gid} -j RETURN",
        "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN",
        *(
            f"-A ISTIO_OUTPUT -d {cidr} -j RETURN"
            for cidr in validate_cidrs(config.exclude_outbound_ip_ranges)
        ),
    ]
    if config.include_outbound_ip_ranges is None:
        lines.append("-A ISTIO_OUTPUT -j ISTIO_REDIRECT")
    else:
        lines += [
            f"-A ISTIO_OUTPUT -d {cidr} -j ISTIO_REDIRECT"
            for cidr in validate_cidrs(config.include_outbound_ip_ranges)
        ]
        lines.append("-A ISTIO_OUTPUT -j RETURN")
    lines += [
        f"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {OUTBOUND_CAPTURE_PORT}",
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def install(namespace: str, config: InterceptionConfig) -> None:
    """Load the rules into a namespace's nat table in one atomic iptables-restore."""
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-restore"],
        input=nat_rules(config),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        reason = completed.stderr.strip().splitlines()
        raise ClusterError(
            f"iptables-restore in {namespace} failed: {reason[0] if reason else 'no output'} "
            "(the kernel needs nf_tables with the nat table)"
        )


def istio_iptables_args(config: InterceptionConfig) -> list[str]:
    """The flags sidecar injection gives istio-init (``istio-iptables``) for this pod."""
    include = config.include_outbound_ip_ranges
    return [
        "istio-iptables",
        "-p", str(OUTBOUND_CAPTURE_PORT),
        "-z", str(INBOUND_CAPTURE_PORT),
        "-u", str(config.proxy_uid),
        "-g", str(config.proxy_gid),
        "-m", "REDIRECT",
        "-i", "*" if include is None else ",".join(include),
        "-x", ",".join(config.exclude_outbound_ip_ranges),
        "-b", "*",
        "-d", ",".join(str(port) for port in INBOUND_EXCLUDED_PORTS if port != 15008),
    ]  # fmt: skip


def run_istio_iptables(namespace: str, args: Sequence[str], binary: str) -> None:
    """Run Istio's own istio-iptables (built into egress-istiod) in the pod's namespace
    with istio-init's arguments (``istio-iptables -p 15001 ...``), as the container does."""
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, binary, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        errors = [line for line in completed.stderr.splitlines() if "error" in line]
        reason = (errors or completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClusterError(f"istio-iptables in {namespace} failed: {reason.strip()}")


def dump(namespace: str) -> str:
    """The nat table as iptables-save prints it, for checks and debugging."""
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-save", "-t", "nat"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout
