"""The pinned Go programs of a kind node, as kind v0.33.0's base image has them.

Versions are the ones measured to work together on this machine (see
docs/kind-offline.md). Kubernetes is built from ``k8s.io/kubernetes``
through a wrapper module that replaces every ``k8s.io/<staging>`` module (required there
at v0.0.0 and replaced by a local directory, which a dependency's go.mod cannot do) with
its published ``v0.<minor>.<patch>``.
"""

from __future__ import annotations

import re

from clusters.protocol import ClusterError
from clusters.shared.gobuild import GoProgram, module_dir

KIND_VERSION = "v0.33.0"
KUBERNETES_VERSION = "v1.34.4"
CONTAINERD_VERSION = "v2.4.2"
CNI_PLUGINS_VERSION = "v1.10.0"
CRI_TOOLS_VERSION = "v1.37.0"
ETCD_VERSION = "v3.6.16"
COREDNS_VERSION = "v1.15.0"
HELM_VERSION = "v3.21.4"  # v3: the page's `helm template -x` is a v2 flag that v3 refuses
HELM_MODULE = "helm.sh/helm/v3"
PAUSE_VERSION = "v1"  # our own program, versioned by its source

KUBERNETES_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)
CNI_PLUGINS = ("main/bridge", "ipam/host-local", "main/loopback", "meta/portmap", "main/ptp")

# etcd's own main package lives in its repository root module, which is not published
# for go get; the server module's etcdmain is what that main calls.
ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""

# The sandbox ("pause") container: sleep until told to stop, reap what is orphaned.
PAUSE_MAIN = """package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tsignals := make(chan os.Signal, 8)
\tsignal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
\tfor s := range signals {
\t\tif s != syscall.SIGCHLD {
\t\t\tos.Exit(0)
\t\t}
\t\tfor {
\t\t\tvar status syscall.WaitStatus
\t\t\tif pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
\t\t\t\tbreak
\t\t\t}
\t\t}
\t}
}
"""


def kind() -> GoProgram:
    """The ``kind`` command itself."""
    return GoProgram("kind", "sigs.k8s.io/kind", KIND_VERSION, packages=("sigs.k8s.io/kind",))


def helm_kubernetes_minor(version: str = HELM_VERSION) -> tuple[int, int]:
    """The Kubernetes (major, minor) helm's client-go is: what its Makefile stamps in as
    the cluster version ``helm template`` renders for (v0.36.2 -> (1, 36))."""
    gomod = (module_dir(HELM_MODULE, version) / "go.mod").read_text()
    match = re.search(r"^\s*k8s\.io/client-go\s+v0\.(\d+)\.\d+", gomod, re.MULTILINE)
    if not match:
        raise ClusterError(f"{HELM_MODULE}@{version}: no k8s.io/client-go in its go.mod")
    return 1, int(match[1])


def helm(version: str = HELM_VERSION) -> GoProgram:
    """``helm``, for the page's ``helm template ... | kubectl apply -f -`` as written,
    with the version flags of helm's own Makefile (a module build has no git tree)."""
    major, minor = helm_kubernetes_minor(version)
    flags = ["-s", "-w", f"-X {HELM_MODULE}/internal/version.version={version}",
             f"-X {HELM_MODULE}/internal/version.gitTreeState=clean"]  # fmt: skip
    for package in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [
            f"-X {HELM_MODULE}/{package}.k8sVersionMajor={major}",
            f"-X {HELM_MODULE}/{package}.k8sVersionMinor={minor}",
        ]
    return GoProgram(
        "helm",
        HELM_MODULE,
        version,
        packages=(f"{HELM_MODULE}/cmd/helm",),
        ldflags=" ".join(flags),
    )


def containerd() -> GoProgram:
    """containerd 2.x: kind's node needs it (Debian's 1.6 only runs dockerd)."""
    module = "github.com/containerd/containerd/v2"
    return GoProgram(
        "containerd",
        module,
        CONTAINERD_VERSION,
        packages=tuple(
            f"{module}/cmd/{name}" for name in ("containerd", "containerd-shim-runc-v2", "ctr")
        ),
        tags=("no_btrfs", "no_devmapper", "no_zfs", "no_aufs"),
        ldflags=(
            f"-s -w -X {module}/version.Version={CONTAINERD_VERSION}"
            f" -X {module}/version.Package=github.com/containerd/containerd"
        ),
    )


def cni_plugins() -> GoProgram:
    module = "github.com/containernetworking/plugins"
    return GoProgram(
        "cni-plugins",
        module,
        CNI_PLUGINS_VERSION,
        packages=tuple(f"{module}/plugins/{plugin}" for plugin in CNI_PLUGINS),
    )


def crictl() -> GoProgram:
    module = "sigs.k8s.io/cri-tools"
    return GoProgram(
        "crictl",
        module,
        CRI_TOOLS_VERSION,
        packages=(f"{module}/cmd/crictl",),
        ldflags=f"-s -w -X {module}/pkg/version.Version={CRI_TOOLS_VERSION}",
    )


def etcd() -> GoProgram:
    return GoProgram("etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION, main_source=ETCD_MAIN)


def coredns() -> GoProgram:
    module = "github.com/coredns/coredns"
    return GoProgram("coredns", module, COREDNS_VERSION, packages=(module,))


def pause() -> GoProgram:
    return GoProgram("pause", "", PAUSE_VERSION, main_source=PAUSE_MAIN)


def staging_modules(version: str = KUBERNETES_VERSION) -> list[str]:
    """The ``k8s.io/*`` modules that ``k8s.io/kubernetes@version`` replaces with its
    ``./staging`` directories, read from its go.mod."""
    gomod = (module_dir("k8s.io/kubernetes", version) / "go.mod").read_text()
    modules = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", gomod, re.MULTILINE)
    if not modules:
        raise ClusterError(f"k8s.io/kubernetes@{version}: no staging replaces in its go.mod")
    return sorted(set(modules))


def kubernetes_semver(version: str) -> tuple[int, int, int]:
    """``v1.34.4`` -> (1, 34, 4); anything else is one line naming the expected form."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", version)
    if not match:
        raise ClusterError(f"Kubernetes version {version!r}: expected vMAJOR.MINOR.PATCH")
    return int(match[1]), int(match[2]), int(match[3])


def staging_version(version: str) -> str:
    """v1.34.4 -> v0.34.4: how the staging modules are tagged."""
    major, minor, patch = kubernetes_semver(version)
    if major != 1:
        raise ClusterError(f"Kubernetes version {version!r}: staging modules follow v1 only")
    return f"v0.{minor}.{patch}"


def version_ldflags(version: str) -> str:
    """-X flags that make kubeadm and kubelet report ``version`` (a module build has no
    git tree to read it from)."""
    major, minor, _ = kubernetes_semver(version)
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def kubernetes(version: str = KUBERNETES_VERSION) -> GoProgram:
    """kubeadm, kubelet, kubectl and the control plane, from ``k8s.io/kubernetes``."""
    target = staging_version(version)
    return GoProgram(
        "kubernetes",
        "k8s.io/kubernetes",
        version,
        packages=tuple(f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS),
        ldflags=version_ldflags(version),
        replace={module: f"{module} {target}" for module in staging_modules(version)},
    )


def node_programs(kubernetes_version: str = KUBERNETES_VERSION) -> list[GoProgram]:
    """Everything the node image needs, longest build first (so it starts first)."""
    return [
        kubernetes(kubernetes_version),
        coredns(),
        containerd(),
        etcd(),
        crictl(),
        cni_plugins(),
        pause(),
    ]
