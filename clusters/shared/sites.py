"""The fake internet's sites, as data: what each site serves, read from a sites file.

Every backend with a fake internet serves the same list (``sites.yaml`` beside this
module, or the file the user passes), read and checked here, so a mistake in the file
is one line naming the entry and field whatever the backend. The addresses in the file
are the local mesh's (TEST-NET-3); the kind kit moves each site to its own network.
:func:`static_listener` is the Envoy listener of a ``static`` endpoint, the same on both.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clusters.protocol import ClusterError

DEFAULT_SITES_FILE = Path(__file__).with_name("sites.yaml")
# The local mesh's addresses: the file's sites and its DNS server sit in this range.
INTERNET_CIDR = ipaddress.ip_network("203.0.113.0/24")  # TEST-NET-3
DNS_ADDRESS = "203.0.113.53"
APPS = ("httpbin", "static")
PROTOCOLS = ("HTTP", "HTTPS")
# A DNS name: it also names the site's certificate files, so no path can hide in it.
HOSTNAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


@dataclass(frozen=True)
class Endpoint:
    """One port a site serves."""

    port: int
    protocol: str  # HTTP or HTTPS
    app: str  # httpbin or static
    status: int = 200


@dataclass(frozen=True)
class Site:
    """One site of the fake internet: its name, its address, and what it serves."""

    host: str
    address: str
    serve: tuple[Endpoint, ...]


def load_sites(path: Path | None = None) -> list[Site]:
    """Read and check a sites file; every mistake is one line naming the entry and field."""
    path = path or DEFAULT_SITES_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ClusterError(f"sites file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ClusterError(
            f"sites file {path}: not valid YAML ({error})".replace("\n", " ")
        ) from None
    entries = data.get("sites") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ClusterError(f"sites file {path}: expected a top-level 'sites:' list")
    sites = [_site(path, index, entry) for index, entry in enumerate(entries)]
    seen: dict[str, str] = {}
    for site in sites:
        for key in (site.host, site.address):
            if key in seen:
                raise ClusterError(f"sites file {path}: {key} is used by two sites")
            seen[key] = site.host
    if DNS_ADDRESS in seen:
        raise ClusterError(f"sites file {path}: {DNS_ADDRESS} is the DNS server's address")
    return sites


def _site(path: Path, index: int, entry: Any) -> Site:
    where = f"sites file {path}: sites[{index}]"
    if not isinstance(entry, dict) or not entry.get("host") or not entry.get("address"):
        raise ClusterError(f"{where}: each site needs 'host', 'address' and 'serve'")
    host = str(entry["host"])
    if not HOSTNAME.fullmatch(host):
        raise ClusterError(
            f"{where}.host: {host!r} is not a DNS name (lowercase labels of letters, digits "
            "and '-', separated by dots, e.g. www.example.org)"
        )
    try:
        address = ipaddress.ip_address(str(entry["address"]))
    except ValueError:
        raise ClusterError(
            f"{where}.address: {entry['address']!r} is not an IPv4 address"
        ) from None
    if address not in INTERNET_CIDR:
        raise ClusterError(
            f"{where}.address: {address} is outside {INTERNET_CIDR}; the fake internet uses "
            "only that documentation range"
        )
    endpoints = []
    for position, item in enumerate(entry.get("serve") or ()):
        field = f"{where}.serve[{position}]"
        if not isinstance(item, dict):
            raise ClusterError(f"{field}: expected a mapping with port, protocol and app")
        protocol = str(item.get("protocol", "")).upper()
        app = item.get("app", "static")
        port = item.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ClusterError(f"{field}.port: {port!r} must be a number in 1..65535")
        if protocol not in PROTOCOLS:
            raise ClusterError(f"{field}.protocol: {protocol!r} must be one of {PROTOCOLS}")
        if app not in APPS:
            raise ClusterError(f"{field}.app: {app!r} must be one of {APPS}")
        if app == "httpbin" and protocol != "HTTP":
            raise ClusterError(f"{field}: httpbin is served over plain HTTP only")
        if any(e.port == port for e in endpoints):
            raise ClusterError(f"{field}.port: {port} is already served by this site")
        status = item.get("status", 200)
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise ClusterError(f"{field}.status: {status!r} must be an HTTP status in 200..599")
        endpoints.append(Endpoint(port, protocol, app, status))
    if not endpoints:
        raise ClusterError(f"{where}.serve: a site must serve at least one port")
    return Site(host=host, address=str(address), serve=tuple(endpoints))


def extension(name: str, message: str, **fields: Any) -> dict[str, Any]:
    """A named Envoy extension (filter, transport socket) with its typed config."""
    return {"name": name, "typed_config": {"@type": f"type.googleapis.com/{message}", **fields}}


def socket_address(address: str, port: int) -> dict[str, Any]:
    """Envoy's address of a listener or endpoint."""
    return {"socket_address": {"address": address, "port_value": port}}


def static_listener(site: Site, endpoint: Endpoint, cert: Path, key: Path) -> dict[str, Any]:
    """Envoy's listener for a ``static`` endpoint: every request on the site's port gets
    the endpoint's status (and a line naming the site), over TLS with ``cert`` and
    ``key`` for HTTPS, offering h2 and http/1.1 like the real sites. Both fake internets
    (local, kind) serve their static sites with it."""
    scheme = "https" if endpoint.protocol == "HTTPS" else "http"
    route = {
        "match": {"prefix": "/"},
        "direct_response": {"status": endpoint.status},
    }
    if endpoint.status not in (204, 304):  # these carry no body
        route["direct_response"]["body"] = {
            "inline_string": f"{scheme}://{site.host} (fake internet)\n"
        }
    hcm = extension(
        "envoy.filters.network.http_connection_manager",
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix=f"{site.host}_{endpoint.port}",
        codec_type="AUTO",
        route_config={"virtual_hosts": [{"name": site.host, "domains": ["*"], "routes": [route]}]},
        http_filters=[
            extension("envoy.filters.http.router", "envoy.extensions.filters.http.router.v3.Router")
        ],
    )
    chain: dict[str, Any] = {"filters": [hcm]}
    if endpoint.protocol == "HTTPS":
        chain["transport_socket"] = extension(
            "envoy.transport_sockets.tls",
            "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context={
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(cert)},
                        "private_key": {"filename": str(key)},
                    }
                ],
            },
        )
    return {
        "name": f"{site.host}_{endpoint.port}",
        "address": socket_address(site.address, endpoint.port),
        "filter_chains": [chain],
    }
