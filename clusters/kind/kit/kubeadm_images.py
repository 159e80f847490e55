"""Control-plane images under exactly the names kubeadm asks for, built from our binaries.

kubeadm's static pods and add-ons name images like ``registry.k8s.io/kube-apiserver:vX``
and ``registry.k8s.io/etcd:3.6.x-0``; the kind node has them pre-loaded and pinned, so
nothing is ever pulled. The names come from ``kubeadm config images list`` of the very
kubeadm we built. Each image is ``FROM scratch`` plus one static binary, except
kube-proxy, which needs iptables and so sits on the debootstrap rootfs with a wrapper
that picks iptables-legacy or -nft the way the node already uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import imagekit
from clusters.kind.kit.imagekit import ImageSpec
from clusters.protocol import ClusterError
from clusters.shared import cache

ETC_PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
ETC_GROUP = b"root:x:0:\nnobody:x:65534:\n"
NSSWITCH = b"hosts: files dns\n"

# kube-proxy runs iptables-restore; the node's rules are either legacy or nft, and
# mixing them breaks Services. Decide once, by the kubelet's hint chain or by rule count,
# then point the alternatives at that variant and run the real command.
IPTABLES_WRAPPER = b"""#!/bin/sh
# Chooses iptables-legacy or iptables-nft by what the node already uses, then re-runs.
set -e
mode=nft
if iptables-legacy-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then
  mode=legacy
elif ! iptables-nft-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then
  legacy=$(iptables-legacy-save 2>/dev/null | grep -c '^-' || true)
  nft=$(iptables-nft-save 2>/dev/null | grep -c '^-' || true)
  if [ "${legacy:-0}" -gt "${nft:-0}" ]; then mode=legacy; fi
fi
for family in iptables ip6tables; do
  for suffix in "" -save -restore; do
    ln -sf "/usr/sbin/${family}-${mode}${suffix}" "/usr/sbin/${family}${suffix}"
  done
done
exec "$0" "$@"
"""


@dataclass(frozen=True)
class ControlPlaneImages:
    """The image names kubeadm lists, by component."""

    names: dict[str, str]  # component (kube-apiserver, etcd, coredns, pause...) -> image

    @property
    def pause(self) -> str:
        return self.names["pause"]

    def all(self) -> list[str]:
        return list(self.names.values())


def kubeadm_images(kubeadm: Path, kubernetes_version: str) -> ControlPlaneImages:
    """``kubeadm config images list --kubernetes-version V``, by component name."""
    out = cache.run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", kubernetes_version],
        what="kubeadm config images list",
        timeout=60,
    )
    names = {}
    for image in out.split():
        component = image.rsplit("/", 1)[-1].split(":", 1)[0]
        names[component] = image
    expected = {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}
    missing = (expected | {"etcd", "coredns", "pause"}) - set(names)
    if missing:
        raise ClusterError(f"kubeadm config images list lacks {', '.join(sorted(missing))}")
    return ControlPlaneImages(names)


def _scratch(tag: str, binary: Path, what: str, *, entrypoint: bool) -> ImageSpec:
    """FROM scratch + one static binary in /usr/local/bin (and the binary as ENTRYPOINT
    when the manifests give only ``args``, as CoreDNS's and the sandbox's do)."""
    name = binary.name
    lines = [
        "FROM scratch",
        "COPY etc/ /etc/",
        f"COPY {name} /usr/local/bin/{name}",
        f"ENV PATH={cache.SYSTEM_PATH}",
    ]
    if entrypoint:
        lines.append(f'ENTRYPOINT ["/usr/local/bin/{name}"]')
    files: dict[str, imagekit.ContextFile] = {
        name: binary,
        "etc/passwd": ETC_PASSWD,
        "etc/group": ETC_GROUP,
        "etc/nsswitch.conf": NSSWITCH,
    }
    return ImageSpec(tag, "\n".join(lines) + "\n", files, what)


def _kube_proxy(tag: str, binary: Path, base: str) -> ImageSpec:
    dockerfile = "\n".join(
        [
            f"FROM {base}",
            "COPY kube-proxy /usr/local/bin/kube-proxy",
            "COPY iptables-wrapper /usr/sbin/iptables-wrapper",
            "RUN chmod 0755 /usr/sbin/iptables-wrapper && for family in iptables ip6tables;"
            ' do for suffix in "" -save -restore;'
            ' do ln -sf iptables-wrapper "/usr/sbin/${family}${suffix}"; done; done',
            f"ENV PATH={cache.SYSTEM_PATH}",
        ]
    )
    files: dict[str, imagekit.ContextFile] = {
        "kube-proxy": binary,
        "iptables-wrapper": IPTABLES_WRAPPER,
    }
    return ImageSpec(tag, dockerfile + "\n", files, "kube-proxy on the Debian rootfs")


def image_specs(
    images: ControlPlaneImages,
    *,
    kubernetes: Path,
    etcd: Path,
    coredns: Path,
    pause: Path,
    base: str,
) -> list[ImageSpec]:
    """The specs of every image kubeadm lists; arguments are the Go build directories
    and the rootfs image for kube-proxy."""
    specs = [
        _scratch(images.names[name], kubernetes / name, name, entrypoint=False)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    specs.append(_kube_proxy(images.names["kube-proxy"], kubernetes / "kube-proxy", base))
    specs.append(_scratch(images.names["etcd"], etcd / "etcd", "etcd", entrypoint=False))
    specs.append(_scratch(images.names["coredns"], coredns / "coredns", "CoreDNS", entrypoint=True))
    specs.append(_scratch(images.names["pause"], pause / "pause", "pause", entrypoint=True))
    return specs


def build_images(
    daemon: DockerDaemon,
    kubernetes_version: str,
    built: Mapping[str, Path],
    base: str,
    *,
    quiet: bool = False,
) -> ControlPlaneImages:
    """The control-plane images from finished Go builds (by program name: kubernetes,
    etcd, coredns, pause) and the rootfs image ``base``, built where missing."""
    images = kubeadm_images(built["kubernetes"] / "kubeadm", kubernetes_version)
    specs = image_specs(
        images,
        kubernetes=built["kubernetes"],
        etcd=built["etcd"],
        coredns=built["coredns"],
        pause=built["pause"],
        base=base,
    )
    for spec in specs:
        imagekit.ensure_image(daemon, spec, quiet=quiet)
    return images
