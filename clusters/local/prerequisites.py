"""What the local backend needs from the machine, checked up front in one line."""

from __future__ import annotations

import os
import shutil

from clusters.protocol import PrerequisiteMissing

# command -> the Debian package that provides it
COMMANDS = {
    "ip": "iproute2",
    "iptables-restore": "iptables",
    "curl": "curl",
    "dnsmasq": "dnsmasq-base",
    "setpriv": "util-linux",
}


def check_prerequisites() -> None:
    """Raise PrerequisiteMissing naming everything missing and how to get it."""
    if os.geteuid() != 0:
        raise PrerequisiteMissing(
            "the local backend needs root (network namespaces and iptables): run it as root "
            "(sudo make conformance)"
        )
    missing = {
        command: package
        for command, package in COMMANDS.items()
        if not shutil.which(command, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    }
    if missing:
        raise PrerequisiteMissing(
            f"the local backend needs {', '.join(missing)}: "
            f"apt-get install {' '.join(sorted(set(missing.values())))} (or run `make setup`)"
        )
    if not os.path.exists("/proc/self/ns/net"):
        raise PrerequisiteMissing("the local backend needs a kernel with network namespaces")
