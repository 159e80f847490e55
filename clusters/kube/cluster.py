"""The Cluster protocol on a real Kubernetes cluster with Istio (kind, or one that
someone else runs): everything goes through the API server, as kubectl would.

The suite works in one namespace; what it creates or changes registers its closer on
the cluster's cleanup stack (clusters/shared/cleanup.py): ``reset()`` closes what it
applied, ``close()`` everything, down to the mode it found. A backend that made the
cluster (kind) hands its own stack in, so one ``close()`` also removes the cluster. The source
pod is Istio's sleep sample (clusters/istio/samples); a manual injection goes through
``istioctl kube-inject``, include ranges through the pod annotation
``traffic.sidecar.istio.io/includeOutboundIPRanges`` (what Istio offers since the
page's ``helm template -x`` went away).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusters.istio import injection as injection_facts
from clusters.istio import kubectl_documents as kubectl
from clusters.istio import proxyconfig, syncz
from clusters.istio.kubectl_documents import load_documents
from clusters.kube import istio, podlog
from clusters.kube.api import KubeApi
from clusters.kube.platform import Platform, detect_platform
from clusters.protocol import (
    ClosedByContext,
    ClusterError,
    ExecResult,
    Injection,
    LogCursor,
    OutboundTrafficPolicy,
    PodStatus,
    ResourceRef,
    SourcePodNeed,
    Waits,
    complete_lines,
    lines_after,
    meets,
)
from clusters.shared.barrier import curl_barrier
from clusters.shared.cleanup import CleanupStack
from clusters.shared.waiting import NotYet, wait_on_cluster

ISTIO_API_VERSION = f"{kubectl.NETWORKING_GROUP}/v1"
# istiod pushes within its debounce (100 ms, at most 10 s under load); a change that
# brought no push this long after it was made is one istiod decided not to push.
NO_PUSH_AFTER_S = 12.0
INCLUDE_ANNOTATION = "traffic.sidecar.istio.io/includeOutboundIPRanges"
SAMPLE_LABEL = "app=sleep"
API_SERVER_LABEL = "component=kube-apiserver"  # kubeadm's static pod
SERVICE_RANGE_FLAG = "--service-cluster-ip-range="
APPLIED = "applied "  # the names of the closers of what the suite applied


@dataclass
class KubeSettings:
    backend: str  # kind or existing
    platform: str | None  # kind; None: told from the nodes (clusters/kube/platform.py)
    waits: Waits
    namespace: str = "default"
    istio_namespace: str = istio.SYSTEM_NAMESPACE
    istioctl: Path | None = None  # for istioctl kube-inject (manual injection)
    # --literal: a directory of the programs the page's commands call (kind: the kit's
    # kubectl, istioctl and helm), first on PATH; None: the user's PATH (existing).
    tools: Path | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    extra_facts: dict[str, str] = field(default_factory=dict)
    owns_namespace: bool = False  # existing: the namespace is the suite's, removed at close


class KubeCluster(ClosedByContext):
    """One namespace of a cluster with Istio, driven through the API server."""

    def __init__(
        self, api: KubeApi, settings: KubeSettings, cleanup: CleanupStack | None = None
    ) -> None:
        self.api = api
        self.settings = settings
        self.name = settings.backend
        self.cleanup = cleanup if cleanup is not None else CleanupStack()
        self.cleanup.push("the API client", api.close)
        install = istio.find_istio(api, settings.istio_namespace)
        if install is None:
            raise ClusterError(
                f"no Running istiod (label {istio.ISTIOD_LABEL}) in namespace "
                f"{settings.istio_namespace}: install Istio first (istioctl install)"
            )
        self.install = install
        # The mesh config's mode as found (None: unset), put back at close.
        self.configured_mode = istio.configured_outbound_traffic_policy(api, install.namespace)
        if settings.owns_namespace:  # created by the first deploy, removed (and awaited) last
            self.cleanup.push(f"namespace {settings.namespace}", self._remove_namespace)
        self.cleanup.push("the outbound traffic policy as found", self._restore_mode)
        # The mode a sidecar ran before the suite first changed it: see installed_mode().
        self._installed: tuple[str, str] | None = None  # (mode or "unknown", evidence)
        self._pending = -1  # the push the proxy must have ACKed
        self._changed_at = 0.0  # when the last change was made (time.monotonic)
        # The mode a change of it must show in the sidecar's listener before it is in sync.
        self._awaited_mode: OutboundTrafficPolicy | None = None
        self._shell_kubeconfig: Path | None = None  # --literal's kubeconfig copy

    # Facts ---------------------------------------------------------------------------
    def describe(self) -> Mapping[str, str]:
        installed, seen = self.installed_mode()
        return {
            **self._facts,
            "installed_outbound_traffic_policy": installed,
            "installed_outbound_traffic_policy_seen": seen,
        }

    @functools.cached_property
    def _facts(self) -> dict[str, str]:
        """Facts fixed once the cluster is found, read from the API server once. A cluster
        kubeadm did not set up (GKE, EKS...) has no ranges to report, which is no error."""
        platform = self._platform()
        facts = {
            "backend": self.settings.backend,
            "platform": platform.name,
            "platform_evidence": platform.evidence,
            "istio": self.install.version,
            "control_plane": f"istiod {self.install.version} ({self.install.namespace})",
            "mesh_config_outbound_traffic_policy": (
                self.configured_mode.value if self.configured_mode else "unset"
            ),
            "namespace": self.settings.namespace,
            **self.settings.extra_facts,
        }
        for fact, read in (
            ("internal_ip_ranges", lambda: ",".join(self.internal_ip_ranges())),
            ("kubernetes", lambda: _server_version(self.api)),
        ):
            try:
                facts[fact] = read()
            except ClusterError:
                facts[fact] = "unknown"
        return facts

    def _platform(self) -> Platform:
        """The platform the backend declares (kind), else the one the nodes show."""
        if self.settings.platform:
            return Platform(self.settings.platform, f"the {self.settings.backend} backend")
        try:
            nodes = self.api.list("v1", "Node", None)
            api_servers = self._api_server_pods()
        except ClusterError as error:
            return Platform("unknown", f"the nodes could not be read: {error}")
        names = [p["metadata"]["name"] for p in api_servers]
        return detect_platform(nodes, api_server_pods=names)

    def _api_server_pods(self) -> list[dict[str, Any]]:
        return self.api.list("v1", "Pod", "kube-system", label_selector=API_SERVER_LABEL)

    def installed_mode(self) -> tuple[str, str]:
        """The mesh's mode as installed, as a sidecar runs it: where its virtualOutbound
        listener sends an unknown destination (PassthroughCluster, BlackHoleCluster),
        and on which pod that was seen. The istio ConfigMap may not say (then Istio's
        default applies, or a revision's or an operator's mesh config), so it is observed
        once, before the suite first changes the mode (reset, a mode step), on the source
        pod (deployed first when there is none)."""
        if self._installed is None:
            try:
                pod = self._pod_or_none()
                if pod is None:
                    pod = self.deploy_source_pod().name
                else:
                    self.wait_for_proxy_config(self.settings.waits.propagation)
                dump = self.sidecar_config_dump(proxyconfig.LISTENERS)
            except ClusterError as error:  # not asked again: the next change would show
                self._installed = ("unknown", f"no sidecar to read it from: {error}")
                return self._installed
            mode = proxyconfig.mode_in_effect(dump)
            target = proxyconfig.unmatched_outbound_cluster(dump)
            self._installed = (
                mode.value if mode else "unknown",
                f"pod {pod}: {proxyconfig.VIRTUAL_OUTBOUND} sends unknown destinations to "
                f"{target or 'nothing'}",
            )
        return self._installed

    def _unset_runs(self) -> OutboundTrafficPolicy:
        """What istiod runs while the ConfigMap names no mode: what the sidecar was seen
        running when the ConfigMap was found so, else Istio's default."""
        if self.configured_mode is None and self._installed is not None:
            try:
                return OutboundTrafficPolicy(self._installed[0])
            except ValueError:
                pass
        return OutboundTrafficPolicy.ALLOW_ANY

    def _kubeadm_networking(self) -> Mapping[str, Any]:
        configmap = self.api.get("v1", "ConfigMap", "kubeadm-config", "kube-system")
        text = ((configmap or {}).get("data") or {}).get("ClusterConfiguration")
        return ((yaml.safe_load(text) if text else None) or {}).get("networking") or {}

    def service_ip_ranges(self) -> list[str]:
        """The Service CIDR as kubeadm configured it (ClusterConfiguration's
        networking.serviceSubnet), else as the kube-apiserver pod's spec passes it
        (--service-cluster-ip-range); the ``kubernetes`` Service's ClusterIP, the first
        address allocated from it, must lie within it."""
        ranges = _cidrs(self._kubeadm_networking().get("serviceSubnet"))
        if not ranges:
            for pod in self._api_server_pods():
                for container in (pod.get("spec") or {}).get("containers") or ():
                    for arg in [*(container.get("command") or ()), *(container.get("args") or ())]:
                        if str(arg).startswith(SERVICE_RANGE_FLAG):
                            ranges = _cidrs(str(arg).removeprefix(SERVICE_RANGE_FLAG))
        if not ranges:
            raise ClusterError(
                "cannot read the cluster's Service range: no kubeadm-config serviceSubnet "
                f"and no kube-apiserver pod ({API_SERVER_LABEL}) with {SERVICE_RANGE_FLAG}"
            )
        service = self.api.get("v1", "Service", "kubernetes", "default") or {}
        cluster_ip = str((service.get("spec") or {}).get("clusterIP") or "")
        if cluster_ip and not any(
            ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(r, strict=False)
            for r in ranges
        ):
            raise ClusterError(
                f"the kubernetes Service's ClusterIP {cluster_ip} is outside the configured "
                f"Service range {', '.join(ranges)}"
            )
        return ranges

    def internal_ip_ranges(self) -> list[str]:
        """The pod and service CIDRs kubeadm set up (its ClusterConfiguration)."""
        networking = self._kubeadm_networking()
        ranges = [
            *_cidrs(networking.get("podSubnet")),
            *_cidrs(networking.get("serviceSubnet")),
        ]
        if not ranges:
            raise ClusterError(
                "cannot read the cluster's pod and service ranges (no kubeadm-config "
                "ClusterConfiguration): pass them with the page's per-platform command"
            )
        return ranges

    # Istio configuration -------------------------------------------------------------
    def _newest_push(self) -> int:
        """The newest push istiod has sent the sidecar (-1 without a sidecar): a change
        made after this reading reaches it in a later push."""
        pod = self._pod_or_none()
        return -1 if pod is None else syncz.newest_push(self._sync_status(pod))

    def _sync_status(self, pod: str) -> Mapping[str, Any] | None:
        """istiod's /debug/syncz entry for the sidecar of ``pod``."""
        statuses = istio.syncz(self.api, self.install)
        return syncz.proxy_status(statuses, pod, self.settings.namespace)

    def _expect_push_after(self, newest: int) -> None:
        """A change was made: the sidecar is in sync once it has ACKed a later push."""
        self._pending = max(self._pending, newest + 1)
        self._changed_at = time.monotonic()

    def apply(self, manifest: str) -> list[ResourceRef]:
        documents = load_documents(manifest)
        for document in documents:
            kubectl.check_kind_set(document)
        versions = [self._resource_version(d) for d in documents]
        newest = self._newest_push()
        applied = self.api.apply(documents, self.settings.namespace)  # may refuse: no change
        if versions != [d["metadata"].get("resourceVersion") for d in applied]:
            self._expect_push_after(newest)  # kubectl's "unchanged" brings no push
        refs = []
        for document in applied:
            metadata = document["metadata"]
            namespace = metadata.get("namespace") or self.settings.namespace
            self._register_applied(
                document["apiVersion"], document["kind"], namespace, metadata["name"]
            )
            refs.append(ResourceRef(document["kind"], metadata["name"], namespace))
        return refs

    def _register_applied(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        key = f"{APPLIED}{kind} {namespace}/{name}"
        if key not in self.cleanup:
            self.cleanup.push(key, lambda: self.api.delete(api_version, kind, name, namespace))

    def _resource_version(self, document: Mapping[str, Any]) -> str | None:
        metadata = document.get("metadata") or {}
        try:
            found = self.api.get(
                document["apiVersion"],
                document["kind"],
                metadata["name"],
                metadata.get("namespace") or self.settings.namespace,
            )
        except ClusterError:
            return None
        return (found or {}).get("metadata", {}).get("resourceVersion")

    def _kind(self, name: str) -> str:
        kind = kubectl.canonical_kind(name)
        if kind is None:
            raise ClusterError(kubectl.unknown_resource_type(name))
        return kind

    def delete(self, kind: str, name: str, *, ignore_not_found: bool = False) -> bool:
        canonical = self._kind(kind)
        newest = self._newest_push()
        if self.api.delete(ISTIO_API_VERSION, canonical, name, self.settings.namespace):
            self.cleanup.forget(f"{APPLIED}{canonical} {self.settings.namespace}/{name}")
            self._expect_push_after(newest)
            return True
        if ignore_not_found:
            return False
        plural = kubectl.PLURALS.get(canonical, f"{canonical.lower()}s")
        raise ClusterError(f'{plural}.{kubectl.NETWORKING_GROUP} "{name}" not found')

    def resources(self, kind: str) -> list[str]:
        canonical = kubectl.canonical_kind(kind)
        if canonical is None:
            return []
        items = self.api.list(ISTIO_API_VERSION, canonical, self.settings.namespace)
        return sorted(item["metadata"]["name"] for item in items)

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy:
        """The ConfigMap's mode; where it names none, what istiod was seen to run then."""
        configured = istio.configured_outbound_traffic_policy(self.api, self.install.namespace)
        return configured or self._unset_runs()

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy) -> None:
        self.installed_mode()  # seen before the first change, or never
        newest = self._newest_push()
        if istio.set_outbound_traffic_policy(
            self.api,
            OutboundTrafficPolicy(mode),
            self.install.namespace,
            unset_runs=self._unset_runs(),
        ):
            self._expect_push_after(newest)  # the same mode again brings no push
            self._awaited_mode = OutboundTrafficPolicy(mode)

    def wait_for_proxy_config(self, timeout: float) -> None:
        pod = self._pod_or_none()
        if pod is None:
            return

        def synced() -> None:
            status = self._sync_status(pod)
            lagging = syncz.sync_lag(status, self._pending)
            quiet = time.monotonic() - self._changed_at > NO_PUSH_AFTER_S
            if lagging and quiet and status is not None and not syncz.unacked(status):
                # istiod found the change irrelevant to this proxy (a ServiceEntry made
                # and deleted within one debounce): everything sent is ACKed, and no
                # push came. The steps' checks still retry within their bound.
                self._pending = syncz.newest_push(status)
                return
            if lagging:
                raise NotYet(", ".join(lagging))
            if self._awaited_mode is not None:
                self._check_listener_mode(self._awaited_mode)
                self._awaited_mode = None

        wait_on_cluster(
            synced,
            timeout=timeout,
            what=f"the sidecar did not ACK istiod's push {self._pending}",
        )

    def _check_listener_mode(self, mode: OutboundTrafficPolicy) -> None:
        """A mode change is in sync once the sidecar's virtualOutbound listener sends
        unknown destinations where the mode says. The push counter alone cannot tell:
        a push istiod started for another reason just before the change takes the next
        number without it, and under load the mode's own push may come a second later."""
        expected = proxyconfig.CLUSTER_OF_MODE[mode]
        target = proxyconfig.unmatched_outbound_cluster(
            self.sidecar_config_dump(proxyconfig.LISTENERS)
        )
        if target != expected:
            raise NotYet(f"{proxyconfig.VIRTUAL_OUTBOUND} to send to {expected} (not {target})")

    def sidecar_config_dump(self, resource: str) -> Mapping[str, Any]:
        """Envoy's admin on the pod's loopback, through a port-forward (as ``istioctl
        proxy-config`` reads it; ``pilot-agent request GET config_dump`` asks the same)."""
        pod = self._pod()
        path = f"/config_dump?resource={resource}"
        answer = self.api.http_get(
            self.settings.namespace, pod, proxyconfig.ADMIN_PORT, path, self.settings.waits.exec
        )
        if answer.status != 200:
            reason = answer.body.strip().splitlines()[0] if answer.body.strip() else ""
            raise ClusterError(f"GET {path} on the sidecar: HTTP {answer.status} {reason}")
        return json.loads(answer.body or "{}")  # Envoy's JSON (YAML's parser is 100x slower)

    def proxy_sync_status(self) -> Mapping[str, Any] | None:
        pod = self._pod()
        return self._sync_status(pod)

    def interception_rules(self) -> str:
        """What istio-init printed when it installed the pod's rules (its container log
        holds the iptables-restore input), else its arguments."""
        pod = self._pod()
        try:
            return self.api.logs(self.settings.namespace, pod, injection_facts.INIT)
        except ClusterError:
            found = self.api.get("v1", "Pod", pod, self.settings.namespace) or {}
            args = injection_facts.init_args(found)
            return " ".join(args) if args else "(the pod has no istio-init container)"

    # The source pod ------------------------------------------------------------------
    def _label_namespace(self) -> None:
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": self.settings.namespace,
                "labels": {"istio-injection": "enabled"},  # the page's kubectl label
            },
        }
        self.api.apply([namespace], self.settings.namespace)

    def deploy_source_pod(
        self,
        injection: Injection = Injection.AUTOMATIC,
        include_ip_ranges: Sequence[str] | None = None,
    ) -> PodStatus:
        self._delete_sample(force=True)  # the old pod is not the page's to watch go
        self._label_namespace()
        documents = injection_facts.sleep_sample()
        for document in documents:
            if document["kind"] == "Deployment" and include_ip_ranges is not None:
                template = document["spec"]["template"]["metadata"]
                template.setdefault("annotations", {})[INCLUDE_ANNOTATION] = ",".join(
                    include_ip_ranges
                )
        if Injection(injection) is Injection.MANUAL:
            documents = self._kube_inject(documents)
        self.api.apply(documents, self.settings.namespace)
        self._wait_for_pod()
        self._pending = -1
        self.wait_for_proxy_config(self.settings.waits.ready)
        return self.source_pod()

    def _kube_inject(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``istioctl kube-inject -f -`` against this cluster's injector config."""
        if self.settings.istioctl is None:
            raise ClusterError("manual injection needs istioctl (istioctl kube-inject)")
        command = [str(self.settings.istioctl), "kube-inject", "-f", "-"]
        if self.settings.kubeconfig:
            command += ["--kubeconfig", str(self.settings.kubeconfig)]
        if self.settings.context:
            command += ["--context", self.settings.context]
        completed = subprocess.run(
            command,
            input=yaml.safe_dump_all(documents),
            capture_output=True,
            text=True,
            timeout=self.settings.waits.exec,
            check=False,
        )
        if completed.returncode != 0:
            lines = completed.stderr.strip().splitlines() or ["no output"]
            raise ClusterError(f"istioctl kube-inject failed: {lines[-1]}")
        return [d for d in yaml.safe_load_all(completed.stdout) if d]

    def _pods(self) -> list[dict[str, Any]]:
        """The sample's pods that are not on their way out."""
        pods = self.api.list("v1", "Pod", self.settings.namespace, label_selector=SAMPLE_LABEL)
        return [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]

    def _wait_for_pod(self) -> None:
        def ready() -> None:
            pods = self._pods()
            if len(pods) != 1:
                raise NotYet(f"{len(pods)} sleep pods")
            conditions = (pods[0].get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                raise NotYet(f"pod {pods[0]['metadata']['name']} Ready")

        wait_on_cluster(
            ready,
            timeout=self.settings.waits.ready,
            what="the sleep pod did not become Ready",
        )

    def delete_source_pod(self) -> bool:
        """The page's delete: the sample's objects, then a wait until its pod is gone, as
        Kubernetes removes it (after its kubelet has ended it)."""
        return self._delete_sample(force=False)

    def _delete_sample(self, *, force: bool) -> bool:
        existed = False
        namespace = self.settings.namespace
        for document in reversed(injection_facts.sleep_sample()):
            existed |= self.api.delete(
                document["apiVersion"], document["kind"], document["metadata"]["name"], namespace
            )
        if force:
            self._force_pods_out(namespace)

        def gone() -> None:
            if pods := self.api.list("v1", "Pod", self.settings.namespace, SAMPLE_LABEL):
                raise NotYet(f"{len(pods)} sleep pods terminating")

        wait_on_cluster(
            gone,
            timeout=self.settings.waits.ready,
            what="the sleep pod did not go away",
        )
        return existed

    def _force_pods_out(self, namespace: str) -> None:
        """Before a new sample replaces the old one: the old pod would go once its
        kubelet has ended it (istio-proxy's SIGTERM, then the kubelet's minimum of 2 s
        before its SIGKILL: about 3 s). Nothing reads it again, so it leaves the API now,
        as ``kubectl delete --grace-period=0 --force`` makes it, and the new pod starts
        while it ends; once its ReplicaSet is gone, which would otherwise replace it."""

        def replica_sets_gone() -> None:
            if sets := self.api.list("apps/v1", "ReplicaSet", namespace, SAMPLE_LABEL):
                raise NotYet(f"{len(sets)} sleep ReplicaSets")

        wait_on_cluster(
            replica_sets_gone,
            timeout=self.settings.waits.ready,
            what="the sleep Deployment's ReplicaSet did not go away",
        )
        for pod in self.api.list("v1", "Pod", namespace, label_selector=SAMPLE_LABEL):
            name = pod["metadata"]["name"]
            self.api.delete("v1", "Pod", name, namespace, grace_period_seconds=0)

    def _pod_or_none(self) -> str | None:
        pods = self._pods()
        return pods[0]["metadata"]["name"] if pods else None

    def _pod(self) -> str:
        name = self._pod_or_none()
        if name is None:
            raise ClusterError(f'no pod matches label "{SAMPLE_LABEL}": deploy it first')
        return name

    def pods_labelled(self, selector: str) -> list[str]:
        """Every pod the API server lists with the labels, terminating ones included (as
        ``kubectl get pod -l`` shows them); its errors propagate as ClusterError."""
        pods = self.api.list("v1", "Pod", self.settings.namespace, label_selector=selector)
        return sorted(p["metadata"]["name"] for p in pods)

    def source_pod(self) -> PodStatus:
        pods = self._pods()
        if not pods:
            raise ClusterError(f'no pod matches label "{SAMPLE_LABEL}": deploy it first')
        pod = pods[0]
        deployment = self.api.get("apps/v1", "Deployment", "sleep", self.settings.namespace)
        status = pod.get("status") or {}
        # a native sidecar (Kubernetes 1.33+) reports in initContainerStatuses
        statuses = [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]
        conditions = (pod.get("status") or {}).get("conditions") or []
        running = {s["name"] for s in statuses if (s.get("state") or {}).get("running")}
        return PodStatus(
            name=pod["metadata"]["name"],
            namespace=pod["metadata"]["namespace"],
            labels=dict(pod["metadata"].get("labels") or {}),
            containers=tuple(c for c in injection_facts.container_names(pod) if c in running),
            ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
            injection=injection_facts.injected_by(deployment, pod),
            include_ip_ranges=injection_facts.include_ip_ranges(pod),
        )

    def exec_in_source_pod(self, argv: Sequence[str], timeout: float) -> ExecResult:
        return self.api.exec(self.settings.namespace, self._pod(), "sleep", argv, timeout)

    def _log_lines(self, pod: str) -> list[str]:
        return complete_lines(self.api.logs(self.settings.namespace, pod, injection_facts.SIDECAR))

    def _stamped(self, pod: str, **options: Any) -> list[tuple[str, str]]:
        text = self.api.logs(
            self.settings.namespace, pod, injection_facts.SIDECAR, timestamps=True, **options
        )
        return podlog.stamped_lines(text)

    def sidecar_log_cursor(self) -> LogCursor:
        """The newest line's timestamp (a short tail read), not the whole log."""
        pod = self._pod()
        found = podlog.mark(self._stamped(pod, tail_lines=podlog.MARK_TAIL_LINES))
        if found is None:
            return LogCursor(pod, 0)  # an empty log: every line to come is new
        stamp, at_mark = found
        return LogCursor(pod, at_mark, since=stamp)

    def sidecar_log(self, since: LogCursor | None = None) -> list[str]:
        pod = self._pod()
        if since is None or since.pod != pod or since.since is None:
            return lines_after(self._log_lines(pod), since, pod)
        stamped = self._stamped(pod, since_time=podlog.Stamp.parse(since.since).since_time)
        return podlog.after(stamped, since.since, since.lines)

    def sidecar_log_barrier(self, timeout: float) -> str:
        """A request the sidecar surely intercepts and logs: to the sleep Service itself."""
        return curl_barrier(self, f"http://sleep.{self.settings.namespace}", timeout)

    # For --literal: the page's commands run by a user's kubectl ---------------------------
    def shell_env(self) -> dict[str, str]:
        """KUBECONFIG for a kubectl that works in the suite's namespace (a private copy
        of the kubeconfig whose context names it), and the settings' tools (else the
        istioctl given) first on PATH, so the page's commands run the release's own."""
        if self._shell_kubeconfig is None:
            source = (
                self.settings.kubeconfig
                or Path(
                    os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
                ).expanduser()
            )
            config = yaml.safe_load(source.read_text()) or {}
            current = self.settings.context or config.get("current-context")
            for entry in config.get("contexts") or ():
                if entry.get("name") == current:
                    entry.setdefault("context", {})["namespace"] = self.settings.namespace
            config["current-context"] = current
            handle, name = tempfile.mkstemp(prefix="egress-literal-", suffix=".kubeconfig")
            with os.fdopen(handle, "w") as out:
                yaml.safe_dump(config, out)
            self._shell_kubeconfig = copy = Path(name)
            self.cleanup.push("--literal's kubeconfig copy", lambda: copy.unlink(missing_ok=True))
        env = {"KUBECONFIG": str(self._shell_kubeconfig)}
        first = self.settings.tools or (self.settings.istioctl and self.settings.istioctl.parent)
        if first is not None:
            env["PATH"] = f"{first}{os.pathsep}{os.environ.get('PATH', '')}"
        return env

    # Lifecycle -----------------------------------------------------------------------
    def _remove_applied(self) -> bool:
        """Delete what the suite applied, newest first; True if something was there."""
        removed = False
        for name in reversed(self.cleanup.names()):
            if name.startswith(APPLIED):
                removed |= bool(self.cleanup.close(name))
        return removed

    def reset(self, *, source_pod: SourcePodNeed = SourcePodNeed.PAGE_START) -> None:
        self.installed_mode()  # seen before the first change, or never
        newest = self._newest_push()
        changed = self._remove_applied()
        # The page starts from a default install: ALLOW_ANY, and a ConfigMap that names
        # no mode when the install named none (the page's grep and sed then find no line,
        # as on a fresh cluster, not the line an earlier scenario's reset wrote).
        unset = (
            self.configured_mode is None and self._unset_runs() is OutboundTrafficPolicy.ALLOW_ANY
        )
        if istio.set_outbound_traffic_policy(
            self.api,
            None if unset else OutboundTrafficPolicy.ALLOW_ANY,
            self.install.namespace,
            unset_runs=self._unset_runs(),
        ):
            changed = True
            self._awaited_mode = OutboundTrafficPolicy.ALLOW_ANY  # unset: what it runs too
        if changed:
            self._expect_push_after(newest)
        try:
            pod = self.source_pod()
        except ClusterError:
            pod = None
        if not meets(source_pod, pod):
            self.deploy_source_pod()
            return
        self.wait_for_proxy_config(self.settings.waits.propagation)

    def close(self) -> None:
        """Undo what the suite did, newest first: its resources, the mode it found, its
        own namespace (waiting until it is gone), the API client; then whatever the
        backend registered before (kind: the cluster itself)."""
        self.cleanup.done()

    def _restore_mode(self) -> None:
        istio.set_outbound_traffic_policy(
            self.api, self.configured_mode, self.install.namespace, unset_runs=self._unset_runs()
        )

    def _remove_namespace(self) -> None:
        namespace = self.settings.namespace
        self.api.delete("v1", "Namespace", namespace, None)

        def gone() -> None:
            if self.api.get("v1", "Namespace", namespace, None) is not None:
                raise NotYet(f"namespace {namespace} terminating")

        wait_on_cluster(
            gone,
            timeout=self.settings.waits.ready,
            what=f"namespace {namespace} was not removed",
        )


def _cidrs(text: object) -> list[str]:
    """A comma-separated list of CIDRs as kubeadm and kube-apiserver write them."""
    return [cidr.strip() for cidr in str(text or "").split(",") if cidr.strip()]


def _server_version(api: KubeApi) -> str:
    try:
        info = api.dynamic.version.get("kubernetes") or {}
    except Exception as error:
        raise ClusterError(f"the API server's version: {error}") from None
    return str(info.get("gitVersion", "unknown"))
