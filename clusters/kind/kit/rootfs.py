"""A Debian root filesystem from debootstrap, cached as a tarball and as a docker image.

No base image can be pulled, so every image the kit builds starts from
``debootstrap --variant=minbase bookworm`` run against the mirror apt already uses here.
The tarball is cached per (suite, mirror, package set); ``docker import`` turns it into
an image tagged by the same key, so a warm call is a stamp read and an image lookup.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clusters.kind.docker import DockerDaemon
from clusters.protocol import PrerequisiteMissing
from clusters.shared import cache

SUITE = "bookworm"
FALLBACK_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = Path("/etc/apt")
IMAGE_REPOSITORY = "egress-conformance/rootfs"

# What kind's base image installs on top of Debian, plus runc (kind builds its own).
NODE_PACKAGES = (
    "systemd",
    "dbus",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "socat",
    "e2fsprogs",
    "runc",
)


@dataclass(frozen=True)
class Rootfs:
    """A debootstrap variant: ``name`` for humans, ``packages`` on top of minbase."""

    name: str
    packages: tuple[str, ...]
    suite: str = SUITE

    def key(self, mirror: str) -> dict[str, str]:
        return {"suite": self.suite, "mirror": mirror, "packages": ",".join(self.packages)}

    def digest(self, mirror: str) -> str:
        return hashlib.sha256(repr(sorted(self.key(mirror).items())).encode()).hexdigest()[:12]


NODE_ROOTFS = Rootfs("node", NODE_PACKAGES)


def apt_mirror(sources: Path = APT_SOURCES, suite: str = SUITE) -> str:
    """The Debian mirror apt uses for ``suite`` (one-line or deb822 sources)."""
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():  # deb [options] URI SUITE COMPONENTS...
            parts = re.sub(r"\[[^\]]*\]", "", line).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                return parts[1].rstrip("/")
        for stanza in re.split(r"\n\s*\n", text):  # deb822: Types/URIs/Suites fields
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    name, value = line.split(":", 1)
                    fields[name.strip().lower()] = value.split()
            wanted = "deb" in fields.get("types", []) and suite in fields.get("suites", [])
            if wanted and fields.get("uris"):
                return fields["uris"][0].rstrip("/")
    return FALLBACK_MIRROR


def ensure_debootstrap() -> str:
    """debootstrap, installed with apt-get when missing."""
    return cache.ensure_installed(
        "debootstrap",
        "debootstrap",
        fix="install debootstrap yourself (apt-get install debootstrap)",
    )


def tarball_path(rootfs: Rootfs, mirror: str) -> Path:
    return cache.cache_root() / "rootfs" / f"{rootfs.name}-{rootfs.digest(mirror)}.tar"


def ensure_tarball(rootfs: Rootfs = NODE_ROOTFS, *, quiet: bool = False) -> Path:
    """The cached rootfs tarball, running debootstrap first when it is missing."""
    mirror = apt_mirror()
    target = tarball_path(rootfs, mirror)
    if target.is_file():
        return target
    if os.geteuid() != 0:
        raise PrerequisiteMissing("debootstrap needs root: run as root")
    debootstrap = ensure_debootstrap()
    with cache.locked(f"rootfs-{rootfs.name}"):
        if target.is_file():
            return target
        what = f"rootfs {rootfs.name} (debootstrap --variant=minbase {rootfs.suite})"
        with cache.progress(what, quiet=quiet) as note:
            _debootstrap(debootstrap, rootfs, mirror, target, note)
    return target


def _debootstrap(
    debootstrap: str, rootfs: Rootfs, mirror: str, target: Path, note: Callable[[str], None]
) -> None:
    for stale in [
        *cache.stale_leftovers(target.parent, target.stem),
        *cache.stale_leftovers(target.parent, target.name),
    ]:
        if stale.is_dir():
            remove_tree(stale)
        else:
            stale.unlink(missing_ok=True)
    work = target.with_name(f".{target.stem}.{os.getpid()}.work")
    remove_tree(work)
    work.mkdir(parents=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        argv = [debootstrap, "--variant=minbase"]
        if rootfs.packages:
            argv.append(f"--include={','.join(rootfs.packages)}")
        argv += [rootfs.suite, str(work), mirror]
        env = {**os.environ, "PATH": cache.SYSTEM_PATH, "DEBIAN_FRONTEND": "noninteractive"}
        cache.run(argv, what="debootstrap", env=env, note=note, timeout=1800)
        _unmount_under(work)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (work / leftover).glob("*"):
                if entry.is_file():
                    entry.unlink()
        cache.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(work), "-cf", str(temporary), "."],
            what="tar the rootfs",
            note=note,
        )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
        remove_tree(work)


def _unmount_under(path: Path) -> None:
    """Unmount whatever debootstrap (or an interrupted one) left mounted in ``path``."""
    prefix = str(path.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mountpoint in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], check=False, capture_output=True)


def remove_tree(path: Path) -> None:
    """rmtree that first unmounts what is mounted inside (a chroot's /proc, /sys)."""
    if path.exists():
        _unmount_under(path)
        shutil.rmtree(path, ignore_errors=True)


def image_name(rootfs: Rootfs = NODE_ROOTFS) -> str:
    return f"{IMAGE_REPOSITORY}-{rootfs.name}:{rootfs.digest(apt_mirror())}"


def ensure_image(daemon: DockerDaemon, rootfs: Rootfs = NODE_ROOTFS, *, quiet: bool = False) -> str:
    """The rootfs as a docker image (``docker import``), tagged by its key; returns the
    tag. Other images build ``FROM`` it with ``docker build --network none``."""
    tag = image_name(rootfs)
    if daemon.image_id(tag):
        return tag
    tarball = ensure_tarball(rootfs, quiet=quiet)
    with cache.locked(f"image-rootfs-{rootfs.name}"):
        if not daemon.image_id(tag):
            with cache.progress(f"image {tag} (docker import)", quiet=quiet):
                daemon.docker("import", str(tarball), tag, what="docker import", timeout=900)
    return tag
