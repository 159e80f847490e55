"""Istio's own control plane in the local mesh.

``egress-istiod`` (clusters/local/istiod, Go) embeds istiod's discovery server, the API
server's validation of Istio's CRDs and Istio's validating webhook. It serves ADS to the
sidecar on a unix socket and a control API on another; this module is its client.
Python only formats the answers, the way kubectl prints them.

Waiting for the proxy reads istiod's ``/debug/syncz`` (what ``istioctl proxy-status``
reads): every change returns the push version that includes it, and the proxy is in
sync once it has ACKed a push of that version or later for every type it watches.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from clusters.istio import injection as istio_injection
from clusters.istio.kubectl_documents import KindNames
from clusters.istio.syncz import proxy_status, push_counter, sync_lag
from clusters.local import iptables, kubeobjects
from clusters.local.runstate import RunState, process_record
from clusters.local.sidecar import Sidecar, Workload
from clusters.protocol import (
    ClusterError,
    Injection,
    InvalidResource,
    OutboundTrafficPolicy,
    ResourceRef,
)
from clusters.shared import gobuild
from clusters.shared.processes import ProcessRecord
from clusters.shared.waiting import NotYet, wait_for

MESH_CONFIGMAP = "istio"  # the install's mesh config, in istio-system

READY_TIMEOUT_S = 60.0
PROCESS_NAME = "istiod"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
INCLUDE_IP_RANGES_VALUE = "global.proxy.includeIPRanges"  # the page's helm --set

# Spawns a long-running process of the mesh, records it in the run, and returns it.
# name, argv, log directory, environment (None: this process's)
Spawn = Callable[[str, Sequence[str], Path, Mapping[str, str] | None], ProcessRecord]


class IstiodControlPlane:
    """The client of one ``egress-istiod`` process, recorded in the run like the others."""

    @classmethod
    @contextmanager
    def standalone(
        cls, directory: Path, istio_version: str | None = None
    ) -> Iterator[IstiodControlPlane]:
        """istiod without a mesh (no root needed): validation and tests use it."""
        from clusters.shared import processes

        state = RunState(
            run_id=directory.name, directory=directory, owner=None, istio_version=istio_version
        )

        def spawn(
            name: str, argv: Sequence[str], logs: Path, env: Mapping[str, str] | None
        ) -> processes.ProcessRecord:
            logs.mkdir(parents=True, exist_ok=True)
            _, record = processes.spawn(
                name, argv, stdout=logs / f"{name}.log", stderr=logs / f"{name}.err", env=env
            )
            state.cleanup.append(process_record(record))
            return record

        plane = cls(
            state,
            cluster_objects=kubeobjects.cluster_objects(),
            mesh_config=kubeobjects.MESH_CONFIG,
        )
        try:
            plane.start(spawn)
            yield plane
        finally:
            plane.close()
            processes.terminate(state.processes)

    name = "istiod"

    def __init__(
        self,
        state: RunState,
        *,
        cluster_objects: str,
        mesh_config: str,
        system_roots: Path | None = None,
    ) -> None:
        self.state = state
        self.system_roots = system_roots  # the pod's trusted roots, served as file-root:system
        self.directory = state.directory / "istiod"
        self.cluster_objects = cluster_objects
        self.mesh_config = mesh_config
        self._client: httpx.Client | None = None
        self._versions: dict[str, str] | None = None
        self._kinds: list[KindNames] | None = None
        self._kinds_raw: list[dict[str, Any]] | None = None
        self._sidecar: Sidecar | None = None
        self._pending = -1  # the push counter the proxy must have ACKed
        self.start_phases: dict[str, float] = {}  # istiod's own account of its start

    # The process -----------------------------------------------------------------------
    @functools.cached_property
    def binary(self) -> Path:
        """egress-istiod for the run's Istio build (built first if the cache lacks it)."""
        return gobuild.ensure_built(gobuild.istio_build(self.state.istio_version))

    @property
    def iptables_binary(self) -> Path:
        """Istio's istio-init command (istio-iptables) of the same build."""
        return gobuild.iptables_path(self.binary)

    def start(self, spawn: Spawn) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "mesh.yaml").write_text(self.mesh_config)
        (self.directory / "cluster.yaml").write_text(self.cluster_objects)
        argv = [
            str(self.binary),
            "--xds-socket",
            str(self.xds_socket),
            "--control-socket",
            str(self.control_socket),
            "--mesh",
            str(self.directory / "mesh.yaml"),
            "--cluster",
            str(self.directory / "cluster.yaml"),
        ]
        if self.system_roots is not None:
            argv += ["--system-roots", str(self.system_roots)]
        # Chart renders are the same for every process of a build: kept beside the binary.
        argv += ["--render-cache", str(self.binary.parent / "renders")]
        spawn(PROCESS_NAME, argv, self.directory, {**os.environ, **start_gc_env()})
        self.start_phases = self._wait_ready()
        # What istiod's mesh config says before anyone changed it: Istio's default.
        self.state.installed_mode = self.outbound_traffic_policy().value
        self.state.save()

    @property
    def xds_socket(self) -> Path:
        return self.directory / "xds.sock"

    @property
    def control_socket(self) -> Path:
        return self.directory / "control.sock"

    @property
    def sds_socket(self) -> Path:
        """pilot-agent's SDS socket path, relative to the process's directory."""
        return self.directory / "var" / "run" / "secrets" / "workload-spiffe-uds" / "socket"

    def _wait_ready(self) -> dict[str, float]:
        """Wait for istiod's ready line; it says how long each part of its start took."""
        log = self.directory / f"{PROCESS_NAME}.log"

        def ready() -> dict[str, float]:
            self._check_alive()
            try:
                for line in log.read_text().splitlines():
                    if '"ready":true' in line:
                        return dict(json.loads(line).get("start") or {})
            except (OSError, ValueError):
                pass
            raise NotYet(f"its ready line ({self._last_words()})")

        return wait_for(ready, timeout=READY_TIMEOUT_S, what="istiod was not ready")

    def _check_alive(self) -> None:
        from clusters.shared import processes  # the run's records say which PID is ours

        for record in self.state.processes:
            if record.name == PROCESS_NAME and not processes.is_running(record):
                raise ClusterError(f"istiod (pid {record.pid}) exited: {self._last_words()}")

    def _last_words(self) -> str:
        try:
            lines = (self.directory / f"{PROCESS_NAME}.err").read_text(errors="replace")
        except OSError:
            return "no output"
        useful = [line for line in lines.splitlines() if line.strip()]
        errors = [line for line in useful if line.startswith("error")]
        return " | ".join((errors or useful)[-3:]) or "no output"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                # A unix socket: plain HTTP, no CA bundle to load (tens of ms per process).
                transport=httpx.HTTPTransport(uds=str(self.control_socket), verify=False),
                base_url="http://istiod",
                timeout=30.0,
            )
        return self._client

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self._check_alive()
            raise ClusterError(f"istiod's control API failed ({method} {path}): {error}") from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        body = response.json()
        if response.status_code >= 400 and "error" in body:
            raise ClusterError(f"istiod: {body['error']}")
        return body

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # Facts ------------------------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        if self._versions is None:
            self._versions = self._json("GET", "/version")
        return self._versions

    def describe(self) -> dict[str, str]:
        versions = self.versions()
        return {
            "control_plane": "istiod (Istio's discovery server and validation, built from "
            "the istio.io/istio module)",
            "istio": f"{self.state.istio_version or gobuild.DEFAULT_ISTIO_VERSION} "
            f"(istio.io/istio {versions['istio']})",
            "istio_api": versions["api"],
            "installed_outbound_traffic_policy": self.state.installed_mode or "unknown",
        }

    def kinds(self) -> list[KindNames]:
        """The CRDs' kinds: fixed for the process, so asked once (reset walks them all)."""
        if self._kinds is None:
            self._kinds = [
                KindNames(
                    kind=item["kind"],
                    group=item["group"],
                    plural=item["plural"],
                    short_names=tuple(item.get("shortNames") or ()),
                    versions=tuple(item.get("versions") or ()),
                )
                for item in self._kinds_json()
            ]
        return self._kinds

    def _kinds_json(self) -> list[dict[str, Any]]:
        if self._kinds_raw is None:
            self._kinds_raw = list(self._json("GET", "/kinds"))
        return self._kinds_raw

    def proxy_istio_version(self) -> str:
        """What the sidecar reports as ISTIO_VERSION: the release line of istio.io/api."""
        api = self.versions()["api"].lstrip("v")
        major, minor = api.split(".")[:2]
        return f"{major}.{minor}.0"

    # The sidecar ---------------------------------------------------------------------------
    def deploy(
        self,
        deployment: Mapping[str, Any],
        injection: Injection,
        pod_name: str,
        include: Sequence[str] | None,
    ) -> Workload:
        """Istio's own injection: istio-sidecar-injector rendered from Istio's charts with
        the page's ``global.proxy.includeIPRanges``, then kube-inject (manual) and the
        injection webhook as the API server calls it."""
        values = {} if include is None else {INCLUDE_IP_RANGES_VALUE: ",".join(include)}
        self._json("PUT", "/injector", content=json.dumps({"values": values}))  # same: no-op
        body = self._json(
            "POST",
            "/deployments",
            content=json.dumps(deployment),
            params={"injection": Injection(injection).value, "pod": pod_name},
        )
        return Workload(deployment=body["deployment"], pod=body["pod"])

    def install_interception(self, namespace: str, pod: Mapping[str, Any]) -> None:
        """Istio's own istio-iptables (built beside egress-istiod), with the arguments the
        injector gave the pod's istio-init."""
        args = istio_injection.init_args(pod)
        if not args:
            raise ClusterError(
                f"the pod {pod['metadata']['name']} has no istio-init container: the injector "
                "did not inject it"
            )
        iptables.run_istio_iptables(namespace, args, str(self.iptables_binary))

    def bootstrap(self, sidecar: Sidecar) -> dict[str, Any]:
        """ADS over the xds socket, as pilot-agent's bootstrap points Envoy at istiod."""
        return {
            **base_bootstrap(sidecar, istio_version=self.proxy_istio_version()),
            "dynamic_resources": {
                "ads_config": {
                    "api_type": "DELTA_GRPC",  # pilot-agent's default since Istio 1.22
                    "transport_api_version": "V3",
                    "set_node_on_first_message_only": True,
                    "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}],
                },
                "cds_config": {"ads": {}, "resource_api_version": "V3"},
                "lds_config": {"ads": {}, "resource_api_version": "V3"},
            },
            "static_resources": {
                "clusters": [
                    _grpc_cluster("xds-grpc", self.xds_socket),
                    _grpc_cluster("sds-grpc", self.sds_socket),  # pilot-agent's name
                ]
            },
        }

    def add_sidecar(self, sidecar: Sidecar) -> None:
        self._sidecar = sidecar
        body = self._json(
            "POST", "/kubernetes", content=kubeobjects.running_pod(sidecar.pod, sidecar.proxy)
        )
        self._expect(body["pushVersion"])

    def proxy_labels(self, sidecar: Sidecar) -> dict[str, str] | None:
        """The labels istiod holds for the connected proxy (``/debug/adsz``), taken from
        the Pod in its Kubernetes: the mesh's view, not the suite's record. None when
        the proxy is not connected."""
        clients = self._json("GET", "/debug/adsz")
        clients = clients.get("clients", []) if isinstance(clients, dict) else clients
        prefix = f"{sidecar.proxy.pod_name}.{sidecar.proxy.namespace}-"
        for client in clients or ():
            if str(client.get("connectionId", "")).startswith(prefix):
                return dict(client.get("labels") or {})
        return None

    def attach_sidecar(self, sidecar: Sidecar | None) -> None:
        self._sidecar = sidecar

    def remove_sidecar(self) -> None:
        sidecar, self._sidecar = self._sidecar, None
        if sidecar is not None:
            proxy = sidecar.proxy
            self._json("DELETE", f"/kubernetes/pods/{proxy.namespace}/{proxy.pod_name}")

    # Configuration ---------------------------------------------------------------------------
    def apply(
        self, documents: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[ResourceRef]:
        """``kubectl apply`` (``--dry-run=server`` with ``dry_run``): admitted or refused
        by the API server's validation and Istio's webhook, then stored."""
        return [ref for ref, _ in self.apply_actions(documents, dry_run=dry_run)]

    def apply_actions(
        self, documents: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[tuple[ResourceRef, str]]:
        """``apply``, with what kubectl prints for each: created, configured or unchanged.
        A refusal is AdmissionRefused, carrying the API server's Status."""
        params = {"dryRun": "All"} if dry_run else {}
        response = self._call("POST", "/apply", content=json.dumps(list(documents)), params=params)
        body = response.json()
        if "stage" in body:
            raise AdmissionRefused(body["status"], int(body.get("document", 0)))
        if response.status_code >= 400:
            raise ClusterError(f"istiod: {body.get('error', response.text)}")
        if not dry_run:
            self._expect(body["pushVersion"])
        return [
            (ResourceRef(item["kind"], item["name"], item["namespace"]), item["action"])
            for item in body["applied"]
        ]

    def printer_columns(self) -> dict[str, list[dict[str, Any]]]:
        """Each kind's printer columns (its CRD's, preferred version): kubectl get's table."""
        return {item["kind"]: list(item.get("columns") or ()) for item in self._kinds_json()}

    # What istioctl install wrote ----------------------------------------------------------
    def configmaps(self, namespace: str) -> list[dict[str, Any]]:
        """The install's ConfigMaps in ``namespace``, rendered by Istio's installer."""
        return list(self._json("GET", f"/configmaps/{namespace}")["items"])

    def configmap(self, namespace: str, name: str) -> tuple[dict[str, Any], str] | None:
        """One of them and the YAML kubectl prints for it, or None if there is none."""
        response = self._call("GET", f"/configmaps/{namespace}/{name}")
        if response.status_code == 404:
            return None
        body = response.json()
        if response.status_code >= 400:
            raise ClusterError(f"istiod: {body.get('error', response.text)}")
        return body["object"], body["yaml"]

    def kubectl_yaml(self, value: Any) -> str:
        """``value`` as kubectl -o yaml prints it (sigs.k8s.io/yaml, in egress-istiod)."""
        response = self._call("POST", "/yaml", content=json.dumps(value))
        if response.status_code >= 400:
            raise ClusterError(f"istiod: {response.text.strip()}")
        return response.text

    def set_configmap_mode(self, mode: OutboundTrafficPolicy | None) -> None:
        """The istio ConfigMap's outboundTrafficPolicy.mode as written (None: no mode
        line, the install's default), pushed to the proxy even when the mode istiod
        enforces stays the same."""
        value = "" if mode is None else OutboundTrafficPolicy(mode).value
        body = self._json("PUT", "/mesh/outboundTrafficPolicy", json={"mode": value})
        self._expect(body["pushVersion"])

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        body = self._json("DELETE", f"/resources/{kind}/{namespace}/{name}")
        if body["found"]:
            self._expect(body["pushVersion"])
        return bool(body["found"])

    def items(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        params = {"namespace": namespace} if namespace else {}
        return list(self._json("GET", f"/resources/{kind}", params=params)["items"])

    def names(self, kind: str, namespace: str | None) -> list[str]:
        return sorted(item["metadata"]["name"] for item in self.items(kind, namespace))

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy:
        mesh = self._json("GET", "/mesh")
        mode = (mesh.get("outboundTrafficPolicy") or {}).get("mode", "REGISTRY_ONLY")
        return OutboundTrafficPolicy(mode)

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy) -> None:
        if mode == self.outbound_traffic_policy():
            return
        body = self._json("PUT", "/mesh/outboundTrafficPolicy", json={"mode": mode.value})
        self._expect(body["pushVersion"])

    def clear(self) -> bool:
        """Remove every resource applied since start; the mesh's own starting config lives
        in the root namespace (kubeobjects.SYSTEM_NAMESPACE) and stays."""
        # One request and one push, not a list per kind and a push per object.
        body = self._json("DELETE", "/resources", params={"keep": kubeobjects.SYSTEM_NAMESPACE})
        changed = bool(body["deleted"])
        if changed:
            self._expect(body["pushVersion"])
        # The install's ConfigMap names no mode: put that back, not an explicit ALLOW_ANY
        # (the page's grep for the mode line then finds none, as on a fresh install,
        # whichever scenario ran before on this mesh).
        if self.written_mode() is not None:
            self.set_configmap_mode(None)
            changed = True
        elif self.outbound_traffic_policy() != OutboundTrafficPolicy.ALLOW_ANY:
            self.set_outbound_traffic_policy(OutboundTrafficPolicy.ALLOW_ANY)
            changed = True
        return changed

    def written_mode(self) -> OutboundTrafficPolicy | None:
        """The mode the istio ConfigMap's mesh config writes, None where it names none."""
        found = self.configmap(kubeobjects.SYSTEM_NAMESPACE, MESH_CONFIGMAP)
        if found is None:
            return None
        mesh = yaml.safe_load((found[0].get("data") or {}).get("mesh") or "") or {}
        mode = (mesh.get("outboundTrafficPolicy") or {}).get("mode")
        return OutboundTrafficPolicy(mode) if mode else None

    # Waiting for the proxy --------------------------------------------------------------------
    def _expect(self, push_version: str) -> None:
        self._pending = max(self._pending, push_counter(push_version))

    def sync_status(self) -> dict[str, Any] | None:
        """istiod's /debug/syncz entry for the sidecar."""
        sidecar = self._sidecar
        if sidecar is None:
            return None
        statuses = self._json("GET", "/debug/syncz")
        status = proxy_status(statuses, sidecar.proxy.pod_name, sidecar.proxy.namespace)
        return None if status is None else dict(status)

    def wait_synced(self, timeout: float) -> None:
        sidecar = self._sidecar
        if sidecar is None:
            return

        def synced() -> None:
            sidecar.alive()  # the mesh's check: every process of the run, istiod among them
            lagging = sync_lag(self.sync_status(), self._pending) or _warming(sidecar)
            if lagging:
                raise NotYet(", ".join(lagging))

        wait_for(
            synced, timeout=timeout, what=f"the sidecar did not ACK istiod's push {self._pending}"
        )


def start_gc_env() -> dict[str, str]:
    """No garbage collection until egress-istiod is ready, its packages' initialisation
    included (before its main), then Go's default: about 70 ms off its start here
    (mesh up 534-685 -> 455-536 ms), for about 50 MB more resident (215 MB, Go keeps
    what it grew to). A GOGC of the user's rules throughout instead."""
    if "GOGC" in os.environ:
        return {}
    return {"GOGC": "off", "EGRESS_ISTIOD_GOGC_AFTER_START": "100"}


def _warming(sidecar: Sidecar) -> list[str]:
    """Envoy still warming a listener or cluster (e.g. waiting for an SDS secret)."""
    stats = sidecar.admin.stats_or_death(
        r"(total_listeners_warming|warming_clusters)$", sidecar.alive
    )
    return [f"{name} = {value}" for name, value in stats.items() if value]


def _grpc_cluster(name: str, socket: Path) -> dict[str, Any]:
    """A bootstrap gRPC cluster over a unix socket, as pilot-agent's xds-grpc/sds-grpc."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": str(socket)}}}}]}
            ],
        },
        "typed_extension_protocol_options": {
            HTTP_OPTIONS: {
                "@type": f"type.googleapis.com/{HTTP_OPTIONS}",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
    }


class AdmissionRefused(InvalidResource):
    """The API server's (or Istio's webhook's) refusal of document ``document`` of a
    stream, with its Status, which kubectl prints in its own way."""

    def __init__(self, status: Mapping[str, Any], document: int = 0) -> None:
        super().__init__(kubectl_refusal(status))
        self.status = dict(status)
        self.document = document


def kubectl_refusal(status: Mapping[str, Any]) -> str:
    """The line kubectl prints for the API server's refusal (an apiserver Status).

    ``Invalid`` lists its causes as ``field: message`` (kubectl's StandardErrorMessage),
    anything else prints the message.
    """
    details = status.get("details") or {}
    if status.get("reason") == "Invalid" and details:
        causes = []
        for cause in details.get("causes") or ():
            text = f"{cause.get('field', '<nil>')}: {cause.get('message', '')}"
            if text not in causes:
                causes.append(text)
        head = f"The {details.get('kind', '')} {json.dumps(details.get('name', ''))} is invalid"
        if not causes:
            return head
        return f"{head}: {causes[0] if len(causes) == 1 else '[' + ', '.join(causes) + ']'}"
    return " ".join(str(status.get("message", "refused")).split())


def base_bootstrap(sidecar: Sidecar, *, istio_version: str) -> dict[str, Any]:
    """The bootstrap's node identity and admin socket.

    The node metadata is what pilot-agent sends istiod (pkg/model NodeMetadata): istiod
    reads the pod's namespace, IPs, labels and interception mode from it.
    """
    proxy = sidecar.proxy
    return {
        "node": {
            "id": proxy.node_id,
            "cluster": f"{sidecar.labels.get('app', proxy.pod_name)}.{proxy.namespace}",
            "metadata": {
                "NAME": proxy.pod_name,
                "NAMESPACE": proxy.namespace,
                "INSTANCE_IPS": proxy.ip,
                "LABELS": dict(sidecar.labels),
                "ANNOTATIONS": dict(sidecar.annotations),
                "CLUSTER_ID": "Kubernetes",
                "INTERCEPTION_MODE": "REDIRECT",
                "ISTIO_VERSION": istio_version,
                "SERVICE_ACCOUNT": "sleep",
                "WORKLOAD_NAME": "sleep",
                "OWNER": f"kubernetes://apis/apps/v1/namespaces/{proxy.namespace}/deployments/sleep",
                "MESH_ID": "cluster.local",
                "APP_CONTAINERS": "sleep",
            },
        },
        "admin": {"address": {"pipe": {"path": str(sidecar.directory / "admin.sock")}}},
    }
