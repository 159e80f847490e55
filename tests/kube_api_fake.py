"""A stand-in for clusters.kube.api.KubeApi: an API server's answers held in memory, so
that KubeCluster (the kind and existing backends) runs in a unit test.

It stores objects as the API server returns them, lists them by label selector, plays
the controllers the suite relies on (a Deployment gets a Ready pod, injected by the
model's injector; deleting it removes the pod), and answers the two reads the backend
makes through a port-forward: istiod's ``/debug/syncz`` on 15014 (the pod connected,
every push ACKed) and the sidecar's Envoy ``/config_dump`` on 15000 (virtualOutbound
sending unknown destinations where the mesh's mode says). Each config change is a push.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import yaml

from clusters.fake.cluster import injected_workload
from clusters.istio import injection as injection_facts
from clusters.istio import proxyconfig
from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.kube.portforward import HttpAnswer
from clusters.protocol import ClusterError, ExecResult, Injection, OutboundTrafficPolicy, Waits

Key = tuple[str, str | None, str]  # kind, namespace (None: cluster scoped), name
CLUSTER_SCOPED = frozenset({"Namespace", "Node"})
UUID = "0" * 36
INCLUDE = "traffic.sidecar.istio.io/includeOutboundIPRanges"
Exec = Callable[[str, str, str, Sequence[str]], ExecResult | None]
HttpGet = Callable[[str, str, int, str], HttpAnswer | None]  # namespace, pod, port, path


def matches(selector: str, labels: Mapping[str, str]) -> bool:
    """An equality selector (``app=sleep,tier=x``), as the API server reads one."""
    terms = [term.split("=", 1) for term in selector.split(",") if term.strip()]
    return all(labels.get(key.strip()) == value.strip() for key, value in terms)


def istiod_pod(namespace: str = "istio-system") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "istiod-1", "namespace": namespace, "labels": {"app": "istiod"}},
        "spec": {"containers": [{"name": "discovery", "image": "istio/pilot:1.31.0"}]},
        "status": {"phase": "Running"},
    }


def mesh_configmap(mesh: Mapping[str, Any], namespace: str = "istio-system") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": namespace},
        "data": {"mesh": yaml.safe_dump(dict(mesh))},
    }


class FakeKubeApi:
    """The API server of a cluster with istiod running; see the module's docstring."""

    def __init__(
        self,
        objects: Sequence[Mapping[str, Any]] = (),
        *,
        mesh: Mapping[str, Any] | None = None,
        unset_mode_runs: OutboundTrafficPolicy = OutboundTrafficPolicy.ALLOW_ANY,
        exec_handler: Exec | None = None,
        http_handler: HttpGet | None = None,
    ) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.pod_logs: dict[str, list[tuple[str, str]]] = {}  # pod -> (timestamp, line)
        self.log_reads: list[dict[str, Any]] = []
        self.push = 1
        self.versions = itertools.count(1)
        self.pod_names = (f"sleep-5d4c8b7f9-{n:05d}" for n in itertools.count(1))
        # What istiod runs when the istio ConfigMap names no mode (a revision's or an
        # operator's mesh config may say otherwise than Istio's default).
        self.unset_mode_runs = unset_mode_runs
        self.exec_handler = exec_handler
        self.execs: list[tuple[str, tuple[str, ...]]] = []
        self.http_handler = http_handler
        self.http_gets: list[tuple[str, int, str]] = []  # pod, port, path
        self.dynamic = SimpleNamespace(version={"kubernetes": {"gitVersion": "v1.34.0"}})
        for document in (istiod_pod(), mesh_configmap(mesh or {}), *objects):
            self._store(copy.deepcopy(dict(document)), None)

    # Objects ---------------------------------------------------------------------------
    def _key(self, kind: str, name: str, namespace: str | None) -> Key:
        return (kind, None if kind in CLUSTER_SCOPED else namespace or "default", name)

    def _store(self, document: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        metadata = document.setdefault("metadata", {})
        if document["kind"] not in CLUSTER_SCOPED:
            metadata["namespace"] = metadata.get("namespace") or namespace or "default"
        metadata["resourceVersion"] = str(next(self.versions))
        key = self._key(document["kind"], metadata["name"], metadata.get("namespace"))
        self.objects[key] = document
        return document

    def apply(self, documents: Sequence[Mapping[str, Any]], namespace: str) -> list[dict]:
        applied = []
        for document in documents:
            body = copy.deepcopy(dict(document))
            metadata = body.get("metadata") or {}
            key = self._key(body["kind"], metadata["name"], metadata.get("namespace") or namespace)
            if body["kind"] == "ConfigMap" and key in self.objects:  # data keys merge
                body["data"] = {**(self.objects[key].get("data") or {}), **(body.get("data") or {})}
            applied.append(copy.deepcopy(self._store(body, namespace)))
            if body["kind"] == "Deployment":
                self._roll_out(body)
            if body["kind"] in ("ConfigMap", "ServiceEntry", "VirtualService"):
                self.push += 1
        return applied

    def _roll_out(self, deployment: dict[str, Any]) -> None:
        """The Deployment controller and the injection webhook: one Ready pod."""
        namespace = deployment["metadata"]["namespace"]
        template = injection_facts.template(deployment)
        include = ((template.get("metadata") or {}).get("annotations") or {}).get(INCLUDE)
        name = next(self.pod_names)
        kind = Injection.MANUAL if injection_facts.has_sidecar(template) else Injection.AUTOMATIC
        _, pod = injected_workload(kind, include.split(",") if include else None, name)
        pod["metadata"]["namespace"] = namespace
        running = [
            {"name": c, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
            for c in injection_facts.container_names(pod)
        ]
        pod["status"] = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": running,
        }
        self._store(pod, namespace)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        grace_period_seconds: int | None = None,
    ) -> bool:
        del api_version, grace_period_seconds
        found = self.objects.pop(self._key(kind, name, namespace), None)
        if found is None:
            return False
        if kind == "Deployment":
            selector = (found.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
            for key, obj in list(self.objects.items()):
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if key[0] == "Pod" and key[1] == namespace and selector.items() <= labels.items():
                    del self.objects[key]
        if kind in ("ServiceEntry", "VirtualService"):
            self.push += 1
        return True

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict]:
        del api_version
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items(), key=lambda item: str(item[0]))
            if k == kind
            and (namespace is None or ns == namespace)
            and matches(label_selector, (obj.get("metadata") or {}).get("labels") or {})
        ]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict | None:
        del api_version
        found = self.objects.get(self._key(kind, name, namespace))
        return copy.deepcopy(found) if found is not None else None

    # Pods ------------------------------------------------------------------------------
    def mode_in_effect(self) -> OutboundTrafficPolicy:
        """What istiod runs: the ConfigMap's mode, else what an unset mode runs here."""
        configmap = self.objects[("ConfigMap", "istio-system", "istio")]
        mesh = yaml.safe_load(configmap["data"].get("mesh") or "") or {}
        mode = (mesh.get("outboundTrafficPolicy") or {}).get("mode")
        return OutboundTrafficPolicy(mode) if mode else self.unset_mode_runs

    def _syncz(self) -> list[dict[str, Any]]:
        version = {"sent": f"2026-01-01T00:00:00Z/{self.push}{UUID}"}
        version["acked"] = version["sent"]
        return [
            {
                "proxy": f"{name}.{ns}",
                "resources": {
                    f"type.googleapis.com/envoy.config.{t}.v3.{t.title()}": dict(version)
                    for t in ("cluster", "listener")
                },
            }
            for (kind, ns, name) in self.objects
            if kind == "Pod" and name.startswith("sleep-")
        ]

    def _config_dump(self) -> dict[str, Any]:
        cluster = proxyconfig.CLUSTER_OF_MODE[self.mode_in_effect()]
        chain = {"filters": [{"name": proxyconfig.TCP_PROXY, "typed_config": {"cluster": cluster}}]}
        listener = {"name": proxyconfig.VIRTUAL_OUTBOUND, "filter_chains": [chain]}
        return {"configs": [{"active_state": {"listener": listener}}]}

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecResult:
        del timeout
        argv = tuple(argv)
        self.execs.append((pod, argv))
        if self.get("v1", "Pod", pod, namespace) is None:
            raise ClusterError(f'exec in {pod} ({container}): pods "{pod}" not found')
        if self.exec_handler is not None:
            answer = self.exec_handler(namespace, pod, container, argv)
            if answer is not None:
                return answer
        if argv == ("hostname",):
            return ExecResult(argv, 0, f"{pod}\n", "", 0.01)
        return ExecResult(argv, 127, "", f"{argv[0]}: command not found", 0.01)

    def http_get(
        self, namespace: str, pod: str, port: int, path: str, timeout: float
    ) -> HttpAnswer:
        del timeout
        self.http_gets.append((pod, port, path))
        if self.get("v1", "Pod", pod, namespace) is None:
            raise ClusterError(f'port-forward to pod {pod} port {port}: pods "{pod}" not found')
        if self.http_handler is not None:
            answer = self.http_handler(namespace, pod, port, path)
            if answer is not None:
                return answer
        if (port, path) == (15014, "/debug/syncz"):
            return HttpAnswer(200, json.dumps(self._syncz()))
        if port == 15000 and path.startswith("/config_dump"):
            return HttpAnswer(200, json.dumps(self._config_dump()))
        raise ClusterError(
            f"GET :{port}{path} in pod {pod} ({namespace}): error forwarding port {port} to "
            "pod: connect: connection refused"
        )

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        timestamps: bool = False,
        since_time: str | None = None,
        tail_lines: int | None = None,
    ) -> str:
        """The lines ``write_log`` wrote, filtered as the kubelet filters them."""
        del namespace, container
        self.log_reads.append({"since_time": since_time, "tail_lines": tail_lines})
        lines = [
            (stamp, line)
            for stamp, line in self.pod_logs.get(pod, [])
            if since_time is None or stamp[:19] >= since_time[:19]  # the second, as kubelet
        ]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines else []
        return "".join(f"{stamp} {line}\n" if timestamps else f"{line}\n" for stamp, line in lines)

    def write_log(self, pod: str, stamp: str, line: str) -> None:
        """The sidecar of ``pod`` logs ``line`` at ``stamp`` (RFC3339Nano, as kubelet)."""
        self.pod_logs.setdefault(pod, []).append((stamp, line))

    def close(self) -> None:
        """Nothing to let go of."""


def kube_cluster(api: FakeKubeApi) -> KubeCluster:
    """A KubeCluster (the kind backend's) on ``api``, at the page's starting point."""
    cluster = KubeCluster(
        api, KubeSettings(backend="kind", platform="kind", waits=Waits(5.0, 5.0, 5.0))
    )
    cluster.reset()
    return cluster
