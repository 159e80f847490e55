"""The embedded mesh: network, fake internet, control plane and source pod composed into
the :class:`~clusters.protocol.Cluster` protocol.

Creation is an ordered list of actions, as in kind's cluster creation; each is timed.
Everything the mesh creates registers its closer on the run's cleanup stack, which
records it in the run directory first (see runstate), so ``close()`` â or the next
run's sweep after a crash â removes all of it. The control plane is Istio's own
(istiod_plane.IstiodControlPlane).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from clusters.istio import injection as injection_facts
from clusters.istio import kubectl_documents as kubectl
from clusters.istio import proxyconfig
from clusters.istio.kubectl_documents import KindNames, load_documents
from clusters.local import httpbin_preload, internet, iptables, network, runstate, sourcepod
from clusters.local.istiod_plane import IstiodControlPlane
from clusters.local.options import WAITS
from clusters.local.prerequisites import check_prerequisites
from clusters.local.runstate import PodState, RunState
from clusters.local.sidecar import Sidecar, Workload
from clusters.protocol import (
    ClosedByContext,
    ClusterError,
    ExecResult,
    Injection,
    InvalidResource,
    LogCursor,
    OutboundTrafficPolicy,
    PodStatus,
    ResourceRef,
    SourcePodNeed,
    at_page_start,
    complete_lines,
    lines_after,
    selector_matches,
)
from clusters.shared import cache, processes, runtime
from clusters.shared.barrier import curl_barrier
from clusters.shared.cleanup import CleanupRecord
from clusters.shared.envoy import EnvoyAdmin, envoy_command
from clusters.shared.sites import load_sites
from clusters.shared.together import run_together

READY_TIMEOUT_S = WAITS.ready  # the default; up(ready_timeout=...) sets it
DEFAULT_NAMESPACE = "default"  # where the page works, and kubectl's default
POD_ENV = sourcepod.POD_ENV
# The shell's programs (shell_env): the page's commands run them as written.
SHELL_PROGRAMS = {"kubectl": "clusters.local.kubectl", "istioctl": "clusters.local.istioctl"}
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHELL_CLIENT = Path(__file__).resolve().parent / "shellclient.py"
SHELL_SOCKET = "shell.sock"
MAX_SOCKET_PATH = 108  # sun_path, NUL included


T = TypeVar("T")


def make_control_plane(state: RunState, system_roots: Path | None = None) -> IstiodControlPlane:
    """The run's control plane: istiod, with the cluster's objects and mesh config."""
    from clusters.local import kubeobjects

    return IstiodControlPlane(
        state,
        cluster_objects=kubeobjects.cluster_objects(),
        mesh_config=kubeobjects.MESH_CONFIG,
        system_roots=system_roots,
    )


class LocalCluster(ClosedByContext):
    """The ``local`` backend. Create with :meth:`up` or :meth:`attach`; a process that
    attached leaves the mesh running, the one that closes it removes everything."""

    name = "local"

    def __init__(self, state: RunState, *, ready_timeout: float = READY_TIMEOUT_S) -> None:
        self.state = state
        self.ready_timeout = ready_timeout  # the mesh's processes, a new pod and its sidecar
        self.internet = internet.FakeInternet(
            load_sites(Path(state.sites_file) if state.sites_file else None),
            state.directory / "internet",
        )
        self.cleanup = runstate.cleanup_stack(state)
        self.plane = make_control_plane(state, system_roots=self.internet.ca_bundle)
        self.cleanup.push("the control plane's client", self.plane.close)
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._admin: EnvoyAdmin | None = None
        self.timings: dict[str, float] = {}
        self._first_pod: tuple[PodState, Path] | None = None  # mesh up's, until admitted
        if state.pod is not None and self._proxy_running():
            self.plane.attach_sidecar(self._sidecar())

    # Lifecycle -------------------------------------------------------------------
    @classmethod
    def up(
        cls,
        *,
        run_root: Path | None = None,
        sites_file: Path | None = None,
        owner: str = "pytest",
        istio_version: str | None = None,
        ready_timeout: float = READY_TIMEOUT_S,
    ) -> LocalCluster:
        """Build a fresh mesh; first remove whatever crashed runs left behind."""
        started = time.perf_counter()
        check_prerequisites()
        state = _new_run(run_root, sites_file, owner, istio_version)
        try:
            mesh = cls(state, ready_timeout=ready_timeout)
        except BaseException:  # nothing but the run's directory exists yet: remove it,
            runstate.destroy(state)  # so that no later command takes it for a mesh
            raise
        try:
            for action, run in mesh.creation_actions():
                begun = time.perf_counter()
                run()
                mesh.timings[f"{action}_s"] = time.perf_counter() - begun
        except BaseException as error:
            try:
                mesh.close()
            except Exception as failed:  # the creation's error is the one to see
                error.add_note(str(failed))
            raise
        mesh.timings["ready_s"] = time.perf_counter() - started
        return mesh

    def creation_actions(self) -> list[tuple[str, Callable[[], None]]]:
        """What ``up`` does, in order (kind's ``create`` is such a list of actions)."""
        return [
            ("network", self._create_network),
            # None needs another: their waits overlap (timed each, as internet_s,
            # control_plane_s and pod_start_s: the pod's network and its Envoy's start,
            # which then waits for the bootstrap that only istiod's admission can give).
            (
                "internet_and_control_plane",
                lambda: run_together(
                    [
                        ("internet", self._start_internet),
                        ("control_plane", self._start_control_plane),
                        ("pod_start", self._start_first_pod),
                    ],
                    self.timings,
                ),
            ),
            ("source_pod", self._create_first_pod),
            ("installed_mode", self._observe_installed_mode),
        ]

    def _observe_installed_mode(self) -> None:
        """The mode as installed is the one the first sidecar runs, before any scenario
        changes it: where its virtualOutbound listener sends an unknown destination (the
        control plane's own reading of its mesh config is what is being checked)."""
        mode = proxyconfig.mode_in_effect(self.sidecar_config_dump(proxyconfig.LISTENERS))
        self.state.installed_mode = mode.value if mode else "unknown"
        self.state.save()

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

    def close(self) -> None:
        """Remove everything the run created (its cleanup stack, last created first);
        safe to call twice. Raises CleanupFailed naming what could not be removed."""
        self._follow_run()  # a pod another process made is the run's too
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        try:
            self.cleanup.done()
        finally:
            for child in self._children.values():
                child.poll()

    def _create_network(self) -> None:
        net = self.state.namespace("net")
        self._record(runstate.namespace_record(net))
        self.internet.prepare()
        sourcepod.create_internet_namespace(net, self.internet.addresses)

    def _start_internet(self) -> None:
        net = self.state.namespace("net")
        logs = self.state.directory / "internet"
        self._spawn("dns", processes.in_namespace(net, self.internet.dns_command()), logs)
        for name, arguments in self.internet.httpbin_servers():
            self._serve_httpbin(name, arguments, net, logs)
        if self.internet.has_static_sites():
            command = envoy_command(self.internet.envoy_config(), concurrency=1)
            self._spawn("sites-envoy", processes.in_namespace(net, command), logs)
        self.internet.wait_ready(net, self.ready_timeout, self._check_alive)

    def _serve_httpbin(self, name: str, arguments: list[str], net: str, logs: Path) -> None:
        """An httpbin loaded before the mesh needed it, when the run preloaded one
        (httpbin_preload), is told where to serve; it is the run's process from then."""
        logs.mkdir(parents=True, exist_ok=True)
        server = httpbin_preload.take()
        child = server.process
        self._children[child.pid] = child
        self._record(runstate.process_record(processes.record_of(name, child.pid)))
        server.serve(
            network.NETNS_RUN_DIR / net, arguments, logs / f"{name}.log", logs / f"{name}.err"
        )

    def _start_control_plane(self) -> None:
        self.plane.start(lambda name, argv, logs, env: self._spawn(name, argv, logs, env=env))
        # istiod's own account of its start (bench shows them under control_plane_s)
        self.timings.update({f"istiod_{k}": v for k, v in self.plane.start_phases.items()})

    def _spawn(
        self,
        name: str,
        argv: Sequence[str],
        logs: Path,
        *,
        owner_uid: int | None = None,
        env: Mapping[str, str] | None = None,
        grace: float | None = None,
    ) -> processes.ProcessRecord:
        """Start a process of the run and record it (``grace``: see process_record)."""
        logs.mkdir(parents=True, exist_ok=True)
        child, record = processes.spawn(
            name,
            argv,
            stdout=logs / f"{name}.log",
            stderr=logs / f"{name}.err",
            env=env,
            owner_uid=owner_uid,
        )
        self._children[child.pid] = child
        self._record(runstate.process_record(record, grace=grace))
        return record

    def _record(self, record: CleanupRecord, closer: Callable[[], None] | None = None) -> str:
        """Register a closer on the run's stack; its record is in the state file at once."""
        return self.cleanup.record(record.kind, record.name, record.data, closer)

    def _check_alive(self) -> None:
        """Fail fast, naming the process that died, how, and its last error line."""
        self._follow_run()
        for record in self.state.processes:
            if not processes.is_running(record):
                raise ClusterError(self._death(record))

    def _death(self, record: processes.ProcessRecord) -> str:
        """``istio-proxy (pid N) exited with status 1: <its last error line>``."""
        child = self._children.get(record.pid)
        code = None
        if child is not None:  # ours: its status tells how it ended (it may still be dying)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = child.wait(timeout=1.0)
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exited with status {code}"
            if code is not None
            else "exited"
        )
        return f"{record.name} (pid {record.pid}) {how}: {self._last_error(record.name)}"

    def _last_error(self, process_name: str) -> str:
        """The last line of the process's stderr that reports an error (not a warning)."""
        try:
            lines = (self._log_dir(process_name) / f"{process_name}.err").read_text(
                errors="replace"
            )
        except OSError:
            return "no log"
        errors = [
            line.strip()
            for line in lines.splitlines()
            if any(word in line.lower() for word in ("error", "critical", "fatal", "failed"))
        ]
        return errors[-1] if errors else "no error in its log"

    def processes_status(self) -> list[tuple[str, int, bool]]:
        """Each process of the mesh (name, pid, alive), for ``egress-mesh status``."""
        self._follow_run()
        return [(r.name, r.pid, processes.is_running(r)) for r in self.state.processes]

    def _log_dir(self, process_name: str) -> Path:
        if process_name == "istio-proxy" and self.state.pod:
            return self._pod_dir()
        if process_name == "istiod":
            return self.state.directory / "istiod"
        if process_name == "shell-server":
            return self.state.directory / "shell"
        return self.state.directory / "internet"

    # Another process of the run ---------------------------------------------------------
    def _follow_run(self) -> None:
        """Take over the pod another process of the run made or removed (the shell's
        kubectl: ``kubectl delete -f samples/sleep/sleep.yaml``, then ``apply``): its
        record, its proxy process, and the sidecar the control plane pushes to."""
        if self.state.foreign_write() is None:
            return
        try:
            on_disk = RunState.load(self.state.directory)
        except (OSError, ValueError, KeyError, TypeError):
            return  # being written, or gone with the run: nothing to take over
        before = self.state.pod.name if self.state.pod else None
        after = on_disk.pod.name if on_disk.pod else None
        if before == after and on_disk.cleanup == self.state.cleanup:
            return
        self.state.pod, self.state.cleanup = on_disk.pod, on_disk.cleanup
        self.cleanup.follow(on_disk.cleanup)
        if before != after:
            if self._admin is not None:
                self._admin.close()
                self._admin = None
            running = on_disk.pod is not None and self._proxy_running()
            self.plane.attach_sidecar(self._sidecar() if running else None)
        for child in self._children.values():
            child.poll()  # a proxy of ours the other process ended

    # The source pod ----------------------------------------------------------------
    def _pod(self) -> PodState:
        self._follow_run()
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

    def _sidecar(self) -> Sidecar:
        pod = self._pod()
        return Sidecar(
            proxy=sourcepod.proxy_info(pod),
            pod=pod.pod,
            directory=self._pod_dir(),
            admin=self.admin,
            alive=self._check_alive,
            error_log=self._pod_dir() / "istio-proxy.err",
        )

    def _start_pod(self, pod: PodState) -> Path:
        """The pod's network, and its sidecar's Envoy already started on a named pipe for
        its bootstrap: Envoy's own start before it reads its config (about 60 ms here,
        its statically linked extensions) needs nothing of the pod's admission, so it
        runs while the pod is admitted, and at mesh up while istiod starts. Returns the
        pipe, which ``_create_pod`` then writes the bootstrap to."""
        pod_dir = self.state.directory / "pods" / pod.name
        pod_ns, net = self.state.namespace("pod"), self.state.namespace("net")
        self._record(
            runstate.namespace_record(pod_ns),
            lambda: sourcepod.remove_pod_network(pod_ns, net, pod_dir),
        )
        sourcepod.create_pod_network(
            pod_ns, net, pod, pod_dir, ca_bundle=self.internet.ca_bundle.read_bytes()
        )
        pipe = sourcepod.bootstrap_pipe(pod_dir)
        sample = injection_facts.template(injection_facts.sleep_deployment())
        self._spawn(
            "istio-proxy",
            processes.in_namespace(
                pod_ns, envoy_command(pipe), uid=sourcepod.PROXY_UID, gid=sourcepod.PROXY_GID
            ),
            pod_dir,
            owner_uid=sourcepod.PROXY_UID,
            # The sleep sample gives its pod no grace period (its
            # terminationGracePeriodSeconds is 0, which injection keeps), and nothing waits
            # on the old proxy's drain: it is killed, 25 ms sooner than a SIGTERM ends it.
            grace=0.0 if injection_facts.termination_grace_period(sample) == 0 else None,
        )
        return pipe

    def _start_first_pod(self) -> None:
        """Mesh up: the source pod started beside istiod (admitted once istiod serves)."""
        pod = sourcepod.new_pod_state(Injection.AUTOMATIC, None)
        self._first_pod = (pod, self._start_pod(pod))

    def _create_first_pod(self) -> None:
        started, self._first_pod = self._first_pod, None
        if started is None:
            raise ClusterError("the source pod was not started with the control plane")
        self._create_pod(Injection.AUTOMATIC, None, started=started)

    def _create_pod(
        self,
        injection: Injection,
        include: Sequence[str] | None,
        *,
        started: tuple[PodState, Path] | None = None,
    ) -> None:
        """(Re-)create the source pod: started (network, Envoy) beside its admission by
        istiod's injector, unless ``started`` already, then its bootstrap, istio-init and
        its registration in istiod's Kubernetes."""
        admitted: list[Workload] = []
        pipes: list[Path] = []
        if started is None:
            self._remove_pod()
            pod = sourcepod.new_pod_state(injection, include)
            starts = [("pod_start", lambda: pipes.append(self._start_pod(pod)))]
        else:
            pod, pipe = started
            starts, pipes = [], [pipe]

        def admit() -> None:
            admitted.append(
                self.plane.deploy(
                    injection_facts.sleep_deployment(), injection, pod.name, pod.include_ip_ranges
                )
            )

        try:
            run_together([*starts, ("admission", admit)], self.timings)
        except BaseException:
            self._discard_started_pod()  # a pod not admitted leaves no network or Envoy
            raise
        pod.deployment, pod.pod = admitted[0].deployment, admitted[0].pod
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for stored in (pod.deployment, pod.pod):  # what the API server adds
            metadata = stored.setdefault("metadata", {})
            metadata["creationTimestamp"] = created
            metadata.setdefault("uid", str(uuid.uuid4()))
        self.state.pod = pod
        self.state.save()
        sidecar = self._sidecar()
        bootstrap = self.plane.bootstrap(sidecar)
        pod_ns = self.state.namespace("pod")

        def start_sidecar() -> None:
            sourcepod.send_bootstrap(pipes[0], bootstrap, self._check_alive, self.ready_timeout)
            self.admin.wait_ready(self.ready_timeout, self._check_alive)

        # On Kubernetes the pod is in the API (istiod's Kubernetes) before istio-init
        # runs, and istio-init before the sidecar starts. Here all three go at once: the
        # sidecar's uid 1337 is exempt from the rules, so nothing it does differs. Should
        # Envoy connect before istiod holds the pod, the pod's own push follows, and the
        # sidecar is in sync only once it has ACKed that push (wait_for_proxy_config).
        run_together(
            [
                ("istio_init", lambda: self.plane.install_interception(pod_ns, pod.pod)),
                ("sidecar", start_sidecar),
                ("pod_registered", lambda: self.plane.add_sidecar(sidecar)),
            ],
            self.timings,
        )
        self.wait_for_proxy_config(self.ready_timeout)

    def _discard_started_pod(self) -> None:
        """Close what a pod's start registered (its Envoy, then its network) when the pod
        was not admitted: the run's record has no pod for ``_remove_pod`` to go by."""
        for record in self.cleanup.records():
            if record.kind == runstate.PROCESS and record.data["name"] == "istio-proxy":
                self.cleanup.close(record.name)
        pod_ns = runstate.namespace_record(self.state.namespace("pod")).name
        if pod_ns in self.cleanup:
            self.cleanup.close(pod_ns)

    def _remove_pod(self) -> None:
        """The pod's proxy, then its network (namespace, veth, directory): closed now on
        the run's stack, so the next pod starts clean."""
        self._follow_run()
        for record in self.cleanup.records():
            if record.kind == runstate.PROCESS and record.data["name"] == "istio-proxy":
                self.cleanup.close(record.name)
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.state.pod is not None:
            self.plane.remove_sidecar()
            pod_ns = runstate.namespace_record(self.state.namespace("pod")).name
            if pod_ns in self.cleanup:
                self.cleanup.close(pod_ns)
            else:  # a pod whose network was never registered (its creation failed first)
                sourcepod.remove_pod_network(
                    self.state.namespace("pod"), self.state.namespace("net"), self._pod_dir()
                )
        self.state.save()

    def _proxy_running(self) -> bool:
        return any(
            r.name == "istio-proxy" and processes.is_running(r) for r in self.state.processes
        )

    # Cluster protocol: configuration ---------------------------------------------------
    def kinds(self) -> list[KindNames]:
        return self.plane.kinds()

    def kind_names(self, name: str) -> KindNames:
        """The kind kubectl means by ``name`` (``se``, ``serviceentries``...), or one line."""
        found = kubectl.resolve(name, self.kinds())
        if found is None:
            raise ClusterError(kubectl.unknown_resource_type(name))
        return found

    def describe(self) -> Mapping[str, str]:
        info: dict[str, str] = {
            "backend": "local",
            "platform": "local",
            **self.plane.describe(),
            "internal_ip_ranges": ",".join(self.internal_ip_ranges()),
            "run": self.state.run_id,
        }
        try:
            info["envoy"] = self.admin.server_info().get("version", "?")
        except Exception:
            info["envoy"] = "unknown"
        return info

    def apply(self, manifest: str, *, dry_run: bool = False) -> list[ResourceRef]:
        """Admit and store every document (``dry_run``: admit only, as kubectl's
        --dry-run=server)."""
        self._follow_run()
        documents = load_documents(manifest)
        for document in documents:
            check_served_locally(document)
            kubectl.check_document(document, self.kinds())
        return self.plane.apply(documents, dry_run=dry_run)

    def delete(
        self,
        kind: str,
        name: str,
        *,
        ignore_not_found: bool = False,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> bool:
        self._follow_run()
        names = self.kind_names(kind)
        if not self.plane.delete(names.kind, namespace, name):
            if ignore_not_found:
                return False
            raise ClusterError(f'{names.plural}.{names.group} "{name}" not found')
        return True

    def get(self, kind: str, namespace: str | None = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
        """``kubectl get KIND -o yaml`` (``-A`` with namespace None): the stored objects.
        An unknown kind is refused as kubectl refuses it."""
        self._follow_run()
        return self.plane.items(self.kind_names(kind).kind, namespace)

    def resources(self, kind: str) -> list[str]:
        self._follow_run()
        found = kubectl.resolve(kind, self.kinds())
        return self.plane.names(found.kind, DEFAULT_NAMESPACE) if found else []

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy:
        self._follow_run()
        return self.plane.outbound_traffic_policy()

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy | str) -> None:
        try:
            mode = OutboundTrafficPolicy(str(mode))
        except ValueError:
            raise ClusterError(
                f'meshConfig.outboundTrafficPolicy.mode: Unsupported value: "{mode}": '
                'supported values: "ALLOW_ANY", "REGISTRY_ONLY"'
            ) from None
        self._follow_run()
        self.plane.set_outbound_traffic_policy(mode)

    def wait_for_proxy_config(self, timeout: float) -> None:
        self._follow_run()
        if self.state.pod is None:
            return
        self.plane.wait_synced(timeout)

    # Cluster protocol: the source pod ---------------------------------------------------
    def deploy_source_pod(
        self,
        injection: Injection = Injection.AUTOMATIC,
        include_ip_ranges: Sequence[str] | None = None,
    ) -> PodStatus:
        self._create_pod(Injection(injection), include_ip_ranges)
        return self.source_pod()

    def delete_source_pod(self) -> bool:
        self._follow_run()
        if self.state.pod is None:
            return False
        self._remove_pod()
        self.state.pod = None
        self.state.save()
        return True

    def source_pod(self) -> PodStatus:
        """The pod as its objects say (containers and istio-init's ranges as injection
        left them, injection read from the Deployment and the pod), its sidecar's
        state from the process, and its labels from istiod when it holds them."""
        pod = self._pod()
        running = self._proxy_running()
        labels = self.plane.proxy_labels(self._sidecar()) if running else None
        containers = injection_facts.container_names(pod.pod)
        if not running:
            containers = tuple(c for c in containers if c != injection_facts.SIDECAR)
        return PodStatus(
            name=pod.name,
            namespace=DEFAULT_NAMESPACE,
            labels=sourcepod.labels(pod) if labels is None else labels,
            containers=containers,
            ready=running and self.admin.is_ready(),
            injection=injection_facts.injected_by(pod.deployment, pod.pod),
            include_ip_ranges=injection_facts.include_ip_ranges(pod.pod),
        )

    def pods_labelled(self, selector: str) -> list[str]:
        """The pod as the host shows it: its network namespace or its running sidecar,
        not the run's record of what was deployed or deleted. Its labels are istiod's
        while the sidecar is connected, else admission's, else (a pod the record lost)
        the sample's."""
        self._follow_run()  # the record's name for it, if another process made it
        pod_ns = self.state.namespace("pod")
        if not network.exists(pod_ns) and not self._proxy_running():
            return []
        pod, labels = self.state.pod, None
        if pod is not None and self._proxy_running():
            labels = self.plane.proxy_labels(self._sidecar())
        if labels is None:
            template = injection_facts.template(injection_facts.sleep_deployment())
            sample = (template.get("metadata") or {}).get("labels") or {}
            labels = sourcepod.labels(pod) if pod is not None else sample
        name = pod.name if pod is not None else f"(the pod of network namespace {pod_ns})"
        return [name] if selector_matches(selector, labels) else []

    def call_in_pod(self, function: Callable[[], T]) -> T:
        """Run ``function`` on a thread inside the source pod's network namespace (what
        the bench measures from where the page's curl runs)."""
        return network.call_in(self.state.namespace("pod"), function)

    def exec_in_source_pod(self, argv: Sequence[str], timeout: float) -> ExecResult:
        self._pod()
        started = time.perf_counter()
        refusal = sourcepod.runtime_refusal(argv)
        if refusal is not None:  # as a cluster's API server answers: the command never ran
            return ExecResult(
                argv=tuple(argv),
                exit_code=runtime.REFUSED_EXIT_CODE,
                stdout="",
                stderr=runtime.kubectl_error(refusal),
                elapsed=time.perf_counter() - started,
            )
        command = sourcepod.exec_argv(self.state.namespace("pod"), argv)
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

    def _log_lines(self) -> list[str]:
        try:
            return complete_lines(self._access_log().read_bytes().decode(errors="replace"))
        except OSError:
            return []

    def sidecar_log_cursor(self) -> LogCursor:
        return LogCursor.after(self._pod().name, self._log_lines())

    def sidecar_log(self, since: LogCursor | None = None) -> list[str]:
        return lines_after(self._log_lines(), since, self._pod().name)

    def sidecar_log_barrier(self, timeout: float) -> str:
        """A request to the sleep Service's ClusterIP: inside the service range, so the
        sidecar intercepts and logs it whatever the include ranges and the mode."""
        return curl_barrier(self, f"http://{sourcepod.SLEEP_CLUSTER_IP}", timeout)

    def sidecar_config_dump(self, resource: str) -> dict[str, Any]:
        self._pod()
        response = self.admin.get_or_death(
            "/config_dump", self._check_alive, params={"resource": resource}
        )
        if response.status_code != 200:
            raise ClusterError(
                f"the sidecar's config_dump?resource={resource}: HTTP {response.status_code} "
                f"{response.text.strip()[:200]}"
            )
        return response.json()

    def proxy_sync_status(self) -> Mapping[str, Any] | None:
        self._pod()
        return self.plane.sync_status()

    def interception_rules(self) -> str:
        """``iptables-save -t nat`` in the pod's namespace: what istio-init installed."""
        self._pod()
        return iptables.dump(self.state.namespace("pod"))

    def internal_ip_ranges(self) -> list[str]:
        return [sourcepod.POD_CIDR, sourcepod.SERVICE_CIDR]

    def reset(self, *, source_pod: SourcePodNeed = SourcePodNeed.PAGE_START) -> None:
        self._follow_run()
        pod = self.state.pod
        self.plane.clear()
        # Read from the objects, as source_pod() reads them, without asking istiod.
        kept = source_pod is SourcePodNeed.NONE or (
            pod is not None
            and self._proxy_running()
            and (
                source_pod is SourcePodNeed.RUNNING
                or at_page_start(
                    injection_facts.injected_by(pod.deployment, pod.pod),
                    injection_facts.include_ip_ranges(pod.pod),
                )
            )
        )
        if not kept:
            self._create_pod(Injection.AUTOMATIC, None)  # waits for the new state
            return
        self.wait_for_proxy_config(self.ready_timeout)

    # What istioctl install wrote (istio-system's ConfigMaps) -------------------------------
    def configmaps(self, namespace: str) -> list[dict[str, Any]]:
        """The install's ConfigMaps in ``namespace``, rendered by Istio's installer."""
        return self.plane.configmaps(namespace)

    def configmap(self, namespace: str, name: str) -> tuple[dict[str, Any], str] | None:
        """One of them and the YAML kubectl prints for it, or None if there is none."""
        return self.plane.configmap(namespace, name)

    def set_configmap_mode(self, mode: OutboundTrafficPolicy | None) -> None:
        """The istio ConfigMap's outboundTrafficPolicy.mode as written (None: no mode
        line, the install's default), as ``kubectl replace`` of it does."""
        self.plane.set_configmap_mode(mode)

    # The page's commands as written ---------------------------------------------------------
    def shell_env(self) -> dict[str, str]:
        """The environment in which the page's commands run as written: this run's
        ``kubectl`` and ``istioctl kube-inject`` first on PATH (clusters/local/kubectl.py
        and istioctl.py, answering as kubectl v1.34 and istioctl do), and the run they
        re-attach to (EGRESS_MESH_RUN_ROOT, EGRESS_MESH_RUN_ID).

        Each wrapper hands its command to the run's shell server, which has the programs'
        modules imported already (clusters/local/shellserver.py), and runs it in a
        process of its own until that server listens; the answer is the same."""
        directory = self.state.directory / "bin"
        directory.mkdir(exist_ok=True)
        env = {
            "PATH": f"{directory}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "EGRESS_MESH_RUN_ROOT": str(self.state.directory.parent),
            "EGRESS_MESH_RUN_ID": self.state.run_id,
        }
        socket_path = self.state.directory / SHELL_SOCKET
        for program, module in SHELL_PROGRAMS.items():
            _write_wrapper(directory / program, self.state.run_id, program, module, socket_path)
        self._start_shell_server(socket_path, env)
        return env

    def _start_shell_server(self, socket_path: Path, env: Mapping[str, str]) -> None:
        """Once per run, not waited for: the wrappers need no server to answer."""
        if len(os.fsencode(socket_path)) >= MAX_SOCKET_PATH:
            return  # a Unix socket's path is at most 107 bytes; the wrappers answer alone
        self._follow_run()
        if any(r.name == "shell-server" and processes.is_running(r) for r in self.state.processes):
            return
        argv = [sys.executable, "-m", "clusters.local.shellserver", str(socket_path)]
        self._spawn(
            "shell-server",
            argv,
            self.state.directory / "shell",
            env={**os.environ, **env, **_python_env()},
        )


def _python_env() -> dict[str, str]:
    """The project on sys.path, and compiled modules kept outside the tree (the page's
    commands call kubectl dozens of times; compiling it each time is most of a start)."""
    return {
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONPYCACHEPREFIX": str(cache.user_cache_dir("pycache")),
        "PYTHONDONTWRITEBYTECODE": "",
    }


def _write_wrapper(wrapper: Path, run_id: str, program: str, module: str, socket: Path) -> None:
    """``bin/kubectl``: the shell client (a few ms, no project imports) for this run."""
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in _python_env().items())
    client = [sys.executable, "-I", "-S", str(SHELL_CLIENT), str(socket), program, module]
    text = (
        "#!/bin/sh\n"
        f"# {program} for the local mesh's run {run_id} (egress-conformance)\n"
        f"export {exports}\n"
        f'exec {shlex.join(client)} "$@"\n'
    )
    if not wrapper.exists() or wrapper.read_text() != text:
        temporary = wrapper.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.chmod(0o755)
        os.replace(temporary, wrapper)


def check_served_locally(document: Mapping[str, object]) -> None:
    """The local mesh's API server holds Istio's config kinds only; a real cluster's would
    take a Service or a Deployment too, so this refusal is the local backend's own."""
    api_version = str(document.get("apiVersion") or "")
    group = api_version.rpartition("/")[0]
    if api_version and document.get("kind") and not group.endswith(".istio.io"):
        raise InvalidResource(
            f'kind "{document["kind"]}" ({api_version}) is not served by the local mesh, '
            "which applies Istio's config kinds (*.istio.io) only"
        )


def _new_run(
    run_root: Path | None,
    sites_file: Path | None,
    owner: str,
    istio_version: str | None,
) -> RunState:
    """Sweep what crashed runs left, then create and record this run's directory."""
    root = run_root or runstate.DEFAULT_RUN_ROOT
    root.mkdir(parents=True, exist_ok=True)
    sourcepod.check_reachable_by_proxy(root)
    cli = owner == "cli"
    with runstate.locked(root):
        runstate.sweep_locked(root, include_cli=cli)
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
            sites_file=str(Path(sites_file).resolve()) if sites_file else None,
            istio_version=istio_version,
            cleanup=[runstate.directory_record(directory)],  # closed last
        )
        state.save()
    return state
