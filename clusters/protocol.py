"""The one interface that steps talk to, and the values that cross it.

Every backend (the embedded ``local`` mesh, a ``kind`` cluster, an ``existing``
cluster) implements :class:`Cluster`. Steps know nothing else, which is what lets the
same feature files run unchanged on every backend. clusters/README.md describes the
contract in prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable


@dataclass(frozen=True)
class Waits:
    """How long each kind of wait may take on a backend, in seconds. Every wait of the
    protocol takes its bound as a parameter; each backend declares its defaults."""

    propagation: float  # a config change until the sidecar runs it
    exec: float  # one command in the source pod (the page's slowest takes 5 s)
    ready: float  # a pod (re)created and Ready with its sidecar, the mesh's processes up


class OutboundTrafficPolicy(StrEnum):
    """``meshConfig.outboundTrafficPolicy.mode``."""

    ALLOW_ANY = "ALLOW_ANY"
    REGISTRY_ONLY = "REGISTRY_ONLY"


class Injection(StrEnum):
    """How the sidecar got into the source pod (the page shows both ways)."""

    AUTOMATIC = "automatic"  # namespace label istio-injection=enabled
    MANUAL = "manual"  # istioctl kube-inject


class SourcePodNeed(StrEnum):
    """What a scenario needs of the source pod when it starts (``Cluster.reset``): the
    page's, or less where its steps show that re-creating one would only be undone."""

    PAGE_START = "page start"  # automatic injection, every destination intercepted
    # A Ready pod with a running sidecar, however made: the scenario re-creates the pod
    # before it depends on how it was made.
    RUNNING = "running"
    NONE = "none"  # no step of the scenario reads or needs the pod: whatever is there


@dataclass(frozen=True)
class ResourceRef:
    """An Istio resource as ``kubectl`` names it."""

    kind: str
    name: str
    namespace: str = "default"

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


@dataclass(frozen=True)
class ExecResult:
    """The outcome of a command run inside the source pod's application container."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    elapsed: float  # seconds, wall clock, measured around the command


@dataclass(frozen=True)
class PodStatus:
    """What ``kubectl get pod`` would say about the source pod."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    containers: tuple[str, ...]
    ready: bool
    injection: Injection | None
    # None means the default: every outbound destination is intercepted ("*").
    include_ip_ranges: tuple[str, ...] | None = None

    @property
    def has_sidecar(self) -> bool:
        return "istio-proxy" in self.containers

    @property
    def at_page_start(self) -> bool:
        """The pod every scenario starts from: ``reset`` re-creates any other (unless
        the scenario needs less, SourcePodNeed)."""
        return at_page_start(self.injection, self.include_ip_ranges)


def at_page_start(injection: Injection | None, include_ip_ranges: Sequence[str] | None) -> bool:
    """The page's starting pod: injected automatically, intercepting every destination."""
    return injection is Injection.AUTOMATIC and include_ip_ranges is None


def meets(need: SourcePodNeed, pod: PodStatus | None) -> bool:
    """Whether ``pod`` (None: there is none) is what a scenario that needs ``need`` may
    start from."""
    if need is SourcePodNeed.NONE:
        return True
    if pod is None or not (pod.ready and pod.has_sidecar):
        return False
    return need is SourcePodNeed.RUNNING or pod.at_page_start


@dataclass(frozen=True)
class AccessLogEntry:
    """One line of the sidecar's access log in Istio's default text format.

    Fields the format renders as ``-`` are ``None``; TCP lines have no method/path.
    """

    start_time: str
    method: str | None
    path: str | None
    protocol: str | None
    response_code: int
    response_flags: str | None
    response_code_details: str | None
    connection_termination_details: str | None
    upstream_transport_failure_reason: str | None
    bytes_received: int
    bytes_sent: int
    duration_ms: int | None
    upstream_service_time: str | None
    x_forwarded_for: str | None
    user_agent: str | None
    request_id: str | None
    authority: str | None
    upstream_host: str | None
    upstream_cluster: str | None
    upstream_local_address: str | None
    downstream_local_address: str | None
    downstream_remote_address: str | None
    requested_server_name: str | None
    route_name: str | None
    raw: str = field(repr=False, default="")


@dataclass(frozen=True)
class LogCursor:
    """A mark in the sidecar's log, in the terms ``kubectl logs`` offers: lines after it
    are 'new'.

    ``lines`` is how many complete lines the log held (skip them in ``kubectl logs``'
    output). ``pod`` ties the cursor to one pod: a re-created pod's log starts afresh.
    A backend that reads logs over the API marks with ``since`` instead: the newest
    line's timestamp as ``kubectl logs --timestamps`` prints it (then ``lines`` counts
    the lines that carry exactly that timestamp), and reads ``--since-time`` on.
    """

    pod: str
    lines: int
    since: str | None = None

    @classmethod
    def after(cls, pod: str, lines: Sequence[str]) -> LogCursor:
        """A mark after ``lines``, the pod's log as read now."""
        return cls(pod, len(lines))


def complete_lines(text: str) -> list[str]:
    """The log's complete lines, as ``kubectl logs`` prints them (a line still being
    flushed is not there yet)."""
    return text[: text.rfind("\n") + 1].splitlines()


def lines_after(lines: Sequence[str], since: LogCursor | None, pod: str) -> list[str]:
    """The lines after ``since``; all of them without a mark, or for a mark of another
    (older) pod, whose log this is not."""
    skip = since.lines if since and since.pod == pod else 0
    return list(lines[skip:])


class ClusterError(Exception):
    """A backend could not do what a step asked; the message is one line for a human."""


class InvalidResource(ClusterError):
    """Istio (its CRD schema or its validating webhook) refuses a resource."""


class PrerequisiteMissing(ClusterError):
    """The machine lacks something the backend needs (root, iptables, curl, Docker...)."""


@runtime_checkable
class Cluster(Protocol):
    """A mesh with one source pod (the page's ``sleep``) in the suite's namespace.

    Nothing here assumes the suite owns the mesh: on a cluster someone else runs, a
    backend touches only what the suite created (its namespace, its resources) and puts
    back what it changed (the mode it found) when it is closed. Waits take their bound
    as a parameter; each backend declares its defaults (clusters/plugin.Backend.waits).
    The suite uses a cluster as a context manager: leaving the block closes it.
    """

    name: str  # the backend's name: local, kind, existing

    def describe(self) -> Mapping[str, str]:
        """Versions and facts for reports (Istio/Envoy version, backend details)."""
        ...

    # Istio configuration -------------------------------------------------------
    def apply(self, manifest: str) -> list[ResourceRef]:
        """Create or replace every document of a YAML stream (``kubectl apply -f -``).

        Raises InvalidResource, naming the field, for what Istio would refuse.
        """
        ...

    def delete(self, kind: str, name: str, *, ignore_not_found: bool = False) -> bool:
        """``kubectl delete KIND NAME``; True when something was deleted."""
        ...

    def resources(self, kind: str) -> list[str]:
        """Names of the resources of ``kind`` (ServiceEntry, VirtualService) present."""
        ...

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy:
        """The mesh's current ``outboundTrafficPolicy.mode``."""
        ...

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy) -> None:
        """Change the mesh-wide mode (the page edits the ``istio`` configmap)."""
        ...

    def wait_for_proxy_config(self, timeout: float) -> None:
        """Block until the source pod's sidecar runs the latest config, or raise."""
        ...

    # The source pod ------------------------------------------------------------
    def deploy_source_pod(
        self,
        injection: Injection = Injection.AUTOMATIC,
        include_ip_ranges: Sequence[str] | None = None,
    ) -> PodStatus:
        """(Re-)create the source pod; include ranges limit what the sidecar intercepts."""
        ...

    def delete_source_pod(self) -> bool:
        """``kubectl delete -f sleep.yaml``; True when there was a pod to delete."""
        ...

    def source_pod(self) -> PodStatus:
        """``kubectl get pod -l app=sleep``: the current source pod; ClusterError if none."""
        ...

    def pods_labelled(self, selector: str) -> list[str]:
        """``kubectl get pod -l SELECTOR -o name`` in the suite's namespace: the names of
        the pods the cluster runs (or is still terminating) with those labels, as observed
        now, not as the suite's last action left its records. None is an empty list; a
        cluster that cannot be asked raises ClusterError."""
        ...

    def exec_in_source_pod(self, argv: Sequence[str], timeout: float) -> ExecResult:
        """``kubectl exec $SOURCE_POD -c sleep -- argv``."""
        ...

    def sidecar_log_cursor(self) -> LogCursor:
        """A mark at the end of the sidecar's log as it stands now."""
        ...

    def sidecar_log(self, since: LogCursor | None = None) -> list[str]:
        """``kubectl logs $SOURCE_POD -c istio-proxy``: lines after ``since``."""
        ...

    def sidecar_log_barrier(self, timeout: float) -> str:
        """Make the sidecar log a line of its own and wait until it is in the log; returns
        its marker. Every request that finished before is then logged too, so a check
        that a request left *no* line reads up to the barrier instead of waiting blindly.
        """
        ...

    def sidecar_config_dump(self, resource: str) -> Mapping[str, Any]:
        """The sidecar's Envoy ``/config_dump?resource=RESOURCE`` (``istioctl proxy-config
        ... -o json`` reads the same): what the proxy runs, not what was asked of it."""
        ...

    def proxy_sync_status(self) -> Mapping[str, Any] | None:
        """The control plane's view of the sidecar's sync state (istiod's ``/debug/syncz``
        entry, as ``istioctl proxy-status`` shows it), or None when it has none."""
        ...

    def interception_rules(self) -> str:
        """The source pod's traffic interception as installed (istio-init's iptables
        rules, or what istio-init printed when it installed them)."""
        ...

    def internal_ip_ranges(self) -> list[str]:
        """The cluster's pod and service CIDRs (the page's per-platform ranges)."""
        ...

    # Lifecycle -----------------------------------------------------------------
    def reset(self, *, source_pod: SourcePodNeed = SourcePodNeed.PAGE_START) -> None:
        """Back to the page's starting point: ALLOW_ANY, none of the ServiceEntries and
        VirtualServices the suite applied, a source pod with automatic injection and full
        interception. Only what the suite created is removed. ``source_pod`` says what
        the scenario needs of the pod (a pod that already meets it stays as it is)."""
        ...

    def close(self) -> None:
        """Remove everything the backend created and put back what it changed, whatever
        fails on the way (each failure is named in one error); closing twice is harmless."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class ClosedByContext:
    """The context-manager half of :class:`Cluster` for a class that has ``close()``:
    ``with backend.start(options) as cluster:`` closes it however the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@runtime_checkable
class KubernetesCluster(Protocol):
    """What a real Kubernetes cluster offers besides :class:`Cluster` (kind, existing):
    a user's kubectl reaches it, so the page's commands can run as written; its API
    server knows the Service range; and a pod's hostname is its name."""

    def shell_env(self) -> Mapping[str, str]:
        """KUBECONFIG (and PATH) for a kubectl that works in the suite's namespace."""
        ...

    def service_ip_ranges(self) -> list[str]:
        """The Service CIDR(s) as the cluster is configured, read through the API."""
        ...


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy an equality selector (``app=sleep,version=v1``; ``==``
    and ``!=`` as kubectl reads them; ``key`` and ``!key`` ask that it exists or not)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = (part.strip() for part in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def sidecar_log_before_barrier(
    cluster: Cluster, since: LogCursor, timeout: float
) -> tuple[list[str], str]:
    """Every line the sidecar wrote after ``since`` and before a barrier line (see
    :meth:`Cluster.sidecar_log_barrier`), and the barrier's marker: all lines of what
    finished before, whatever the log's flush timing."""
    marker = cluster.sidecar_log_barrier(timeout)
    lines = cluster.sidecar_log(since=since)
    barrier = next((i for i, line in enumerate(lines) if marker in line), None)
    if barrier is None:  # the barrier returns once its line is logged: the pod changed
        raise ClusterError(f"the sidecar's log after the mark has no barrier line {marker}")
    return lines[:barrier], marker
