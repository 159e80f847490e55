"""The embedded mesh: network, fake internet, sidecar and control plane composed into
the :class:`~clusters.protocol.Cluster` protocol.

Everything the mesh creates is recorded in its run directory first (see runstate), so
``down()`` — or the next run's sweep after a crash — removes all of it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clusters.istio import drift as drift_facts
from clusters.istio.resources import (
    PLURALS,
    Resource,
    ServiceEntry,
    ServicePort,
    VirtualService,
    canonical_kind,
    from_document,
    load_documents,
    ref,
)
from clusters.local import internet, iptables, network, pilot, processes, runstate
from clusters.local.prerequisites import check_prerequisites
from clusters.local.proxy import EnvoyAdmin, envoy_command
from clusters.local.runstate import PodState, RunState
from clusters.local.snapshot import ConfigSnapshot, KubernetesService, MeshConfig, ProxyInfo
from clusters.local.xds import FileXds, rejected_updates
from clusters.protocol import (
    ClusterError,
    ExecResult,
    Injection,
    LogCursor,
    OutboundTrafficPolicy,
    PodStatus,
    ResourceRef,
)

POD_IP = "198.51.100.10"
GATEWAY_IP = "198.51.100.1"
POD_PREFIX_LEN = 24
POD_CIDR = "198.51.100.0/25"  # the cluster's pod range
SERVICE_CIDR = "198.51.100.128/25"  # the cluster's service range
SLEEP_CLUSTER_IP = "198.51.100.200"
SOURCE_UID = 100  # the curl image's curl_user
SOURCE_GID = 101
POD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
READY_TIMEOUT_S = 30.0
DEFAULT_NAMESPACE = "default"  # where the page works, and kubectl's default


class LocalCluster:
    """The ``local`` backend. Create with :meth:`up` or :meth:`attach`."""

    name = "local"

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.internet = internet.FakeInternet(
            internet.load_sites(Path(state.sites_file) if state.sites_file else None),
            state.directory / "internet",
        )
        # The applied resources as models, keyed like state.resources (which keeps the
        # documents for a process that re-attaches): validated once, when applied.
        self._config: dict[str, Resource] = {
            key: from_document(document) for key, document in state.resources.items()
        }
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._admin: EnvoyAdmin | None = None
        # The sidecar's count of refused xDS updates as last seen: an increase after a
        # write means that write was refused. Unknown until first read in this process.
        self._rejected_seen: int | None = None
        self.timings: dict[str, float] = {}

    # Lifecycle -------------------------------------------------------------------
    @classmethod
    def up(
        cls,
        *,
        run_root: Path | None = None,
        sites_file: Path | None = None,
        owner: str = "pytest",
    ) -> LocalCluster:
        """Build a fresh mesh; first remove whatever crashed runs left behind."""
        started = time.perf_counter()
        check_prerequisites()
        root = run_root or runstate.DEFAULT_RUN_ROOT
        root.mkdir(parents=True, exist_ok=True)
        _check_reachable_by_proxy(root)
        cli = owner == "cli"
        runstate.sweep(root, include_cli=cli)
        run_id = "cli" if cli else f"p{os.getpid()}"
        for suffix in range(1, 100):  # a second mesh of the same process gets its own run
            if not (root / run_id).exists():
                break
            run_id = f"p{os.getpid()}x{suffix}"
        directory = root / run_id
        directory.mkdir(mode=0o755)
        state = RunState(
            run_id=run_id,
            directory=directory,
            owner=None if cli else runstate.current_owner(),
            sites_file=str(sites_file) if sites_file else None,
        )
        state.save()
        mesh = cls(state)
        try:
            mesh._build()
        except BaseException:
            mesh.down()
            raise
        mesh.timings["ready_s"] = time.perf_counter() - started
        return mesh

    @classmethod
    def attach(cls, run_root: Path | None = None, run_id: str = "cli") -> LocalCluster:
        """Re-open a running mesh from its run directory (``egress-mesh`` subcommands)."""
        directory = (run_root or runstate.DEFAULT_RUN_ROOT) / run_id
        if not (directory / "state.json").exists():
            raise ClusterError(
                f"no mesh is running in {directory}: start one with `egress-mesh up`"
            )
        try:
            return cls(RunState.load(directory))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ClusterError(
                f"the run directory {directory} is damaged ({error}): remove it with "
                "`egress-mesh down`, then `egress-mesh up`"
            ) from None

    def down(self) -> None:
        """Remove everything the run created; safe to call twice."""
        if self._admin is not None:
            self._admin.close()
        runstate.destroy(self.state)
        for child in self._children.values():
            child.poll()

    def _build(self) -> None:
        net = self.state.namespace("net")
        self.state.namespaces = [net, self.state.namespace("pod")]
        self.state.save()
        self.internet.prepare()
        network.create(net)
        network.add_local_addresses(net, self.internet.addresses)
        self._start_internet(net)
        self.internet.wait_ready(net, READY_TIMEOUT_S, self._check_alive)
        self._create_pod(Injection.AUTOMATIC, None)

    def _start_internet(self, net: str) -> None:
        logs = self.state.directory / "internet"
        self._spawn("dns", processes.in_namespace(net, self.internet.dns_command()), logs)
        for name, argv in self.internet.httpbin_commands():
            self._spawn(name, processes.in_namespace(net, argv), logs)
        if self.internet.has_static_sites():
            command = envoy_command(self.internet.envoy_config(), concurrency=1)
            self._spawn("sites-envoy", processes.in_namespace(net, command), logs)

    def _spawn(
        self,
        name: str,
        argv: list[str],
        logs: Path,
        *,
        owner_uid: int | None = None,
    ) -> processes.ProcessRecord:
        child, record = processes.spawn(
            name,
            argv,
            stdout=logs / f"{name}.log",
            stderr=logs / f"{name}.err",
            owner_uid=owner_uid,
        )
        self._children[child.pid] = child
        self.state.processes.append(record)
        self.state.save()
        return record

    def _check_alive(self) -> None:
        """Fail fast, with the process's last words, when one of ours has died."""
        for record in self.state.processes:
            if not processes.is_running(record):
                log = self._log_dir(record.name) / f"{record.name}.err"
                try:
                    tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                except OSError:
                    tail = []
                raise ClusterError(
                    f"{record.name} (pid {record.pid}) exited: {tail[0] if tail else 'no output'}"
                )

    def _log_dir(self, process_name: str) -> Path:
        if process_name == "istio-proxy" and self.state.pod:
            return self._pod_dir()
        return self.state.directory / "internet"

    # The source pod ----------------------------------------------------------------
    def _pod(self) -> PodState:
        if self.state.pod is None:
            raise ClusterError(
                'no pod matches label "app=sleep": deploy it first '
                "(deploy_source_pod, or `egress-mesh pod`)"
            )
        return self.state.pod

    def _pod_dir(self) -> Path:
        return self.state.directory / "pods" / self._pod().name

    @property
    def admin(self) -> EnvoyAdmin:
        if self._admin is None:
            self._admin = EnvoyAdmin(self._pod_dir() / "admin.sock")
        return self._admin

    @property
    def xds(self) -> FileXds:
        return FileXds(self._pod_dir() / "xds")

    def _create_pod(self, injection: Injection, include: Sequence[str] | None) -> None:
        ranges = list(iptables.validate_cidrs(include)) if include is not None else None
        self._remove_pod()
        self._rejected_seen = 0  # a new proxy has refused nothing yet
        self.state.pod = PodState(
            name=f"sleep-{secrets.token_hex(5)}-{secrets.token_hex(3)[:5]}",
            injection=injection.value,
            include_ip_ranges=ranges,
        )
        self.state.save()
        pod_ns = self.state.namespace("pod")
        network.create(
            pod_ns,
            etc_files={
                "resolv.conf": f"nameserver {internet.DNS_ADDRESS}\n",
                "ssl/certs/ca-certificates.crt": self.internet.ca_bundle.read_bytes(),
            },
        )
        network.connect(
            pod_ns,
            self.state.namespace("net"),
            pod_ip=POD_IP,
            gateway_ip=GATEWAY_IP,
            prefix_len=POD_PREFIX_LEN,
        )
        iptables.install(pod_ns, iptables.InterceptionConfig(include_outbound_ip_ranges=ranges))
        pod_dir = self._pod_dir()
        (pod_dir / "xds").mkdir(parents=True)
        os.chown(pod_dir, iptables.PROXY_UID, iptables.PROXY_GID)  # the admin socket goes here
        self._write_config()
        bootstrap = pod_dir / "bootstrap.json"
        bootstrap.write_text(json.dumps(self._bootstrap()))
        command = envoy_command(bootstrap)
        self._spawn(
            "istio-proxy",
            processes.in_namespace(pod_ns, command, uid=iptables.PROXY_UID, gid=iptables.PROXY_GID),
            pod_dir,
            owner_uid=iptables.PROXY_UID,
        )
        self.admin.wait_ready(READY_TIMEOUT_S, self._check_alive)
        self.wait_for_proxy_config(READY_TIMEOUT_S)

    def _remove_pod(self) -> None:
        proxies = [r for r in self.state.processes if r.name == "istio-proxy"]
        processes.terminate(proxies)
        self.state.processes = [r for r in self.state.processes if r not in proxies]
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        pod_ns = self.state.namespace("pod")
        if network.exists(pod_ns):
            # The kernel frees a deleted namespace's veth asynchronously; remove our end
            # now so the next pod can reuse its name at once.
            network.delete_link(self.state.namespace("net"), "pod0")
        runstate.destroy_namespace(pod_ns)
        if self.state.pod:
            shutil.rmtree(self._pod_dir(), ignore_errors=True)
        self.state.save()

    def _bootstrap(self) -> dict[str, Any]:
        proxy = self._proxy()
        return {
            "node": {
                "id": proxy.node_id,
                "cluster": f"sleep.{proxy.namespace}",
                "metadata": {"NAMESPACE": proxy.namespace, "INSTANCE_IPS": proxy.ip},
            },
            "admin": {"address": {"pipe": {"path": str(self._pod_dir() / "admin.sock")}}},
            "dynamic_resources": self.xds.dynamic_resources(),
        }

    def _proxy(self) -> ProxyInfo:
        return ProxyInfo(pod_name=self._pod().name, namespace="default", ip=POD_IP)

    # Control plane -------------------------------------------------------------------
    def _store(self, document: dict[str, Any], model: Resource) -> None:
        key = _key(model.kind, model.namespace, model.name)
        self.state.resources[key] = document
        self._config[key] = model

    def _forget(self, key: str) -> bool:
        self._config.pop(key, None)
        return self.state.resources.pop(key, None) is not None

    def _forget_all(self) -> None:
        self.state.resources.clear()
        self._config.clear()

    def snapshot(self) -> ConfigSnapshot:
        config = list(self._config.values())
        return ConfigSnapshot(
            proxy=self._proxy(),
            mesh=MeshConfig(outbound_traffic_policy=OutboundTrafficPolicy(self.state.mode)),
            services=(
                KubernetesService(
                    name="sleep",
                    namespace="default",
                    ports=(ServicePort(80, "http", "HTTP"),),
                    endpoints=(POD_IP,),
                    cluster_ip=SLEEP_CLUSTER_IP,
                ),
            ),
            service_entries=tuple(r for r in config if isinstance(r, ServiceEntry)),
            virtual_services=tuple(r for r in config if isinstance(r, VirtualService)),
        )

    def _write_config(self) -> None:
        """Compute the sidecar's config from the whole state and hand it over."""
        if self.state.pod is None:  # no proxy to configure; the next pod reads the state
            self.state.save()
            return
        resources = pilot.generate(self.snapshot())
        self.state.version += 1
        if self._rejected_seen is None:  # first write of this process: ask the proxy once
            self._rejected_seen = rejected_updates(self.admin) if self._proxy_running() else 0
        self.state.route_names = self.xds.write(resources, str(self.state.version))
        self.state.save()

    def _proxy_running(self) -> bool:
        return any(
            r.name == "istio-proxy" and processes.is_running(r) for r in self.state.processes
        )

    def _rejection_reason(self) -> str:
        try:
            lines = (self._pod_dir() / "istio-proxy.err").read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        rejected = [line for line in lines if "rejected" in line or "error" in line.lower()]
        return (rejected or lines or ["no log"])[-1].strip()

    # Cluster protocol: configuration ---------------------------------------------------
    def describe(self) -> Mapping[str, str]:
        info: dict[str, str] = {
            "backend": "local",
            "platform": "local",
            "control_plane": "embedded (istiod-compatible translation, Istio 1.30 shapes)",
            "internal_ip_ranges": ",".join(self.internal_ip_ranges()),
            "run": self.state.run_id,
        }
        try:
            info["envoy"] = self.admin.server_info().get("version", "?")
        except Exception:
            info["envoy"] = "unknown"
        return info

    def apply(self, manifest: str) -> list[ResourceRef]:
        documents = load_documents(manifest)
        models = [from_document(document) for document in documents]  # all or nothing
        for document, model in zip(documents, models, strict=True):
            document.setdefault("metadata", {}).setdefault("namespace", model.namespace)
            self._store(document, model)
        self._write_config()
        return [ref(model) for model in models]

    def delete(self, kind: str, name: str, *, ignore_not_found: bool = False) -> bool:
        canonical = canonical_kind(kind)
        if canonical is None:
            raise ClusterError(
                f'the server doesn\'t have a resource type "{kind}" '
                "(use serviceentry or virtualservice)"
            )
        if not self._forget(_key(canonical, DEFAULT_NAMESPACE, name)):
            if ignore_not_found:
                return False
            raise ClusterError(f'{PLURALS[canonical]}.networking.istio.io "{name}" not found')
        self._write_config()
        return True

    def resources(self, kind: str) -> list[str]:
        canonical = canonical_kind(kind) or kind
        return sorted(
            key.rsplit("/", 1)[1]
            for key in self.state.resources
            if key.startswith(_key(canonical, DEFAULT_NAMESPACE, ""))
        )

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy:
        return OutboundTrafficPolicy(self.state.mode)

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy | str) -> None:
        try:
            mode = OutboundTrafficPolicy(str(mode))
        except ValueError:
            raise ClusterError(
                f'meshConfig.outboundTrafficPolicy.mode: Unsupported value: "{mode}": '
                'supported values: "ALLOW_ANY", "REGISTRY_ONLY"'
            ) from None
        if mode.value != self.state.mode:
            self.state.mode = mode.value
            self._write_config()

    def wait_for_proxy_config(self, timeout: float) -> None:
        if self.state.pod is None:
            return
        if self._rejected_seen is None:  # nothing written by this process yet
            self._rejected_seen = rejected_updates(self.admin)
        try:
            self._rejected_seen = self.xds.wait_applied(
                self.admin,
                str(self.state.version),
                self.state.route_names,
                timeout=timeout,
                alive=self._check_alive,
                rejected_before=self._rejected_seen,
                rejection=self._rejection_reason,
            )
        except ClusterError:
            self._rejected_seen = None  # re-read before the next write: a refusal is counted
            raise

    def drift(self, command: str) -> str | None:
        # The embedded control plane reproduces a current Istio: every drift applies.
        return drift_facts.known_drift(command).reason

    # Cluster protocol: the source pod ---------------------------------------------------
    def deploy_source_pod(
        self,
        injection: Injection = Injection.AUTOMATIC,
        include_ip_ranges: Sequence[str] | None = None,
    ) -> PodStatus:
        self._create_pod(Injection(injection), include_ip_ranges)
        return self.source_pod()

    def delete_source_pod(self) -> bool:
        if self.state.pod is None:
            return False
        self._remove_pod()
        self.state.pod = None
        self.state.save()
        return True

    def source_pod(self) -> PodStatus:
        pod = self._pod()
        running = self._proxy_running()
        return PodStatus(
            name=pod.name,
            namespace="default",
            labels={"app": "sleep"},
            containers=("sleep", "istio-proxy") if running else ("sleep",),
            ready=running and self.admin.is_ready(),
            injection=Injection(pod.injection),
            include_ip_ranges=(
                tuple(pod.include_ip_ranges) if pod.include_ip_ranges is not None else None
            ),
        )

    def exec_in_source_pod(self, argv: Sequence[str], timeout: float) -> ExecResult:
        self._pod()
        command = processes.in_namespace(
            self.state.namespace("pod"), argv, uid=SOURCE_UID, gid=SOURCE_GID
        )
        started = time.perf_counter()
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=POD_ENV, check=False
            )
        except subprocess.TimeoutExpired:
            raise ClusterError(f"`{' '.join(argv)}` did not finish within {timeout}s") from None
        except FileNotFoundError as error:
            raise ClusterError(
                f"cannot run in the pod: {error.filename} is not installed"
            ) from None
        return ExecResult(
            argv=tuple(argv),
            exit_code=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
            elapsed=time.perf_counter() - started,
        )

    def _access_log(self) -> Path:
        return self._pod_dir() / "istio-proxy.log"

    def sidecar_log_cursor(self) -> LogCursor:
        pod = self._pod()
        try:
            size = self._access_log().stat().st_size
        except OSError:
            size = 0
        return LogCursor(pod=pod.name, position=size)

    def sidecar_log(self, since: LogCursor | None = None) -> list[str]:
        start = since.position if since and since.pod == self._pod().name else 0
        try:
            with self._access_log().open("rb") as handle:
                handle.seek(start)
                data = handle.read()
        except OSError:
            return []
        text = data.decode(errors="replace")
        complete = text[: text.rfind("\n") + 1]  # a line still being flushed is not new yet
        return complete.splitlines()

    def internal_ip_ranges(self) -> list[str]:
        return [POD_CIDR, SERVICE_CIDR]

    def reset(self) -> None:
        changed = self.state.mode != OutboundTrafficPolicy.ALLOW_ANY.value or self._config
        self.state.mode = OutboundTrafficPolicy.ALLOW_ANY.value
        self._forget_all()
        pod = self.state.pod
        if (
            pod is None
            or pod.injection != Injection.AUTOMATIC.value
            or pod.include_ip_ranges is not None
            or not self._proxy_running()
        ):
            self._create_pod(Injection.AUTOMATIC, None)  # writes and waits for the new state
            return
        if changed:
            self._write_config()
        self.wait_for_proxy_config(READY_TIMEOUT_S)


def _key(kind: str, namespace: str, name: str) -> str:
    """Resources are stored by kind, namespace and name, as the API server keys them."""
    return f"{kind}/{namespace}/{name}"


def _check_reachable_by_proxy(root: Path) -> None:
    """The sidecar runs as uid 1337 and reads its config under the run root."""
    for directory in (root.resolve(), *root.resolve().parents):
        if not directory.stat().st_mode & 0o001:
            raise ClusterError(
                f"run root {root} is not reachable by the sidecar's uid "
                f"{iptables.PROXY_UID}: {directory} is not world-searchable "
                "(choose a run root under /run, or chmod o+x it)"
            )
