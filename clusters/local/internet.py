"""The fake internet: sites from a data file, their certificates, DNS, and the servers.

It lives in its own network namespace. httpbin.org is the real httpbin application
under waitress (one multithreaded process: it serves the 5 s /delay requests side by
side and ends at once on SIGTERM). HTTPS sites are served by an Envoy terminating TLS
with certificates from a CA made for the run (trustme), offering h2 and http/1.1 like
the real sites; dnsmasq answers for every site and for nothing else (no upstream).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dnslib import DNSRecord

from clusters.local import network
from clusters.protocol import ClusterError
from clusters.waiting import NotYet, wait_for

DEFAULT_SITES_FILE = Path(__file__).with_name("sites.yaml")
INTERNET_CIDR = ipaddress.ip_network("203.0.113.0/24")  # TEST-NET-3
DNS_ADDRESS = "203.0.113.53"
APPS = ("httpbin", "static")
PROTOCOLS = ("HTTP", "HTTPS")
# A DNS name: it also names the site's certificate files, so no path can hide in it.
HOSTNAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


def extension(name: str, message: str, **fields: Any) -> dict[str, Any]:
    """A named Envoy extension (filter, transport socket) with its typed config."""
    return {"name": name, "typed_config": {"@type": f"type.googleapis.com/{message}", **fields}}


def socket_address(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}


@dataclass(frozen=True)
class Endpoint:
    """One port a site serves."""

    port: int
    protocol: str  # HTTP or HTTPS
    app: str  # httpbin or static
    status: int = 200


@dataclass(frozen=True)
class Site:
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


class FakeInternet:
    """Files and process commands of the fake internet for one run."""

    def __init__(self, sites: Sequence[Site], directory: Path) -> None:
        self.sites = list(sites)
        self.directory = directory
        self.ca_bundle = directory / "ca.pem"

    @property
    def addresses(self) -> list[str]:
        return [DNS_ADDRESS, *(site.address for site in self.sites)]

    def prepare(self) -> None:
        """Write the CA, site certificates, DNS hosts file and the TLS server's config."""
        import trustme  # cryptography is slow to import; only the run's creator needs it

        self.directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="egress-conformance fake internet")
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        for site in self.sites:
            if any(e.protocol == "HTTPS" for e in site.serve):
                cert = ca.issue_cert(site.host)
                cert.cert_chain_pems[0].write_to_path(str(self._cert(site)))
                for pem in cert.cert_chain_pems[1:]:
                    pem.write_to_path(str(self._cert(site)), append=True)
                cert.private_key_pem.write_to_path(str(self._key(site)))
        hosts = "".join(f"{site.address} {site.host}\n" for site in self.sites)
        (self.directory / "hosts").write_text(hosts)
        (self.directory / "sites-envoy.json").write_text(json.dumps(self._envoy_bootstrap()))

    def _cert(self, site: Site) -> Path:
        return self.directory / f"{site.host}.crt"

    def _key(self, site: Site) -> Path:
        return self.directory / f"{site.host}.key"

    # Process commands -------------------------------------------------------------
    def dns_command(self) -> list[str]:
        return [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",  # no upstream: names we do not serve fail instead of leaking
            "--no-hosts",
            f"--addn-hosts={self.directory / 'hosts'}",
            f"--listen-address={DNS_ADDRESS}",
            "--bind-interfaces",
            f"--pid-file={self.directory / 'dnsmasq.pid'}",
            "--log-facility=-",
            "--user=root",
        ]

    def httpbin_commands(self) -> list[tuple[str, list[str]]]:
        commands = []
        for site in self.sites:
            for endpoint in site.serve:
                if endpoint.app == "httpbin":
                    commands.append(
                        (
                            f"httpbin-{site.host}-{endpoint.port}",
                            [
                                sys.executable,
                                "-m",
                                "waitress",
                                f"--listen={site.address}:{endpoint.port}",
                                "--threads=16",
                                "httpbin:app",
                            ],
                        )
                    )
        return commands

    def has_static_sites(self) -> bool:
        return any(e.app == "static" for site in self.sites for e in site.serve)

    def envoy_config(self) -> Path:
        return self.directory / "sites-envoy.json"

    def admin_socket(self) -> Path:
        return self.directory / "sites-admin.sock"

    def _envoy_bootstrap(self) -> dict[str, Any]:
        listeners = [
            _static_listener(site, endpoint, self._cert(site), self._key(site))
            for site in self.sites
            for endpoint in site.serve
            if endpoint.app == "static"
        ]
        return {
            "node": {"id": "fake-internet", "cluster": "fake-internet"},
            "admin": {"address": {"pipe": {"path": str(self.admin_socket())}}},
            "static_resources": {"listeners": listeners},
        }

    # Readiness --------------------------------------------------------------------
    def wait_ready(self, namespace: str, timeout: float, alive: Callable[[], None]) -> None:
        """Until DNS answers for every site and every served port accepts connections."""
        pending = {
            "DNS": [site.host for site in self.sites],
            "ports": [(s.address, e.port) for s in self.sites for e in s.serve],
        }

        def up() -> None:
            alive()
            pending["DNS"] = [host for host in pending["DNS"] if not _resolves(host)]
            pending["ports"] = [target for target in pending["ports"] if not _accepts(*target)]
            if pending["DNS"] or pending["ports"]:
                raise NotYet(f"DNS for {pending['DNS']}, ports {pending['ports']}")

        network.call_in(
            namespace,
            lambda: wait_for(up, timeout=timeout, what="the fake internet did not come up"),
        )


def _resolves(host: str) -> bool:
    try:
        reply = DNSRecord.parse(DNSRecord.question(host).send(DNS_ADDRESS, 53, timeout=0.2))
    except OSError:
        return False
    return bool(reply.rr)


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


def _static_listener(site: Site, endpoint: Endpoint, cert: Path, key: Path) -> dict[str, Any]:
    """A listener answering every request on one site's port with a fixed status."""
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
