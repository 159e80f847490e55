"""The page's external sites for a kind cluster: containers on the docker network ``kind``.

The kind cluster has no internet, so httpbin.org, www.google.com and edition.cnn.com are
served next to the node, as the local mesh serves them in its own namespace. The site
list is the shared one (``clusters/shared/sites.yaml``, or the file the user passes),
read by the same code, so both backends serve the same sites; only the addresses differ:
on the ``kind`` network (198.18.0.0/24, benchmarking space) each site gets a fixed address
from 198.18.0.50 on, in the order of the file.

- ``app: httpbin`` is the real httpbin application under waitress, exactly as the local
  mesh runs it (the same versions, pinned from this venv and installed by pip into
  bookworm's python3), one container per port. go-httpbin (Istio's httpbin sample)
  would not do: its ``/headers`` echoes each value as a list, and the page's steps
  compare ``Host: httpbin.org`` as httpbin.org writes it;
- ``app: static`` is Envoy answering every request with the site's status, terminating
  TLS with a certificate from the kit's CA and offering h2 and http/1.1, exactly the
  listeners the local mesh runs (``clusters.shared.sites.static_listener``).

Several containers of one site share its address (``--network container:NAME``). The CA
lives in the kit cache and is made once: the sample curl image trusts it in its system
bundle, so it must outlive any one cluster. Pods find the sites through a ``hosts`` block
in CoreDNS's Corefile (CoreDNS would otherwise forward to the docker network's gateway,
where nothing answers); ``patched_corefile`` returns it and the kind backend applies it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import trustme

from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import config, imagekit, rootfs
from clusters.kind.kit.imagekit import KIT_HUB, ImageSpec
from clusters.protocol import ClusterError, PrerequisiteMissing
from clusters.shared import cache, certificates
from clusters.shared.envoy import envoy_binary
from clusters.shared.sites import Site, load_sites, static_listener
from clusters.shared.waiting import NotYet, wait_for

KIND_NETWORK = config.NETWORK_NAME  # created by part A's config.ensure_network
KIND_SUBNET = ipaddress.ip_network(config.NODE_SUBNET)
FIRST_ADDRESS = ipaddress.ip_address("198.18.0.50")
LAST_ADDRESS = ipaddress.ip_address("198.18.0.99")  # 50 sites; kind's node takes .2 on
CONTAINER_PREFIX = "egress-kit-site-"
OWNER_LABEL = "egress-conformance.kit"
OWNER_VALUE = "fake-internet"
MOUNT = "/etc/fake-internet"  # certificates and Envoy's config, read-only in containers
COREFILE_BEGIN = "# egress-conformance fake internet (begin)"
COREFILE_END = "# egress-conformance fake internet (end)"
CA_ORGANIZATION = "egress-conformance fake internet (kind)"
READY_TIMEOUT_S = 30.0
COREDNS_CONFIGMAP = "coredns"
COREDNS_NAMESPACE = "kube-system"
COREDNS_DEPLOYMENT = "coredns"
COREFILE_ANNOTATION = "egress-conformance.io/corefile-sha256"


@dataclass(frozen=True)
class KindSite:
    """A site of the shared list, at its address on the kind network."""

    site: Site  # as clusters.shared.sites reads it (its address is the local one)
    address: str  # on the kind network

    @property
    def host(self) -> str:
        return self.site.host

    def at_kind_address(self) -> Site:
        """The same site with the kind address, for the listeners the local code writes."""
        return dataclasses.replace(self.site, address=self.address)


def kind_sites(path: Path | None = None) -> list[KindSite]:
    """The shared site list (or ``path``) with addresses on the kind network."""
    sites = load_sites(path)
    capacity = int(LAST_ADDRESS) - int(FIRST_ADDRESS) + 1
    if len(sites) > capacity:
        raise ClusterError(
            f"sites file {path or 'clusters/shared/sites.yaml'}: {len(sites)} sites, but the "
            f"kind network has addresses for {capacity} ({FIRST_ADDRESS}-{LAST_ADDRESS})"
        )
    return [
        KindSite(site, str(ipaddress.ip_address(int(FIRST_ADDRESS) + index)))
        for index, site in enumerate(sites)
    ]


# --- DNS: CoreDNS's hosts block -----------------------------------------------------


def hosts_block(sites: Sequence[KindSite], indent: str = "    ") -> str:
    """A CoreDNS ``hosts`` plugin block naming every site, between marker comments.

    ``fallthrough`` keeps every other name going to the plugins after it, as before.
    """
    inner = indent * 2
    lines = [f"{indent}{COREFILE_BEGIN}", f"{indent}hosts {{"]
    lines += [f"{inner}{site.address} {site.host}" for site in sites]
    lines += [f"{inner}ttl 30", f"{inner}fallthrough", f"{indent}}}", f"{indent}{COREFILE_END}"]
    return "\n".join(lines) + "\n"


def patched_corefile(corefile: str, sites: Sequence[KindSite]) -> str:
    """``corefile`` with the sites' ``hosts`` block in its root server block (``.:53``),
    before ``forward``; a block from an earlier call is replaced, so it is idempotent.

    The block goes before ``forward`` for readability; CoreDNS orders plugins itself
    (``hosts`` runs before ``forward`` wherever it is written).
    """
    text = _without_block(corefile)
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"^\s*\.(:53)?\s*\{\s*$", line)), None
    )
    if start is None:
        raise ClusterError("CoreDNS's Corefile has no root server block '.:53 {'")
    depth = 0
    insert_at = None
    for index in range(start, len(lines)):
        stripped = lines[index].split("#", 1)[0]
        if depth == 1 and insert_at is None and re.match(r"^\s*forward\s", stripped):
            insert_at = index
        depth += stripped.count("{") - stripped.count("}")
        if depth == 0:
            if insert_at is None:
                insert_at = index  # no forward: just before the block's closing brace
            break
    else:
        raise ClusterError("CoreDNS's Corefile: the root server block is not closed")
    indent = re.match(r"^(\s*)", lines[start + 1]).group(1) if start + 1 < len(lines) else ""
    block = hosts_block(sites, indent=indent or "    ")
    return "".join([*lines[:insert_at], block, *lines[insert_at:]])


def _without_block(corefile: str) -> str:
    pattern = re.compile(
        rf"^[ \t]*{re.escape(COREFILE_BEGIN)}\n.*?^[ \t]*{re.escape(COREFILE_END)}\n",
        re.MULTILINE | re.DOTALL,
    )
    return pattern.sub("", corefile)


def coredns_configmap_patch(corefile: str, sites: Sequence[KindSite]) -> dict[str, Any]:
    """CoreDNS's ConfigMap with the patched Corefile, from the cluster's current one.

    It names the object in full (apiVersion, kind, metadata), so the same document works
    as a server-side apply (only ``data.Corefile`` is claimed; other keys stay) and as a
    merge patch (``kubectl -n kube-system patch configmap coredns --type merge -p``).
    CoreDNS's ``reload`` plugin picks it up within about 45 s; restarting the coredns
    Deployment applies it at once.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": COREDNS_CONFIGMAP, "namespace": COREDNS_NAMESPACE},
        "data": {"Corefile": patched_corefile(corefile, sites)},
    }


def coredns_patches(corefile: str, sites: Sequence[KindSite]) -> list[dict[str, Any]]:
    """What to server-side apply, in this order, so the cluster's CoreDNS names the sites
    at once: its ConfigMap with the sites, then the rollout of that Corefile."""
    configmap = coredns_configmap_patch(corefile, sites)
    return [configmap, coredns_restart_patch(configmap["data"]["Corefile"])]


def coredns_restart_patch(corefile: str) -> dict[str, Any]:
    """CoreDNS's Deployment with an annotation on its pod template naming the Corefile's
    digest: applied (server-side) after the ConfigMap, it rolls CoreDNS out once per
    change of the Corefile, so the sites resolve in seconds instead of after ``reload``'s
    30-45 s, and applying it again with the same Corefile changes nothing."""
    digest = hashlib.sha256(corefile.encode()).hexdigest()[:16]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": COREDNS_DEPLOYMENT, "namespace": COREDNS_NAMESPACE},
        "spec": {"template": {"metadata": {"annotations": {COREFILE_ANNOTATION: digest}}}},
    }


# --- the CA and the sites' files ----------------------------------------------------


def ca_dir() -> Path:
    return cache.cache_root() / "fake-internet-ca"


def ca_bundle() -> Path:
    """The kit CA's certificate (PEM), made on first use; what sample images trust."""
    return ensure_ca()[0]


def ensure_ca() -> tuple[Path, Path]:
    """The kit's CA (certificate, private key), created once and kept in the cache.

    It is written to a staging directory and renamed into place, so a crash leaves either
    a complete CA or none; the key is readable by its owner only.
    """
    directory = ca_dir()
    cert, key = directory / "ca.pem", directory / "ca.key"
    if cert.is_file() and key.is_file():
        return cert, key
    with cache.locked("fake-internet-ca"):
        if not (cert.is_file() and key.is_file()):
            with cache.staging_dir(directory) as staging:
                ca = certificates.new_ca(CA_ORGANIZATION)
                certificates.write_ca(ca, staging / "ca.pem", staging / "ca.key")
    return cert, key


def load_ca() -> trustme.CA:
    """The kit's CA with its key, to sign the sites' certificates."""
    return certificates.load_ca(*ensure_ca())


def write_site_files(sites: Sequence[KindSite], directory: Path) -> None:
    """Into ``directory`` (mounted at /etc/fake-internet): each TLS site's certificate
    chain and key, and Envoy's static config for the ``static`` endpoints."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = load_ca()
    for kind_site in sites:
        if any(endpoint.protocol == "HTTPS" for endpoint in kind_site.site.serve):
            certificates.write_leaf(
                ca,
                kind_site.host,
                directory / f"{kind_site.host}.crt",
                directory / f"{kind_site.host}.key",
            )
        config = envoy_config(kind_site)
        if config is not None:
            (directory / f"{kind_site.host}.envoy.json").write_text(json.dumps(config))


def envoy_config(kind_site: KindSite) -> dict[str, Any] | None:
    """Envoy's bootstrap for a site's ``static`` endpoints (None when it has none): the
    local mesh's listeners at the kind address, with paths inside the container."""
    site = kind_site.at_kind_address()
    listeners = [
        static_listener(
            site,
            endpoint,
            Path(MOUNT) / f"{site.host}.crt",
            Path(MOUNT) / f"{site.host}.key",
        )
        for endpoint in site.serve
        if endpoint.app == "static"
    ]
    if not listeners:
        return None
    return {
        "node": {"id": f"fake-{site.host}", "cluster": "fake-internet"},
        "static_resources": {"listeners": listeners},
    }


# --- the image and the containers ---------------------------------------------------


INTERNET_ROOTFS = rootfs.Rootfs("internet", ("ca-certificates", "curl", "python3"))
HTTPBIN_DISTRIBUTIONS = ("httpbin", "waitress")  # what the local mesh's fake internet runs
PYTHON_TARGET = "/usr/local/lib/python3.11/dist-packages"  # bookworm's python3 reads it


def httpbin_constraints() -> list[str]:
    """``name==version`` of every distribution in this interpreter's environment: pip
    then installs httpbin and waitress with exactly the versions the local mesh runs."""
    pins = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name and distribution.version and name.lower() != "egress-conformance":
            pins[name.lower()] = f"{name}=={distribution.version}"
    missing = [name for name in HTTPBIN_DISTRIBUTIONS if name not in pins]
    if missing:
        raise PrerequisiteMissing(
            f"{', '.join(missing)} missing from the venv: pip install -e . (make setup does it)"
        )
    return sorted(pins.values(), key=str.lower)


def httpbin_archive(*, quiet: bool = False) -> Path:
    """A tar of httpbin, waitress and their dependencies, installed for Python 3.11 by
    pip (wheels from PyPI, pinned to this venv's versions); the image ADDs it into
    bookworm's python3. Cached per set of versions."""
    if sys.version_info[:2] != (3, 11):
        raise PrerequisiteMissing(
            f"the fake internet's httpbin is installed for Debian bookworm's Python 3.11; "
            f"this venv runs {sys.version_info[0]}.{sys.version_info[1]}"
        )
    constraints = httpbin_constraints()
    wanted = [pin for pin in constraints if pin.split("==")[0].lower() in HTTPBIN_DISTRIBUTIONS]
    digest = hashlib.sha256("\n".join(constraints).encode()).hexdigest()[:12]
    target = cache.cache_root() / "python" / f"httpbin-{digest}.tar"
    if target.is_file():
        return target
    with cache.locked("python-httpbin"):
        if target.is_file():
            return target
        with (
            cache.progress("httpbin for the fake internet (pip)", quiet=quiet) as note,
            tempfile.TemporaryDirectory(dir=target.parent.parent) as work,
        ):
            site = Path(work) / "site"
            (Path(work) / "constraints.txt").write_text("\n".join(constraints) + "\n")
            cache.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-compile",
                    "--only-binary=:all:",
                    "--target",
                    str(site),
                    "--constraint",
                    str(Path(work) / "constraints.txt"),
                    *wanted,
                ],
                what="pip install httpbin for the fake internet",
                note=note,
                timeout=900,
            )
            for leftover in site.glob("bin"):
                shutil.rmtree(leftover)
            temporary = Path(work) / "httpbin.tar"
            with tarfile.open(temporary, "w") as archive:
                for path in sorted(site.rglob("*")):
                    info = archive.gettarinfo(str(path), str(path.relative_to(site)))
                    info.uid = info.gid = 0
                    info.uname = info.gname = "root"
                    info.mtime = 0
                    if path.is_file():
                        with path.open("rb") as handle:
                            archive.addfile(info, handle)
                    else:
                        archive.addfile(info)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, target)
    return target


def image_spec(docker: DockerDaemon, *, quiet: bool = False) -> ImageSpec:
    """Envoy (static sites) and the httpbin application under waitress (httpbin), on a
    bookworm rootfs with python3: the same programs as the local mesh's fake internet."""
    base = rootfs.ensure_image(docker, INTERNET_ROOTFS, quiet=quiet)
    dockerfile = (
        f"FROM {base}\n"
        f"ENV PATH={cache.SYSTEM_PATH}\n"
        "COPY envoy /usr/local/bin/envoy\n"
        f"ADD httpbin.tar {PYTHON_TARGET}/\n"
        "RUN python3 -c 'import httpbin, waitress'\n"
        "LABEL org.opencontainers.image.description="
        '"egress-conformance fake internet: Envoy (static sites) and httpbin (waitress)"\n'
    )
    return ImageSpec(
        tag=image_tag(),
        dockerfile=dockerfile,
        files={
            "envoy": Path(envoy_binary()),
            "httpbin.tar": httpbin_archive(quiet=quiet),
        },
        what="fake internet",
    )


def ensure_image(docker: DockerDaemon, *, quiet: bool = False) -> str:
    """The sites' image, built where missing (the kit builds it with the others)."""
    return imagekit.ensure_image(docker, image_spec(docker, quiet=quiet), quiet=quiet)


def image_tag() -> str:
    return f"{KIT_HUB}/fake-internet:bookworm"


@dataclass(frozen=True)
class SiteContainer:
    """One container of a site: its name and ``docker run`` arguments after ``run``."""

    name: str
    args: tuple[str, ...]


def container_name(host: str, role: str) -> str:
    return f"{CONTAINER_PREFIX}{host}-{role}"


def container_plan(sites: Sequence[KindSite], image: str, directory: Path) -> list[SiteContainer]:
    """The containers that serve ``sites``, in start order. The first container of a site
    holds its address on the kind network; the others join its network namespace."""
    plan = []
    for kind_site in sites:
        site = kind_site.site
        roles: list[tuple[str, list[str]]] = []
        if any(endpoint.app == "static" for endpoint in site.serve):
            roles.append(
                (
                    "envoy",
                    [
                        "/usr/local/bin/envoy",
                        "--config-path",
                        f"{MOUNT}/{site.host}.envoy.json",
                        "--disable-hot-restart",
                        "--concurrency",
                        "1",
                        "--log-level",
                        "warning",
                    ],
                )
            )
        for endpoint in site.serve:
            if endpoint.app == "httpbin":
                roles.append(
                    (
                        f"httpbin-{endpoint.port}",
                        [
                            "/usr/bin/python3",
                            "-m",
                            "waitress",
                            f"--listen={kind_site.address}:{endpoint.port}",
                            "--threads=16",
                            "httpbin:app",
                        ],
                    )
                )
        first = None
        for role, command in roles:
            name = container_name(site.host, role)
            args = [
                "--detach",
                "--name",
                name,
                "--label",
                f"{OWNER_LABEL}={OWNER_VALUE}",
                "--label",
                f"{OWNER_LABEL}.site={site.host}",
                "--restart",
                "no",
                "--volume",
                f"{directory}:{MOUNT}:ro",
            ]
            if first is None:
                args += [
                    "--network",
                    KIND_NETWORK,
                    "--ip",
                    kind_site.address,
                    "--hostname",
                    site.host,
                ]
                first = name
            else:
                args += ["--network", f"container:{first}"]
            args += ["--entrypoint", command[0], image, *command[1:]]
            plan.append(SiteContainer(name, tuple(args)))
    return plan


def check_network(docker: DockerDaemon) -> None:
    """The ``kind`` network exists and is the run's 198.18.0.0/24, so the sites' fixed
    addresses are inside it and nowhere else."""
    subnets = config.network_subnets(docker)
    if subnets is None:
        raise PrerequisiteMissing(
            f"the docker network {KIND_NETWORK!r} is missing: create it (subnet "
            f"{KIND_SUBNET}) or the kind cluster first"
        )
    if str(KIND_SUBNET) not in subnets:
        raise ClusterError(
            f"the docker network {KIND_NETWORK!r} has subnets {subnets or 'none'}, not "
            f"{KIND_SUBNET}: the fake internet's addresses would be outside the run"
        )


def state_dir() -> Path:
    return cache.cache_root() / "fake-internet"


def start(
    docker: DockerDaemon,
    sites: Sequence[KindSite] | None = None,
    *,
    directory: Path | None = None,
    quiet: bool = False,
) -> list[KindSite]:
    """Serve ``sites`` (the shared list by default) on the kind network, replacing any
    site containers from before; returns once every port accepts connections."""
    sites = list(sites) if sites is not None else kind_sites()
    check_network(docker)
    image = ensure_image(docker, quiet=quiet)
    stop(docker)
    directory = directory or state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    write_site_files(sites, directory)
    try:
        for container in container_plan(sites, image, directory):
            docker.docker("run", *container.args, what=f"docker run {container.name}", timeout=120)
        wait_ready(docker, sites)
    except BaseException:
        stop(docker)
        raise
    if not quiet:
        cache.say(
            "fake internet on the kind network: "
            + ", ".join(f"{site.host}={site.address}" for site in sites)
        )
    return sites


def running(docker: DockerDaemon) -> list[str]:
    """Names of the fake internet's containers (ours only, found by their label)."""
    out = docker.docker(
        "ps",
        "--all",
        "--filter",
        f"label={OWNER_LABEL}={OWNER_VALUE}",
        "--format",
        "{{.Names}}",
        what="docker ps",
        timeout=60,
    )
    return sorted(name for name in out.split() if name.startswith(CONTAINER_PREFIX))


def stop(docker: DockerDaemon) -> list[str]:
    """Remove the fake internet's containers; returns their names. Helpers (which join a
    site's network namespace) go before the site's first container."""
    names = running(docker)
    if names:
        docker.docker(
            "rm", "--force", *reversed(names), what="docker rm fake internet", timeout=120
        )
    return names


def wait_ready(
    docker: DockerDaemon, sites: Sequence[KindSite], timeout: float = READY_TIMEOUT_S
) -> None:
    """Until every site's ports accept connections, probed from a throwaway container on
    the kind network (the host has no route into it: dockerd runs with --bridge=none)."""
    targets = [(site.address, endpoint.port) for site in sites for endpoint in site.site.serve]
    script = "; ".join(
        f"(exec 3<>/dev/tcp/{address}/{port}) 2>/dev/null && echo {address}:{port}"
        for address, port in targets
    )
    image = image_tag()

    def up() -> None:
        out = docker.docker(
            "run",
            "--rm",
            "--network",
            KIND_NETWORK,
            "--label",
            f"{OWNER_LABEL}=probe",
            "--entrypoint",
            "/bin/bash",
            image,
            "-c",
            script,
            what="probe the fake internet",
            timeout=60,
        )
        missing = sorted({f"{a}:{p}" for a, p in targets} - set(out.split()))
        if missing:
            raise NotYet(", ".join(missing))

    wait_for(
        up,
        timeout=timeout,
        what="the fake internet's sites did not accept connections",
        interval=0.5,
        max_interval=2.0,
    )
