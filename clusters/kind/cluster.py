"""``kind``: a kind cluster with Istio, built and run offline from the kit's images.

Creation is an ordered list of actions, as kind's own cluster creation is; each one
registers the closer of what it created on the run's cleanup stack, and closing the
cluster undoes exactly those, in reverse order, whatever failed. Nothing the run did
not create is touched: a daemon that already answered, a cluster reused with
``--reuse-cluster``, the host's iptables and sysctls (recorded first and restored at
the end).

``--images pull`` uses the official images from a registry instead of the kit, and
``--external internet`` the real sites instead of the fake internet (nightly CI).
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusters.kind import hoststate
from clusters.kind.docker import DockerDaemon, docker_cli, keep_for
from clusters.kind.kit import config, fake_internet, istio_images, node, samples, tools
from clusters.kind.options import EXTERNAL, IMAGES, KindOptions
from clusters.kube.api import KubeApi
from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.protocol import ClusterError, PrerequisiteMissing, Waits
from clusters.shared import cache
from clusters.shared.cleanup import CleanupStack
from clusters.shared.waiting import NotYet, wait_on_cluster

OFFICIAL_NODE_IMAGE = "kindest/node"  # kind's published node images, tagged by version
READY = "ready"  # the timings' total: from the first action to the sleep sample's pod


@dataclass
class KindRun:
    """What this run created: each creation registers its closer on ``cleanup``, which
    the cluster's ``close()`` runs in reverse (the host's state is put back last)."""

    options: KindOptions
    name: str
    directory: Path
    host: hoststate.HostState | None = None
    daemon: DockerDaemon | None = None
    images: list[str] = field(default_factory=list)
    node_image: str | None = None
    created_cluster: bool = False
    tools: Path | None = None  # kubectl, istioctl and helm for --literal's shell
    started_sites: bool = False
    sites: list[fake_internet.KindSite] = field(default_factory=list)  # the fake internet's
    cluster: KubeCluster | None = None
    cleanup: CleanupStack = field(default_factory=CleanupStack)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per creation action

    @property
    def waits(self) -> Waits:
        return self.options.waits

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def kind(self, *args: str, timeout: float = 600.0) -> str:
        """``kind ARGS`` against this run's daemon."""
        assert self.daemon is not None
        return cache.run(
            [str(node.kind_binary(quiet=True)), *args],
            what=f"kind {args[0]}",
            env=self.daemon.env,
            timeout=timeout,
        )

    # The actions -----------------------------------------------------------------
    def record_host(self) -> None:
        """The host's state before this cluster: kept by the project's daemon (recorded
        before it first started, restored when its last user stops it, so a kept
        cluster's kubelet settings are never taken for the host's), else here."""
        assert self.daemon is not None
        if not self.daemon.owned:
            self.host = hoststate.HostState.record()
            if not self.options.keep_cluster:
                self.cleanup.push("restore the host's state", self._restore_host)

    def start_daemon(self) -> None:
        self.daemon = DockerDaemon.ensure()
        if not self.daemon.owned or self.options.keep_cluster:
            return
        if self.options.reuse_cluster and not self.daemon.started:
            # The reused cluster lives in the daemon that ran before this run: stopping
            # it would end that cluster. One this run started held no running cluster,
            # so it is stopped again, failed run or not, as for a cluster of its own.
            self.cleanup.push(
                "give back the lease on the project's Docker daemon", self.daemon.release
            )
            return
        self.cleanup.push("stop the project's Docker daemon", self._stop_daemon)

    def build_images(self) -> None:
        assert self.daemon is not None
        if self.options.images == "pull":
            return  # the nodes pull the official images themselves
        built = node.ensure_node_image(self.daemon)
        self.images = [
            *istio_images.ensure_images(
                self.daemon, istio_images.release(self.options.istio_version)
            ),
            *samples.ensure_images(self.daemon, self.options.istio_version),
        ]
        # The cluster starts with them in its containerd: nothing to `kind load`.
        self.node_image = node.preloaded_node_image(self.daemon, built, self.images)
        if self.options.external == "fake":
            fake_internet.ensure_image(self.daemon)  # built now, not while Istio installs

    def build_tools(self) -> None:
        """The programs the page's commands call, so that --literal runs them as written
        (helm included: its refusal of ``-x`` is then what a reader would see)."""
        self.tools = tools.tools_dir(tools.binaries(self._istioctl()))

    def create_cluster(self) -> None:
        assert self.daemon is not None
        if self.options.reuse_cluster:
            self.kind(
                "export", "kubeconfig", "--name", self.name, "--kubeconfig", str(self.kubeconfig)
            )
            return
        if config.ensure_network(self.daemon) and not self.options.keep_cluster:
            self.cleanup.push(f"docker network rm {config.NETWORK_NAME}", self._remove_network)
        version = node.programs.KUBERNETES_VERSION
        config_file = config.write_cluster_config(
            self.directory / "kind.yaml",
            self.node_image or f"{OFFICIAL_NODE_IMAGE}:{version}",  # pull: kind's own
            kubernetes_version=version,
        )
        self.created_cluster = True
        if not self.options.keep_cluster:
            self.cleanup.push(f"kind delete cluster {self.name}", self._delete_cluster)
        try:
            self.kind(
                "create",
                "cluster",
                "--name",
                self.name,
                "--config",
                str(config_file),
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                f"{int(self.waits.ready)}s",
                timeout=self.waits.ready + 120,
            )
        except ClusterError:
            self._export_logs()
            raise
        if self.options.keep_cluster and self.daemon.owned:
            keep_for(self.name)  # a later run's stop must not end it with the daemon

    def start_sites(self) -> None:
        """The fake internet's containers on the kind network (CoreDNS names them next)."""
        assert self.daemon is not None
        if self.options.external == "internet":
            return
        # the same sites file as the local mesh's (its default when None), at kind addresses
        self.sites = fake_internet.start(
            self.daemon, fake_internet.kind_sites(self.options.sites_file)
        )
        self.started_sites = True
        if not self.options.keep_cluster:
            self.cleanup.push("remove the fake internet", self._stop_sites)

    def sites_beside_kube_proxy(self) -> None:
        """The sites start on Docker while the cluster's kube-proxy comes up; neither
        needs the other. The first failure is raised once both have ended."""
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kind-create") as pool:
            futures = [
                pool.submit(self.timed, "start the fake internet", self.start_sites),
                pool.submit(
                    self.timed, "wait for kube-proxy's Service rules", self.wait_for_service_network
                ),
            ]
            wait(futures)
        for future in futures:
            future.result()

    def roll_out_coredns(self) -> None:
        """CoreDNS restarted once the Service network works, with the sites' names when
        the fake internet is on. kind's CoreDNS starts before kube-proxy has written the
        Service rules, and its API watch then backs off for about 30 s, answering no
        name meanwhile (istiod's and the gateway's certificates wait on that); pods
        started now sync at once. The rollout is awaited: Istio's install needs DNS."""
        api = KubeApi(self.kubeconfig)
        try:
            found = api.get("v1", "ConfigMap", fake_internet.COREDNS_CONFIGMAP, "kube-system")
            if found is None:
                raise ClusterError('configmaps "coredns" not found in kube-system')
            corefile = (found.get("data") or {}).get("Corefile", "")
            if self.sites:
                patches = fake_internet.coredns_patches(corefile, self.sites)
            else:
                patches = [fake_internet.coredns_restart_patch(corefile)]
            api.apply(patches, "kube-system")

            def rolled_out() -> None:
                deployment = api.get(
                    "apps/v1", "Deployment", fake_internet.COREDNS_DEPLOYMENT, "kube-system"
                )
                if deployment is None or not _rolled_out(deployment):
                    raise NotYet('deployment "coredns" rollout')

            wait_on_cluster(
                rolled_out,
                timeout=self.waits.ready,
                what='deployment "coredns" did not roll out',
            )
        finally:
            api.close()

    def _istioctl(self) -> Path:
        """The kit's istioctl, or with ``--images pull`` the release's own on PATH."""
        if self.options.images == "pull":
            found = shutil.which("istioctl")
            if found is None:
                raise PrerequisiteMissing(
                    "--images pull needs the release's istioctl on PATH "
                    "(curl -L https://istio.io/downloadIstio | ISTIO_VERSION=X sh -)"
                )
            return Path(found)
        return istio_images.istioctl(istio_images.release(self.options.istio_version))

    def install_flags(self) -> list[str]:
        """The flags of the backend's ``istioctl install``: what the page's "<the flags
        you used to install Istio>" stands for on this cluster."""
        if self.options.images == "pull":
            return [
                "-y",
                "--set",
                "profile=default",
                "--set",
                "meshConfig.accessLogFile=/dev/stdout",
                *(f for setting in istio_images.NO_CLOUD_SETTINGS for f in ("--set", setting)),
            ]
        # the kit's flags set the access log with what stock Envoy needs, and its images
        return ["-y", *istio_images.install_flags(istio_images.release(self.options.istio_version))]

    def wait_for_service_network(self) -> None:
        """kube-proxy's rules for the ``kubernetes`` Service, seen from the node: kind
        create returns before kube-proxy has written them, and an istiod started then
        finds its API server unreachable, and client-go's list retries back off for
        about 30 s before its informers sync. A TCP connect from the node to the
        Service's address is what a pod's first request needs."""
        assert self.daemon is not None
        api = KubeApi(self.kubeconfig)
        try:
            service = api.get("v1", "Service", "kubernetes", "default")
        finally:
            api.close()
        address = ((service or {}).get("spec") or {}).get("clusterIP")
        if not address:
            raise ClusterError('services "kubernetes" has no clusterIP in namespace default')
        env = self.daemon.env
        node_container = f"{self.name}-control-plane"  # kind's name for the one node
        # Unprogrammed, the address routes to the network's gateway, where a SYN goes
        # unanswered: each try is bounded (coreutils' timeout, in the node's image).
        probe = f"exec 3<>/dev/tcp/{address}/443"

        def programmed() -> None:
            done = subprocess.run(
                [docker_cli(), "exec", node_container, "timeout", "1", "bash", "-c", probe],
                env=env,
                capture_output=True,
                timeout=10,
                check=False,
            )
            if done.returncode != 0:
                raise NotYet(f"a connection to the kubernetes Service at {address}:443")

        wait_on_cluster(
            programmed,
            timeout=self.waits.ready,
            what="kube-proxy did not program the Service network",
        )

    def install_istio(self) -> None:
        command = [str(self._istioctl()), "install", *self.install_flags()]
        completed = subprocess.run(
            [*command, "--kubeconfig", str(self.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=self.waits.ready * 2,
            check=False,
        )
        if completed.returncode != 0:
            lines = (completed.stderr or completed.stdout).strip().splitlines() or ["no output"]
            raise ClusterError(f"istioctl install failed: {lines[-1]}")

    def timed(self, what: str, action: Callable[[], None]) -> None:
        started = time.monotonic()
        action()
        self.timings[what] = time.monotonic() - started

    def connect(self) -> None:
        api = KubeApi(self.kubeconfig)

        def serviceaccount() -> None:  # kube-controller-manager makes it shortly after create
            if api.get("v1", "ServiceAccount", "default", "default") is None:
                raise NotYet('serviceaccount "default"')

        wait_on_cluster(serviceaccount, timeout=60, what='serviceaccount "default" did not appear')
        settings = KubeSettings(
            backend="kind",
            platform="kind",
            waits=self.waits,
            istioctl=self._istioctl(),
            tools=self.tools,
            kubeconfig=self.kubeconfig,
            extra_facts={
                "kind_cluster": self.name,
                "images": self.options.images,
                "external": self.options.external,
                "install_flags": shlex.join(self.install_flags()),
            },
        )
        self.cluster = KubeCluster(api, settings, self.cleanup)  # one stack: close() ends all
        self.cluster.reset()  # the page's starting point: sleep deployed, ALLOW_ANY

    def actions(self) -> list[tuple[str, Callable[[], None]]]:
        """Creation, in order (kind's own create is such a list)."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("start Docker", self.start_daemon),
            ("record the host's state", self.record_host),
            ("build the kit's images", self.build_images),
            ("build the page's tools", self.build_tools),
            ("create the kind cluster", self.create_cluster),
        ]
        if not self.options.reuse_cluster:
            steps += [
                ("start the fake internet beside kube-proxy", self.sites_beside_kube_proxy),
                ("roll CoreDNS out", self.roll_out_coredns),
                ("install Istio", self.install_istio),
            ]
        steps.append(("deploy the sleep sample", self.connect))
        return steps

    # Undo ------------------------------------------------------------------------
    def _delete_cluster(self) -> None:
        self.kind("delete", "cluster", "--name", self.name, timeout=300)

    def _stop_sites(self) -> None:
        assert self.daemon is not None
        fake_internet.stop(self.daemon)

    def _remove_network(self) -> None:
        assert self.daemon is not None
        self.daemon.docker(
            "network", "rm", config.NETWORK_NAME, what="docker network rm kind", timeout=60
        )

    def _restore_host(self) -> None:
        assert self.host is not None
        for done in hoststate.restore(self.host):
            cache.say(f"host state: {done}")

    def _stop_daemon(self) -> None:
        assert self.daemon is not None
        self.daemon.stop()

    def _export_logs(self) -> None:
        target = self.options.logs_dir / self.name
        try:
            self.kind("export", "logs", str(target), "--name", self.name, timeout=300)
            cache.say(f"kind's logs of the failed creation: {target}")
        except ClusterError as error:
            cache.say(f"kind export logs failed too: {error}")


def _rolled_out(deployment: Mapping[str, Any]) -> bool:
    """``kubectl rollout status``'s test: the new generation observed, every replica
    updated and available, none of the old left."""
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    status = deployment.get("status") or {}
    return (
        status.get("observedGeneration", 0) >= generation
        and status.get("updatedReplicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
        and status.get("replicas", 0) == wanted
    )


def start_kind(options: KindOptions) -> KubeCluster:
    """A kind cluster with Istio and the page's sample; closing it removes what this
    run created (the cluster, the fake internet, the network, the project's daemon)."""
    run = create_kind(options)
    assert run.cluster is not None
    return run.cluster


def create_kind(options: KindOptions) -> KindRun:
    """The run's actions in order, each one timed (``make bench`` reads the times)."""
    for value, allowed, flag in (
        (options.images, IMAGES, "--images"),
        (options.external, EXTERNAL, "--external"),
    ):
        if value not in allowed:
            raise ClusterError(f"{flag} {value}: choose one of {', '.join(allowed)}")
    name = options.reuse_cluster or f"egress-{secrets.token_hex(3)}"
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache.cache_root()))
    run = KindRun(options, name, directory)
    if not options.keep_cluster:  # a kept cluster keeps its kubeconfig here
        run.cleanup.push(f"the run's directory {directory}", lambda: shutil.rmtree(directory))
    started = time.monotonic()
    try:
        for what, action in run.actions():
            cache.say(f"kind: {what} ...")
            run.timed(what, action)
    except BaseException as error:
        try:
            run.cleanup.done()
        except Exception as failed:  # the creation's error is the one to see
            error.add_note(str(failed))
        raise
    run.timings[READY] = time.monotonic() - started
    cache.say(
        f"kind: ready in {run.timings[READY]:.0f} s ("
        + ", ".join(
            f"{what} {seconds:.1f} s" for what, seconds in run.timings.items() if what != READY
        )
        + ")"
    )
    return run
