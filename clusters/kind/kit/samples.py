"""The page's samples as local images, under the names Istio's sample manifests use.

``samples/sleep/sleep.yaml`` runs ``docker.io/curlimages/curl:8.16.0`` and
``samples/httpbin/httpbin.yaml`` runs ``docker.io/mccutchen/go-httpbin:v2.15.0``, both
with ``imagePullPolicy: IfNotPresent``. No registry is reachable, so images of exactly
those names are built here and ``kind load``-ed into the node: the manifests then run
unchanged, and the backend's code is the one it would be with a registry.

- curl: Debian's curl (bookworm's 7.88, not curl 8.16.0: the name is the manifest's, the
  content is what Debian serves) on the kit's slim base, as a ``curl_user`` like the
  upstream image, trusting the fake internet's CA in its system bundle;
- httpbin: go-httpbin built from ``github.com/mccutchen/go-httpbin/v2`` at the version
  the image tag names, listening on 8080 like the upstream image.

The names are read from the manifests (the project's copy of sleep.yaml, and httpbin.yaml
in the pinned ``istio.io/istio`` module), so a pin that moves a sample moves the image.

The slim base is shared by every image of the kit: the debootstrap bookworm rootfs with
curl, ca-certificates, iptables and iproute2, and the user ``istio-proxy`` (uid 1337)
that Istio's images have.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import fake_internet, imagekit, rootfs
from clusters.kind.kit.imagekit import KIT_HUB, ImageSpec
from clusters.protocol import ClusterError
from clusters.shared import cache, gobuild
from clusters.shared.gobuild import GoProgram, istio_build

SLEEP_MANIFEST = Path(__file__).resolve().parents[2] / "istio" / "samples" / "sleep.yaml"
HTTPBIN_SAMPLE = "samples/httpbin/httpbin.yaml"  # inside the istio.io/istio module
GO_HTTPBIN_REPOSITORY = "mccutchen/go-httpbin"
GO_HTTPBIN_MODULE = "github.com/mccutchen/go-httpbin"
GO_HTTPBIN_VERSION = "v2.15.0"  # what the pinned samples name; checked against them
SLIM_BASE = f"{KIT_HUB}/slim-base:bookworm"
SLIM_PACKAGES = ("ca-certificates", "curl", "iptables", "iproute2")
SLIM_ROOTFS = rootfs.Rootfs("slim", SLIM_PACKAGES)
# docker import leaves an image without PATH; pilot-agent finds iptables through it.
ISTIO_PROXY_UID = 1337
CURL_UID, CURL_GID = 100, 101  # curlimages/curl's curl_user and curl_group
CA_FILE = "egress-conformance-fake-internet.crt"

# Like the upstream image's entrypoint: arguments that start with '-' (or name no
# command) are curl's; anything else runs as given (``/bin/sleep infinity``).
CURL_ENTRYPOINT = b"""#!/bin/sh
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ] || ! command -v "$1" >/dev/null 2>&1; then
  set -- curl "$@"
fi
exec "$@"
"""


# --- the names the manifests use ----------------------------------------------------


def manifest_images(text: str) -> list[str]:
    """Every container image of the Deployments (and Pods) in a YAML stream, in order."""
    images = []
    for document in yaml.safe_load_all(text):
        if not isinstance(document, dict):
            continue
        spec: Any = document.get("spec") or {}
        if document.get("kind") != "Pod":
            spec = (spec.get("template") or {}).get("spec") or {}
        for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
            if isinstance(container, dict) and container.get("image"):
                images.append(str(container["image"]))
    return images


def _single_image(text: str, where: str) -> str:
    images = sorted(set(manifest_images(text)))
    if len(images) != 1:
        raise ClusterError(f"{where}: expected one container image, found {images or 'none'}")
    return images[0]


def curl_image_name() -> str:
    """The image of the project's sleep.yaml (Istio's samples/sleep/sleep.yaml)."""
    return _single_image(SLEEP_MANIFEST.read_text(), str(SLEEP_MANIFEST))


def istio_module_dir(istio_version: str | None = None) -> Path:
    """The pinned ``istio.io/istio`` module's source (downloaded into the module cache if
    it is not there yet)."""
    return gobuild.module_dir("istio.io/istio", istio_build(istio_version).module_version)


def httpbin_image_name(istio_version: str | None = None) -> str:
    """The image of samples/httpbin/httpbin.yaml in the pinned Istio module."""
    manifest = istio_module_dir(istio_version) / HTTPBIN_SAMPLE
    return _single_image(manifest.read_text(), f"istio.io/istio {HTTPBIN_SAMPLE}")


def go_httpbin_program(image: str | None = None) -> GoProgram:
    """go-httpbin's module at the version ``image`` names (default: the pinned one).

    ``docker.io/mccutchen/go-httpbin:v2.15.0`` -> ``github.com/mccutchen/go-httpbin/v2``
    at v2.15.0: the upstream image is built from that tag of that repository.
    """
    version = GO_HTTPBIN_VERSION
    if image is not None:
        match = re.fullmatch(
            rf"(?:docker\.io/)?{re.escape(GO_HTTPBIN_REPOSITORY)}:(v(\d+)\.\d+\.\d+)", image
        )
        if not match:
            raise ClusterError(
                f"the httpbin sample names {image!r}; the kit builds only "
                f"docker.io/{GO_HTTPBIN_REPOSITORY}:vX.Y.Z"
            )
        version = match[1]
    major = int(version[1:].split(".")[0])
    module = GO_HTTPBIN_MODULE if major < 2 else f"{GO_HTTPBIN_MODULE}/v{major}"
    return GoProgram("go-httpbin", module, version, packages=(f"{module}/cmd/go-httpbin",))


def go_httpbin_binary(image: str | None = None, *, quiet: bool = False) -> Path:
    """The go-httpbin binary (cached; built on first use)."""
    return gobuild.ensure_go_program(go_httpbin_program(image), quiet=quiet) / "go-httpbin"


# --- the slim base ------------------------------------------------------------------


def slim_base_dockerfile(rootfs_image: str) -> str:
    """The kit's base: the rootfs plus Istio's user (uid 1337). A ``RUN`` needs no
    network here: useradd is in every Debian rootfs."""
    return (
        f"FROM {rootfs_image}\n"
        f"ENV PATH={cache.SYSTEM_PATH}\n"
        f"RUN useradd --uid {ISTIO_PROXY_UID} --user-group --create-home "
        "--shell /bin/sh istio-proxy\n"
        'CMD ["/bin/bash"]\n'
    )


def slim_base(docker: DockerDaemon, *, quiet: bool = False) -> str:
    """The slim base image's tag, built (from part A's debootstrap rootfs) when missing."""
    rootfs_image = _rootfs_image(docker, quiet=quiet)
    spec = ImageSpec(SLIM_BASE, slim_base_dockerfile(rootfs_image), {}, "slim base")
    return imagekit.ensure_image(docker, spec, quiet=quiet)


def _rootfs_image(docker: DockerDaemon, *, quiet: bool) -> str:
    """The debootstrap bookworm minbase rootfs with SLIM_PACKAGES, imported into docker
    (part A's ``rootfs`` module, a variant of its own next to the node's)."""
    return rootfs.ensure_image(docker, SLIM_ROOTFS, quiet=quiet)


# --- the sample images --------------------------------------------------------------


def curl_dockerfile(base: str) -> str:
    return (
        f"FROM {base}\n"
        f"COPY {CA_FILE} /usr/local/share/ca-certificates/{CA_FILE}\n"
        "COPY entrypoint.sh /entrypoint.sh\n"
        # The sample's image (curlimages/curl, on Alpine) answers `time` in its sh, which
        # the page types there (`kubectl exec -it ... sh`, then `time curl ...`); Debian's
        # dash has no `time`, so sh is bash here, whose `time` prints the page's format.
        "RUN ln -sf bash /bin/sh \\\n"
        " && chmod 0755 /entrypoint.sh && update-ca-certificates --fresh >/dev/null \\\n"
        f" && groupadd --gid {CURL_GID} curl_group \\\n"
        f" && useradd --uid {CURL_UID} --gid {CURL_GID} --create-home --shell /bin/sh "
        "curl_user\n"
        "USER curl_user\n"
        "WORKDIR /home/curl_user\n"
        'ENTRYPOINT ["/entrypoint.sh"]\n'
        'CMD ["curl"]\n'
    )


def curl_spec(docker: DockerDaemon, *, quiet: bool = False) -> ImageSpec:
    """Debian's curl under the sleep sample's image name, trusting the kit's CA."""
    return ImageSpec(
        tag=curl_image_name(),
        dockerfile=curl_dockerfile(slim_base(docker, quiet=quiet)),
        files={
            CA_FILE: fake_internet.ca_bundle(),
            "entrypoint.sh": CURL_ENTRYPOINT,
        },
        what="the sleep sample's curl",
    )


def httpbin_dockerfile(base: str) -> str:
    return (
        f'FROM {base}\nCOPY go-httpbin /usr/bin/go-httpbin\nEXPOSE 8080\nCMD ["/bin/go-httpbin"]\n'
    )


def httpbin_spec(
    docker: DockerDaemon, istio_version: str | None = None, *, quiet: bool = False
) -> ImageSpec:
    """go-httpbin under the httpbin sample's image name."""
    name = httpbin_image_name(istio_version)
    return ImageSpec(
        tag=name,
        dockerfile=httpbin_dockerfile(slim_base(docker, quiet=quiet)),
        files={"go-httpbin": go_httpbin_binary(name, quiet=quiet)},
        what="the httpbin sample's go-httpbin",
    )


def ensure_images(
    docker: DockerDaemon, istio_version: str | None = None, *, quiet: bool = False
) -> list[str]:
    """Both sample images in the daemon; their names, for ``kind load docker-image``."""
    return [
        imagekit.ensure_image(docker, curl_spec(docker, quiet=quiet), quiet=quiet),
        imagekit.ensure_image(
            docker, httpbin_spec(docker, istio_version, quiet=quiet), quiet=quiet
        ),
    ]
