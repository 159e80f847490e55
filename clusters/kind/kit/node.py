"""The kind node image, assembled the way kind's own ``build node-image`` does it.

Two stages, as in kind:
- a base image (kind's ``kindest/base``): the debootstrap rootfs plus kind's base files
  from the ``sigs.k8s.io/kind`` module (entrypoint, systemd units, containerd config,
  ``/kind/*``, read from the module cache at build time), containerd 2.x, crictl and the
  CNI plugins, with the systemd unit pruning of kind's base Dockerfile;
- the node: a container of the base image (``--network none``) gets kubeadm, kubelet,
  kubectl, ``/kind/version`` and manifests, and a bridge CNI conflist; its containerd
  imports every control-plane image (pinned, never pulled); ``docker commit`` with
  kind's entrypoint.

Two containerd settings differ from kind's on this machine: the sandbox image is
kubeadm's pause tag, and ``restrict_oom_score_adj = true`` because the VM's bounding set
lacks CAP_SYS_RESOURCE.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from clusters.kind.docker import DockerDaemon, docker_cli
from clusters.kind.kit import config, imagekit, kubeadm_images, programs, rootfs
from clusters.kind.kit.imagekit import ImageSpec
from clusters.protocol import ClusterError
from clusters.shared import cache
from clusters.shared.gobuild import GoProgram, ensure_go_program, module_dir

NODE_REPOSITORY = "egress-conformance.local/kind-node"
BASE_REPOSITORY = "egress-conformance.local/kind-base"
PRELOADED_REPOSITORY = "egress-conformance.local/kind-node-preloaded"
RECIPE = "1"  # bump when this module changes what goes into the images
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
BUILD_CONTAINER_PREFIX = "egress-kind-build-"
KIND_ENTRYPOINT = '["/usr/local/bin/entrypoint", "/sbin/init"]'

# Kind's defaults manifests: no default CNI image is built (the node's bridge conflist
# replaces kindnet), and the StorageClass is kind's legacy host-path one, with no
# provisioner image to pull.
DEFAULT_CNI_MANIFEST = "apiVersion: v1\nkind: List\nitems: []\n"
DEFAULT_STORAGE_MANIFEST = """apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
"""

# kind's base Dockerfile, steps after its COPYs, written for the debootstrap rootfs.
BASE_DOCKERFILE = """FROM {rootfs}
COPY files/ /
COPY bin/ /usr/local/bin/
COPY cni/ /opt/cni/bin/
RUN chmod -R u+w,a+rX /etc /kind /usr/local/bin \\
 && chmod 0755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /opt/cni/bin/* \\
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
 && ln -sf /usr/lib/systemd/systemd /sbin/init \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests \\
 && ctr oci spec \\
    | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {{"path": \\
          "/kind/bin/mount-product-files.sh"}}' \\
    | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \\
 && containerd --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT {entrypoint}
"""


@dataclass(frozen=True)
class NodeImage:
    """The built node image and what it was made of."""

    image: str
    kubernetes_version: str
    control_plane_images: list[str]


def kind_base_files(kind_version: str = programs.KIND_VERSION) -> Path:
    """``images/base/files`` of the kind module, from the module cache (never copied into
    the repository)."""
    files = module_dir("sigs.k8s.io/kind", kind_version) / "images" / "base" / "files"
    if not files.is_dir():
        raise ClusterError(f"sigs.k8s.io/kind@{kind_version} has no images/base/files")
    return files


def base_image_spec(rootfs_image: str, containerd: Path, crictl: Path, cni: Path) -> ImageSpec:
    """kind's base image as an ImageSpec (a label with its content key is its stamp)."""
    context: dict[str, imagekit.ContextFile] = {}
    source = kind_base_files()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and relative.parts[0] != "LICENSES":
            context[f"files/{relative}"] = path
    for name in ("containerd", "containerd-shim-runc-v2", "ctr"):
        context[f"bin/{name}"] = containerd / name
    context["bin/crictl"] = crictl / "crictl"
    for plugin in programs.CNI_PLUGINS:
        name = plugin.rsplit("/", 1)[-1]
        context[f"cni/{name}"] = cni / name
    dockerfile = BASE_DOCKERFILE.format(rootfs=rootfs_image, entrypoint=KIND_ENTRYPOINT)
    digest = hashlib.sha256(f"{rootfs_image}{containerd}{crictl}{cni}".encode()).hexdigest()
    tag = f"{BASE_REPOSITORY}:{programs.KIND_VERSION}-{digest[:12]}"
    return ImageSpec(tag, dockerfile, context, f"kind base ({programs.KIND_VERSION} files)")


def node_tag(kubernetes_version: str, inputs: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    return f"{NODE_REPOSITORY}:{kubernetes_version}-{digest}"


def build_all(
    daemon: DockerDaemon,
    kubernetes_version: str = programs.KUBERNETES_VERSION,
    *,
    quiet: bool = False,
) -> NodeImage:
    """Everything the node needs, then the node: Go builds two at a time (the machine has
    two cores) while debootstrap, which waits on the network and dpkg, runs beside them."""
    wanted: list[GoProgram] = [*programs.node_programs(kubernetes_version), programs.kind()]
    with ThreadPoolExecutor(max_workers=1) as side, ThreadPoolExecutor(max_workers=2) as pool:
        rootfs_future = side.submit(rootfs.ensure_image, daemon, quiet=quiet)
        built: dict[str, Future[Path]] = {
            program.name: pool.submit(ensure_go_program, program, quiet=quiet) for program in wanted
        }
        dirs = {name: future.result() for name, future in built.items()}
        rootfs_image = rootfs_future.result()
    return assemble(daemon, kubernetes_version, dirs, rootfs_image, quiet=quiet)


def assemble(
    daemon: DockerDaemon,
    kubernetes_version: str,
    dirs: dict[str, Path],
    rootfs_image: str,
    *,
    quiet: bool = False,
) -> NodeImage:
    """Base image, control-plane images, node image, from finished Go builds."""
    base = imagekit.ensure_image(
        daemon,
        base_image_spec(rootfs_image, dirs["containerd"], dirs["crictl"], dirs["cni-plugins"]),
        quiet=quiet,
    )
    images = kubeadm_images.build_images(
        daemon, kubernetes_version, dirs, rootfs_image, quiet=quiet
    )
    inputs = {
        "recipe": RECIPE,
        "base": daemon.image_id(base) or base,
        "kubernetes": str(dirs["kubernetes"]),
        **{image: daemon.image_id(image) or image for image in images.all()},
    }
    tag = node_tag(kubernetes_version, inputs)  # the tag names the inputs: its image is them
    if daemon.image_id(tag) is None:
        with cache.locked(f"node-{kubernetes_version}"):
            if daemon.image_id(tag) is None:  # not built by another process meanwhile
                with cache.progress(f"node image {tag}", quiet=quiet) as note:
                    _build_node(
                        daemon, base, tag, kubernetes_version, dirs["kubernetes"], images, note
                    )
    return NodeImage(tag, kubernetes_version, images.all())


def _build_node(
    daemon: DockerDaemon,
    base: str,
    tag: str,
    kubernetes_version: str,
    kubernetes: Path,
    images: kubeadm_images.ControlPlaneImages,
    note: Callable[[str], None],
) -> None:
    """kind's node build: run the base, copy in, import images into containerd, commit.
    The image is tagged only by the final commit, so a failure leaves no node image."""
    with _build_container(daemon, base) as name:
        for binary in ("kubeadm", "kubelet", "kubectl"):
            daemon.docker("cp", str(kubernetes / binary), f"{name}:/usr/bin/{binary}")
        files = {
            "/kind/version": kubernetes_version + "\n",
            "/kind/manifests/default-cni.yaml": DEFAULT_CNI_MANIFEST,
            "/kind/manifests/default-storage.yaml": DEFAULT_STORAGE_MANIFEST,
            "/etc/cni/net.d/10-egress-bridge.conflist": config.bridge_conflist(),
        }
        for path, text in files.items():
            _exec(daemon, name, f"mkdir -p {os.path.dirname(path)} && cat > {path}", text)
        _exec(
            daemon,
            name,
            "chmod 0755 /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl"
            " && chown root:root /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl"
            f" && sed -i -e 's|^\\( *sandbox_image = \\).*|\\1\"{images.pause}\"|'"
            " -e 's|^\\( *restrict_oom_score_adj = \\).*|\\1true|' " + CONTAINERD_CONFIG,
        )
        note("importing images into the node's containerd")
        _import_images(daemon, name, images.all())
        _commit(daemon, name, tag)


@contextlib.contextmanager
def _build_container(daemon: DockerDaemon, image: str) -> Iterator[str]:
    """A container of ``image`` that only sleeps (``--network none``), to build in;
    removed with its volumes however the build ends."""
    _remove_stale_build_containers(daemon)
    name = f"{BUILD_CONTAINER_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
    daemon.docker(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        "--entrypoint",
        "sleep",
        image,
        "infinity",
        what="docker run (node build container)",
    )
    try:
        yield name
    finally:
        subprocess.run(
            [docker_cli(), "rm", "--force", "--volumes", name],
            env=daemon.env,
            capture_output=True,
            check=False,
        )


def _commit(daemon: DockerDaemon, container: str, tag: str) -> None:
    daemon.docker(
        "commit",
        "--change",
        f"ENTRYPOINT {KIND_ENTRYPOINT}",
        container,
        tag,
        what="docker commit (node image)",
    )


def preloaded_node_image(
    daemon: DockerDaemon, node_image: NodeImage, images: Sequence[str], *, quiet: bool = False
) -> str:
    """The node image with ``images`` in its containerd as well, pinned, as kind's own
    node image holds the control plane's: a cluster of it starts with Istio's and the
    samples' images in place, where ``kind load`` would save, copy and import each one
    again for every cluster. Its tag names its inputs (the node and each image's id), so
    a rebuilt image makes a new one; building it takes about as long as one load."""
    inputs = {
        "recipe": RECIPE,
        "node": daemon.image_id(node_image.image) or node_image.image,
        **{image: daemon.image_id(image) or image for image in images},
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    tag = f"{PRELOADED_REPOSITORY}:{node_image.kubernetes_version}-{digest}"
    if daemon.image_id(tag) is None:
        with cache.locked(f"preloaded-node-{node_image.kubernetes_version}"):
            if daemon.image_id(tag) is None:
                with (
                    cache.progress(f"node image with the run's images {tag}", quiet=quiet),
                    _build_container(daemon, node_image.image) as name,
                ):
                    _import_images(daemon, name, list(images))
                    _commit(daemon, name, tag)
    return tag


def _remove_stale_build_containers(daemon: DockerDaemon) -> None:
    """Build containers of a build that was killed (its pid is in the name) go first."""
    names = daemon.docker(
        "ps", "--all", "--format", "{{.Names}}", "--filter", f"name={BUILD_CONTAINER_PREFIX}"
    ).split()
    for name in names:
        pid = name.removeprefix(BUILD_CONTAINER_PREFIX).split("-")[0]
        if pid.isdigit() and not cache.pid_alive(int(pid)):
            daemon.docker("rm", "--force", "--volumes", name, what=f"docker rm {name}")


def _exec(daemon: DockerDaemon, container: str, script: str, stdin: str | None = None) -> str:
    argv = ["exec", *(["--interactive"] if stdin is not None else []), container]
    return daemon.docker(
        *argv,
        "bash",
        "-euc",
        script,
        what=f"in the node build container: {script[:60]}",
        stdin=stdin.encode() if stdin is not None else None,
    )


def _import_images(daemon: DockerDaemon, container: str, images: list[str]) -> None:
    """Start containerd in the build container, pipe ``docker save`` of each image into
    ``ctr images import`` (pinned, so the kubelet never collects them), stop containerd
    by its pid."""
    _exec(
        daemon,
        container,
        "containerd >/var/log/containerd-build.log 2>&1 & echo $! > /run/containerd-build.pid",
    )
    try:
        _exec(
            daemon,
            container,
            "for i in $(seq 1 100); do [ -S /run/containerd/containerd.sock ] && break;"
            " sleep 0.2; done; ctr info >/dev/null",
        )
        for image in images:
            _import_one(daemon, container, image)
    finally:
        _exec(
            daemon,
            container,
            # `sleep` is the container's pid 1 and reaps nothing: a stopped containerd
            # stays a zombie, so wait for state Z (or no process), not for kill -0.
            "pid=$(cat /run/containerd-build.pid); kill $pid;"
            " for i in $(seq 1 150); do [ -e /proc/$pid ] || break;"
            " [ \"$(awk '/^State:/{print $2}' /proc/$pid/status)\" = Z ] && break;"
            " sleep 0.2; done;"
            " rm -f /run/containerd-build.pid /var/log/containerd-build.log",
        )


def _import_one(daemon: DockerDaemon, container: str, image: str) -> None:
    save = subprocess.Popen([docker_cli(), "save", image], env=daemon.env, stdout=subprocess.PIPE)
    load = subprocess.run(
        [
            docker_cli(),
            "exec",
            "--interactive",
            container,
            "ctr",
            "--namespace=k8s.io",
            "images",
            "import",
            "--label=io.cri-containerd.pinned=pinned",
            "--all-platforms",
            "--no-unpack",
            "--digests",
            "-",
        ],
        env=daemon.env,
        stdin=save.stdout,
        capture_output=True,
        check=False,
    )
    assert save.stdout is not None
    save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise ClusterError(
            f"importing {image} into the node failed: {load.stderr.decode(errors='replace')[-300:]}"
        )


def ensure_node_image(
    daemon: DockerDaemon,
    kubernetes_version: str = programs.KUBERNETES_VERSION,
    *,
    quiet: bool = False,
) -> NodeImage:
    """The node image for ``kubernetes_version``, building whatever is missing."""
    return build_all(daemon, kubernetes_version, quiet=quiet)


def kind_binary(*, quiet: bool = False) -> Path:
    """The ``kind`` command built from sigs.k8s.io/kind at the pinned version."""
    return ensure_go_program(programs.kind(), quiet=quiet) / "kind"
