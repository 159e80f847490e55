"""Addresses in the corpus: each side's own, written once as placeholders.

A fake site has one address in the local mesh (203.0.113.0/24) and another on kind's
docker network (198.18.0.0/24); the sleep Service's VIP is whatever the cluster gave it.
A case that needs one writes a placeholder instead, and each side fills in its own:

- ``${address:HOST}``: the address the source pod resolves HOST to (``getent hosts``, so
  the answer is the cluster's DNS, as the application would see it);
- ``${cidr:HOST/N}``: the /N network around that address;
- ``${vip:SERVICE}``: the VIP of the Service SERVICE in the pod's namespace, as the
  sidecar itself lists it among the domains of the Service's virtual host.

The normaliser then maps every filled-in value back to its placeholder
(:meth:`AddressBook.placeholders`), so the two sides' configs compare equal where they
mean the same thing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clusters.protocol import Cluster, ClusterError

PLACEHOLDER = re.compile(r"\$\{(address|cidr|vip):([^}]+)\}")
RESOLVE_TIMEOUT_S = 30.0
ROUTES = "dynamic_route_configs"


def placeholders_in(text: str) -> list[tuple[str, str]]:
    """``(kind, argument)`` of every placeholder in ``text``, in order."""
    return [(match[1], match[2]) for match in PLACEHOLDER.finditer(text)]


@dataclass
class AddressBook:
    """One side's values for the placeholders it was asked about."""

    values: dict[str, str] = field(default_factory=dict)  # "${address:httpbin.org}" -> ip

    def fill(self, text: str) -> str:
        """``text`` with every placeholder replaced by this side's value."""
        return PLACEHOLDER.sub(lambda match: self.values[match[0]], text)

    def placeholders(self) -> dict[str, str]:
        """Value -> placeholder, what the normaliser puts back."""
        return {value: placeholder for placeholder, value in self.values.items()}


def resolve(cluster: Cluster, texts: list[str], book: AddressBook | None = None) -> AddressBook:
    """The book with a value for every placeholder in ``texts`` (asked of ``cluster``)."""
    book = book or AddressBook()
    for text in texts:
        for kind, argument in placeholders_in(text):
            key = f"${{{kind}:{argument}}}"
            if key not in book.values:
                book.values[key] = _value(cluster, kind, argument)
    return book


def _value(cluster: Cluster, kind: str, argument: str) -> str:
    if kind == "address":
        return resolve_host(cluster, argument)
    if kind == "cidr":
        host, _, bits = argument.partition("/")
        network = ipaddress.ip_network(f"{resolve_host(cluster, host)}/{bits}", strict=False)
        return str(network)
    return service_vip(cluster.sidecar_config_dump(ROUTES), argument)


def resolve_host(cluster: Cluster, host: str) -> str:
    """The first IPv4 address the source pod resolves ``host`` to."""
    result = cluster.exec_in_source_pod(["getent", "ahostsv4", host], RESOLVE_TIMEOUT_S)
    words = result.stdout.split()
    if result.exit_code != 0 or not words:
        raise ClusterError(f"the source pod does not resolve {host} (getent: {result.exit_code})")
    return words[0]


def service_vip(routes_dump: Mapping[str, Any], service: str) -> str:
    """The VIP of ``service`` (a Service of the pod's namespace, ``default``): an IP among
    the domains of its virtual host (``sleep.default.svc.cluster.local:80``)."""
    prefix = f"{service}.default.svc."
    for item in routes_dump.get("configs", ()):
        config = item.get("route_config") or {}
        for host in config.get("virtual_hosts", ()):
            if not host.get("name", "").startswith(prefix):
                continue
            for domain in host.get("domains", ()):
                candidate = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
                try:
                    return str(ipaddress.IPv4Address(candidate))
                except ValueError:
                    continue
    raise ClusterError(f"the sidecar lists no VIP for the Service {service}")
