"""The local mesh's fake internet: the shared sites (clusters.shared.sites) with their
certificates, DNS, and the servers, as processes.

It lives in its own network namespace. httpbin.org is the real httpbin application
under waitress (one multithreaded process: it serves the 5 s /delay requests side by
side and ends at once on SIGTERM). HTTPS sites are served by an Envoy terminating TLS
with certificates from a CA made for the run (trustme), offering h2 and http/1.1 like
the real sites; dnsmasq answers for every site and for nothing else (no upstream).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dnslib import DNSRecord

from clusters.local import network
from clusters.shared.sites import DNS_ADDRESS, Site, static_listener
from clusters.shared.waiting import NotYet, wait_for

CA_ORGANIZATION = "egress-conformance fake internet"


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
        # cryptography is slow to import; only the run's creator needs it, not kubectl's
        from clusters.shared import certificates

        self.directory.mkdir(parents=True, exist_ok=True)
        ca = certificates.new_ca(CA_ORGANIZATION)
        certificates.write_ca(ca, self.ca_bundle)
        for site in self.sites:
            if any(e.protocol == "HTTPS" for e in site.serve):
                certificates.write_leaf(ca, site.host, self._cert(site), self._key(site))
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

    def httpbin_servers(self) -> list[tuple[str, list[str]]]:
        """Each httpbin endpoint's process name and waitress's arguments for it (as
        ``python -m waitress ARGUMENTS httpbin:app`` takes them)."""
        return [
            (
                f"httpbin-{site.host}-{endpoint.port}",
                [f"--listen={site.address}:{endpoint.port}", "--threads=16"],
            )
            for site in self.sites
            for endpoint in site.serve
            if endpoint.app == "httpbin"
        ]

    def has_static_sites(self) -> bool:
        return any(e.app == "static" for site in self.sites for e in site.serve)

    def envoy_config(self) -> Path:
        return self.directory / "sites-envoy.json"

    def admin_socket(self) -> Path:
        return self.directory / "sites-admin.sock"

    def _envoy_bootstrap(self) -> dict[str, Any]:
        listeners = [
            static_listener(site, endpoint, self._cert(site), self._key(site))
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
