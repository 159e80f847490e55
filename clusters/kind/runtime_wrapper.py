#!/usr/bin/python3 -I
"""An OCI runtime for dockerd: runc, minus the capabilities this machine cannot grant.

The VM's capability bounding set lacks CAP_SYS_RESOURCE, so runc fails ``docker run
--privileged`` (kind's nodes) with "unable to apply caps: operation not permitted".
dockerd calls this program as its default runtime (``--add-runtime``); it removes every
capability missing from its own bounding set from the bundle's ``config.json`` (and, for
``runc exec``, from ``--process``' JSON) and then becomes runc with the same arguments.

Standard library only: docker.py copies this file out of the project and runs it with
the system Python, for every container operation.
"""

from __future__ import annotations

import json
import os
import sys

RUNC = "/usr/sbin/runc"
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
# capability(7) numbers, index = bit.
CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]


def unavailable_capabilities(status: str) -> set[str]:
    """Named capabilities whose bit is clear in ``CapBnd`` of a /proc/PID/status text."""
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split()[1], 16)
            return {name for bit, name in enumerate(CAPABILITIES) if not bounding >> bit & 1}
    return set()


def drop_capabilities(process: dict, drop: set[str]) -> bool:
    """Remove ``drop`` from every capability set of an OCI ``process`` object; True if
    anything changed."""
    capabilities = process.get("capabilities") or {}
    changed = False
    for name in CAPABILITY_SETS:
        present = capabilities.get(name)
        if present:
            kept = [cap for cap in present if cap not in drop]
            changed |= len(kept) != len(present)
            capabilities[name] = kept
    return changed


def json_to_edit(argv: list[str]) -> tuple[str, str] | None:
    """(path, kind) of the JSON this runc invocation reads: the bundle's config.json for
    ``create``/``run``, the ``--process`` file for ``exec``; None for anything else."""
    command = next((arg for arg in argv if arg in ("create", "run", "exec")), None)
    if command is None:
        return None
    option = ("--process", "-p") if command == "exec" else ("--bundle", "-b")
    value: str | None = "." if command != "exec" else None
    args = argv[argv.index(command) + 1 :]
    for index, arg in enumerate(args):
        if arg in option and index + 1 < len(args):
            value = args[index + 1]
        for name in option:
            if arg.startswith(f"{name}="):
                value = arg.split("=", 1)[1]
    if value is None:
        return None
    if command == "exec":
        return value, "process"
    return os.path.join(value, "config.json"), "config"


def edit(path: str, kind: str, drop: set[str]) -> None:
    """Rewrite the JSON at ``path`` without ``drop`` (in place, only when it changes)."""
    with open(path) as handle:
        document = json.load(handle)
    process = document if kind == "process" else document.get("process") or {}
    if drop_capabilities(process, drop):
        temporary = f"{path}.egress-tmp"
        with open(temporary, "w") as handle:
            json.dump(document, handle)
        os.replace(temporary, path)


def main() -> None:
    argv = sys.argv[1:]
    target = json_to_edit(argv)
    if target is not None:
        with open("/proc/self/status") as handle:
            drop = unavailable_capabilities(handle.read())
        if drop:
            edit(*target, drop)
    os.execv(RUNC, [RUNC, *argv])


if __name__ == "__main__":
    main()
