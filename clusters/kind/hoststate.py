"""The host state a Docker daemon and a kind cluster may disturb: record it, restore it.

The project's network rule is that the host's iptables, forwarding and links end as
they began. dockerd runs with every network-changing feature off, but the kubelet in a
kind node still writes some kernel-global sysctls (kernel.panic, kernel.panic_on_oops,
vm.overcommit_memory, ...), and docker creates /lib/modules for kind's bind mount when
the host has none. So the daemon records this state before it starts and puts it back
when it stops; ``differences()`` is what the end-to-end test checks.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clusters.protocol import ClusterError

# Kernel-global sysctls a kind node can change (network sysctls are per namespace).
# The kubelet's kernel tunables, kube-proxy's conntrack table, and what systemd's
# sysctl.d defaults inside a privileged node could write.
GLOBAL_SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.netfilter.nf_conntrack_max",
    "kernel.pid_max",
    "kernel.sysrq",
    "kernel.core_uses_pid",
    "kernel.core_pattern",
    "fs.protected_regular",
    "fs.protected_fifos",
    "fs.protected_hardlinks",
    "fs.protected_symlinks",
    "fs.inotify.max_user_watches",
    "fs.inotify.max_user_instances",
)
IP_FORWARD = "net.ipv4.ip_forward"
LIB_MODULES = Path("/lib/modules")
# Links that docker makes: the default bridge, network bridges, container veths.
DOCKER_LINK = re.compile(r"^(docker0|br-[0-9a-f]{12}|veth[0-9a-f]{7})$")
SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _run(argv: list[str], stdin: str | None = None) -> str:
    completed = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, env={"PATH": SBIN_PATH}
    )
    if completed.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed: {completed.stderr.strip()[:300]}")
    return completed.stdout


def normalize_iptables(dump: str) -> str:
    """An iptables-save dump without its timestamps and packet counters."""
    lines = []
    for line in dump.splitlines():
        if line.startswith("#"):
            continue
        lines.append(re.sub(r"\[\d+:\d+\]", "[0:0]", line))
    return "\n".join(lines)


def normalize_links(listing: str) -> list[str]:
    """``ip -o link`` lines, one per link, stripped: compared whole, as the rule says."""
    return [line.strip() for line in listing.splitlines() if line.strip()]


def link_names(lines: list[str]) -> list[str]:
    """The interface names of ``ip -o link`` lines (``veth0@if3`` -> ``veth0``)."""
    names = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def _sysctl(name: str) -> str | None:
    path = Path("/proc/sys") / name.replace(".", "/")
    try:
        return " ".join(path.read_text().split())
    except OSError:
        return None


@dataclass(frozen=True)
class HostState:
    """What the host looked like: every field is compared as text."""

    iptables: str
    ip6tables: str
    ip_forward: str | None
    links: list[str]
    sysctls: dict[str, str] = field(default_factory=dict)
    lib_modules_existed: bool = True

    @classmethod
    def record(cls) -> HostState:
        def save(command: str) -> str:
            return (
                normalize_iptables(_run([command])) if shutil.which(command, path=SBIN_PATH) else ""
            )

        sysctls = {name: value for name in GLOBAL_SYSCTLS if (value := _sysctl(name)) is not None}
        return cls(
            iptables=save("iptables-save"),
            ip6tables=save("ip6tables-save"),
            ip_forward=_sysctl(IP_FORWARD),
            links=normalize_links(_run(["ip", "-o", "link"])),
            sysctls=sysctls,
            lib_modules_existed=LIB_MODULES.exists(),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HostState:
        return cls(**json.loads(text))

    def differences(self, now: HostState) -> list[str]:
        """One line per way ``now`` differs from this record (empty: identical)."""
        found = []
        if now.iptables != self.iptables:
            found.append("iptables-save differs")
        if now.ip6tables != self.ip6tables:
            found.append("ip6tables-save differs")
        if now.ip_forward != self.ip_forward:
            found.append(f"{IP_FORWARD} is {now.ip_forward}, was {self.ip_forward}")
        if now.links != self.links:
            added = sorted(set(link_names(now.links)) - set(link_names(self.links)))
            gone = sorted(set(link_names(self.links)) - set(link_names(now.links)))
            found.append(f"ip -o link differs (added {added}, removed {gone})")
        for name, value in self.sysctls.items():
            if now.sysctls.get(name) != value:
                found.append(f"{name} is {now.sysctls.get(name)}, was {value}")
        if now.lib_modules_existed != self.lib_modules_existed:
            found.append(
                f"{LIB_MODULES} exists: {now.lib_modules_existed}, was {self.lib_modules_existed}"
            )
        return found


def restore(recorded: HostState, *, docker_links: set[str] | None = None) -> list[str]:
    """Put back what differs from ``recorded``; returns what was done, one line each.

    Links are removed only when they are docker's (by name, or listed in
    ``docker_links``) and were not there before: other work on the machine may own the
    rest. Anything that cannot be put back is raised as ClusterError at the end.
    """
    done: list[str] = []
    problems: list[str] = []
    now = HostState.record()
    for name, value in recorded.sysctls.items():
        if now.sysctls.get(name) != value:
            _write_sysctl(name, value, done, problems)
    if recorded.ip_forward is not None and now.ip_forward != recorded.ip_forward:
        _write_sysctl(IP_FORWARD, recorded.ip_forward, done, problems)
    before = set(link_names(recorded.links))
    for name in link_names(now.links):
        if name not in before and (DOCKER_LINK.match(name) or name in (docker_links or set())):
            try:
                _run(["ip", "link", "delete", name])
                done.append(f"deleted link {name}")
            except ClusterError as error:
                problems.append(str(error))
    for command, saved, current in (
        ("iptables", recorded.iptables, now.iptables),
        ("ip6tables", recorded.ip6tables, now.ip6tables),
    ):
        if saved != current:
            try:
                _restore_tables(command, saved, current)
                done.append(f"restored {command} rules")
            except ClusterError as error:
                problems.append(str(error))
    if not recorded.lib_modules_existed and LIB_MODULES.is_dir():
        try:
            LIB_MODULES.rmdir()  # only when empty: never remove real modules
            done.append(f"removed the empty {LIB_MODULES} docker created")
        except OSError as error:
            problems.append(f"could not remove {LIB_MODULES}: {error}")
    if problems:
        raise ClusterError("host state not fully restored: " + "; ".join(problems))
    return done


def _write_sysctl(name: str, value: str, done: list[str], problems: list[str]) -> None:
    try:
        (Path("/proc/sys") / name.replace(".", "/")).write_text(value + "\n")
        done.append(f"{name} = {value}")
    except OSError as error:
        problems.append(f"could not restore {name}={value}: {error}")


def _tables(dump: str) -> list[str]:
    return [line[1:].strip() for line in dump.splitlines() if line.startswith("*")]


def _restore_tables(command: str, saved: str, current: str) -> None:
    """Tables present in ``saved`` are restored wholesale; tables that appeared since
    are flushed and their chains deleted."""
    if saved.strip():
        _run([f"{command}-restore"], stdin=saved + "\n")
    for table in _tables(current):
        if table not in _tables(saved):
            _run([command, "-t", table, "-F"])
            _run([command, "-t", table, "-X"])
