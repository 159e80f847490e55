"""The fake internets' certificates: a CA made for them (trustme) and each TLS site's leaf.

The local mesh makes a CA per run, the kind kit one per cache (its sample curl image
trusts it); both write the same files, so Envoy reads a site's chain and key the same
way on either backend. The keys are throwaway keys of fake sites.
"""

from __future__ import annotations

from pathlib import Path

import trustme


def new_ca(organization: str) -> trustme.CA:
    """A fresh CA whose certificate names ``organization``."""
    return trustme.CA(organization_name=organization)


def load_ca(cert: Path, key: Path) -> trustme.CA:
    """The CA written earlier by :func:`write_ca` (with its key)."""
    return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())


def write_ca(ca: trustme.CA, cert: Path, key: Path | None = None) -> None:
    """The CA's certificate (PEM) into ``cert``, and its private key, readable by its
    owner only, into ``key`` when it must outlive this process."""
    cert.write_bytes(ca.cert_pem.bytes())
    if key is not None:
        key.write_bytes(ca.private_key_pem.bytes())
        key.chmod(0o600)


def write_leaf(ca: trustme.CA, host: str, cert: Path, key: Path) -> None:
    """A certificate for ``host`` signed by ``ca``: its chain (leaf first) into ``cert``
    and its private key into ``key``, world-readable so that Envoy in a container under
    another user reads it."""
    leaf = ca.issue_cert(host)
    cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    key.chmod(0o644)
