"""An in-memory Cluster, for tests of steps and reports that need no root, no network
and no Istio: the protocol's bookkeeping is real, what a command in the pod does is a
handler's (as httpx's MockTransport hands each request to a function).

It runs no Istio and imitates none: it answers with what the pinned Istio answered,
recorded (clusters/istio/recorded). It serves the kinds Istio's CRDs serve, refuses a
document Istio refused in Istio's words, and accepts any other, since a manifest that is
not recorded has no answer to give. Its pod is the one Istio's injector made, and the
pod's interception rules are the ones Istio's istio-iptables builds for it. It keeps
resources per kind and name, reports the mode in a config dump the way a sidecar shows
it, and keeps an access log that the handler writes to. The default handler answers the
commands the contract tests run; a test passes its own to script any outcome.
"""

from __future__ import annotations

import copy
import shlex
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from clusters.istio import injection as injection_facts
from clusters.istio import kubectl_documents as kubectl
from clusters.istio import proxyconfig, recorded
from clusters.istio.kubectl_documents import KindNames, load_documents
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
    lines_after,
    meets,
    selector_matches,
)
from clusters.shared import runtime

NAMESPACE = "default"
INTERNAL_IP_RANGES = ("198.51.100.0/25", "198.51.100.128/25")
KINDS = recorded.served_kinds()


@dataclass
class FakePod:
    name: str
    deployment: dict[str, Any]
    pod: dict[str, Any]
    log: list[str] = field(default_factory=list)


# What a command in the source pod does: given the cluster (its state) and argv, the
# result; it may append to ``cluster.pod.log`` as the sidecar would.
Handler = Callable[["FakeCluster", tuple[str, ...]], ExecResult]


class FakeCluster(ClosedByContext):
    name = "fake"

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        istio: str = "1.31.0",
        installed_mode: OutboundTrafficPolicy = OutboundTrafficPolicy.ALLOW_ANY,
    ) -> None:
        self.handler = handler or default_handler
        self.istio = istio
        self.mode = installed_mode
        self.resources_by_key: dict[tuple[str, str], dict[str, Any]] = {}
        self.pod: FakePod | None = None
        # Pods beside the source pod that a label query finds (name -> labels): one still
        # terminating, another workload labelled app=sleep; a test sets them.
        self.other_pods: dict[str, dict[str, str]] = {}
        self.deploy_source_pod()
        # As the real backends: the mode the first sidecar runs, before any reset.
        self.installed_mode = proxyconfig.mode_in_effect(
            self.sidecar_config_dump(proxyconfig.LISTENERS)
        )
        self.reset()

    # Facts ---------------------------------------------------------------------------
    def describe(self) -> Mapping[str, str]:
        return {
            "backend": "fake",
            "platform": "none",
            "istio": self.istio,
            "control_plane": "none (in memory): Istio's recorded answers; a manifest that "
            "is not recorded is accepted",
            "installed_outbound_traffic_policy": (
                self.installed_mode.value if self.installed_mode else "unknown"
            ),
            "internal_ip_ranges": ",".join(INTERNAL_IP_RANGES),
        }

    def internal_ip_ranges(self) -> list[str]:
        return list(INTERNAL_IP_RANGES)

    # Istio configuration -------------------------------------------------------------
    def apply(self, manifest: str) -> list[ResourceRef]:
        documents = load_documents(manifest)
        for document in documents:  # all or nothing, as the other backends
            kubectl.check_document(document, KINDS)
            if refusal := recorded.refusal(document):
                raise InvalidResource(refusal)
        refs = []
        for document in documents:
            metadata = document.get("metadata") or {}
            ref = ResourceRef(
                document["kind"], metadata["name"], metadata.get("namespace") or NAMESPACE
            )
            self.resources_by_key[(ref.kind, ref.name)] = copy.deepcopy(document)
            refs.append(ref)
        return refs

    def _kind(self, name: str) -> KindNames:
        found = kubectl.resolve(name, KINDS)
        if found is None:
            raise ClusterError(kubectl.unknown_resource_type(name))
        return found

    def delete(self, kind: str, name: str, *, ignore_not_found: bool = False) -> bool:
        names = self._kind(kind)
        if self.resources_by_key.pop((names.kind, name), None) is None:
            if ignore_not_found:
                return False
            raise ClusterError(f'{names.plural}.{names.group} "{name}" not found')
        return True

    def resources(self, kind: str) -> list[str]:
        found = kubectl.resolve(kind, KINDS)
        if found is None:
            return []
        return sorted(name for k, name in self.resources_by_key if k == found.kind)

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy:
        return self.mode

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy) -> None:
        self.mode = OutboundTrafficPolicy(mode)

    def wait_for_proxy_config(self, timeout: float) -> None:
        del timeout  # an in-memory change is in effect at once

    def sidecar_config_dump(self, resource: str) -> Mapping[str, Any]:
        if resource != proxyconfig.LISTENERS:
            return {"configs": []}
        chain = {
            "filters": [
                {
                    "name": proxyconfig.TCP_PROXY,
                    "typed_config": {"cluster": proxyconfig.CLUSTER_OF_MODE[self.mode]},
                }
            ]
        }
        listener = {"name": proxyconfig.VIRTUAL_OUTBOUND, "filter_chains": [chain]}
        return {"configs": [{"active_state": {"listener": listener}}]}

    def proxy_sync_status(self) -> Mapping[str, Any] | None:
        return {"proxy": f"{self._pod().name}.{NAMESPACE}", "in_sync": True}

    def interception_rules(self) -> str:
        """The nat table Istio's istio-iptables builds for the pod's istio-init arguments
        (recorded with the pod), as it hands it to iptables-restore."""
        args = injection_facts.init_args(self._pod().pod)
        if args is None:
            return "(no istio-init)"
        return recorded.nat_table(args) or f"(not recorded: {shlex.join(args)})"

    # The source pod ------------------------------------------------------------------
    def deploy_source_pod(
        self,
        injection: Injection = Injection.AUTOMATIC,
        include_ip_ranges: Sequence[str] | None = None,
    ) -> PodStatus:
        name = f"sleep-{uuid.uuid4().hex[:10]}-{uuid.uuid4().hex[:5]}"
        deployment, pod = injected_workload(Injection(injection), include_ip_ranges, name)
        self.pod = FakePod(name, deployment, pod)
        return self.source_pod()

    def delete_source_pod(self) -> bool:
        existed, self.pod = self.pod is not None, None
        return existed

    def _pod(self) -> FakePod:
        if self.pod is None:
            raise ClusterError('no pod matches label "app=sleep": deploy it first')
        return self.pod

    def source_pod(self) -> PodStatus:
        pod = self._pod()
        return PodStatus(
            name=pod.name,
            namespace=NAMESPACE,
            labels=dict((pod.pod.get("metadata") or {}).get("labels") or {}),
            containers=injection_facts.container_names(pod.pod),
            ready=True,
            injection=injection_facts.injected_by(pod.deployment, pod.pod),
            include_ip_ranges=injection_facts.include_ip_ranges(pod.pod),
        )

    def pods_labelled(self, selector: str) -> list[str]:
        pods = dict(self.other_pods)
        if self.pod is not None:
            pods[self.pod.name] = dict((self.pod.pod.get("metadata") or {}).get("labels") or {})
        return sorted(name for name, labels in pods.items() if selector_matches(selector, labels))

    def exec_in_source_pod(self, argv: Sequence[str], timeout: float) -> ExecResult:
        del timeout
        self._pod()
        return self.handler(self, tuple(argv))

    def sidecar_log_cursor(self) -> LogCursor:
        pod = self._pod()
        return LogCursor.after(pod.name, pod.log)

    def sidecar_log(self, since: LogCursor | None = None) -> list[str]:
        pod = self._pod()
        return lines_after(pod.log, since, pod.name)

    def sidecar_log_barrier(self, timeout: float) -> str:
        del timeout
        marker = f"egress-conformance-barrier-{uuid.uuid4().hex[:12]}"
        self._pod().log.append(access_log_line("GET", f"/{marker}", 200, "sleep", "inbound"))
        return marker

    # Lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Nothing outlives the object; what it held goes, as a torn-down cluster's does."""
        self.resources_by_key.clear()
        self.other_pods.clear()
        self.pod = None

    def reset(self, *, source_pod: SourcePodNeed = SourcePodNeed.PAGE_START) -> None:
        self.resources_by_key.clear()
        self.mode = OutboundTrafficPolicy.ALLOW_ANY
        if not meets(source_pod, self.source_pod() if self.pod is not None else None):
            self.deploy_source_pod()


def injected_workload(
    injection: Injection, include_ip_ranges: Sequence[str] | None, pod_name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sleep sample's Deployment and its pod ``pod_name`` as Istio's injector left
    them (recorded); ClusterError for an injection that was not recorded."""
    workload = recorded.injected(injection, include_ip_ranges)
    if workload is None:
        ranges = "every destination" if include_ip_ranges is None else ",".join(include_ip_ranges)
        raise ClusterError(
            f"the fake backend has no recorded {injection.value} injection for {ranges} "
            f"(recorded: every destination and {','.join(INTERNAL_IP_RANGES)})"
        )
    deployment, pod = copy.deepcopy(workload["deployment"]), copy.deepcopy(workload["pod"])
    pod["metadata"]["name"] = pod_name
    return deployment, pod


def access_log_line(method: str, path: str, code: int, host: str, cluster: str) -> str:
    """A line in Istio's default access-log format (clusters/istio/accesslog.py parses it)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return (
        f'[{now}] "{method} {path} HTTP/1.1" {code} - via_upstream - "-" 0 0 1 1 "-" '
        f'"curl/8.16.0" "{uuid.uuid4()}" "{host}" "198.51.100.50:80" {cluster} '
        "198.51.100.10:40000 198.51.100.50:80 198.51.100.10:39999 - default"
    )


def default_handler(cluster: FakeCluster, argv: tuple[str, ...]) -> ExecResult:
    """``sh -c 'exit N'`` exits N; ``curl URL`` reaches any host with 200 and the sidecar
    logs it (through PassthroughCluster, or the host's ServiceEntry cluster); anything
    else exits 127, as a missing command does."""
    started = time.perf_counter()
    if argv[:2] == ("sh", "-c") and len(argv) == 3 and argv[2].startswith("exit "):
        return ExecResult(argv, int(argv[2].split()[1]), "", "", time.perf_counter() - started)
    if argv[:1] == ("curl",):
        url = next((a for a in argv[1:] if "://" in a), None)
        if url is None:
            return ExecResult(argv, 2, "", "curl: no URL specified", 0.0)
        parts = urlsplit(url)
        host = parts.hostname or ""
        known = any(
            host in (doc.get("spec") or {}).get("hosts", ())
            for (kind, _), doc in cluster.resources_by_key.items()
            if kind == "ServiceEntry"
        )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        upstream = f"outbound|{port}||{host}" if known else "PassthroughCluster"
        assert cluster.pod is not None
        cluster.pod.log.append(access_log_line("GET", parts.path or "/", 200, host, upstream))
        return ExecResult(argv, 0, "", "", time.perf_counter() - started)
    # A command it does not answer is one the pod lacks: the runtime's refusal.
    refusal = runtime.kubectl_error(runtime.exec_refusal(argv[0] if argv else ""))
    return ExecResult(argv, runtime.REFUSED_EXIT_CODE, "", refusal, time.perf_counter() - started)
