"""CIDRs as the page and Istio write them (a plain module shared by step modules)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence


def networks(ranges: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse CIDRs as Istio does (host bits allowed: the page's 10.0.0.1/24)."""
    return [ipaddress.ip_network(r, strict=False) for r in ranges]
