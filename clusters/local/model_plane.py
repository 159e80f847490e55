"""``--control-plane model``: clusters/local/pilot, the Python model of istiod's output.

It needs no Go, and delivers by file-based xDS (milliseconds, no server process). It
implements ServiceEntry and VirtualService as the page uses them and refuses, in one
line, what it does not implement; ``make fidelity`` measures it against istiod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clusters.istio import injection as istio_injection
from clusters.istio.kubectl_documents import NETWORKING_GROUP, KindNames, page_kinds
from clusters.local import iptables, pilot
from clusters.local.controlplane import Sidecar, Spawn, Workload, base_bootstrap
from clusters.local.pilot import injection as model_injection
from clusters.local.pilot.resources import (
    Resource,
    ServiceEntry,
    ServicePort,
    VirtualService,
    from_document,
    ref,
)
from clusters.local.pilot.validation import OTHER_KINDS, VERSIONS
from clusters.local.runstate import RunState
from clusters.local.snapshot import ConfigSnapshot, KubernetesService, MeshConfig
from clusters.local.xds import FileXds, rejected_updates
from clusters.protocol import ClusterError, Injection, OutboundTrafficPolicy, ResourceRef

MODEL_ISTIO_VERSION = "1.30.0"  # the Istio whose output the model imitates
SLEEP_PORT = ServicePort(80, "http", "HTTP")


class ModelControlPlane:
    """State lives in the run's state file, so a CLI process can re-attach."""

    name = "model"

    def __init__(self, state: RunState, *, sleep_cluster_ip: str) -> None:
        self.state = state
        self.sleep_cluster_ip = sleep_cluster_ip
        self._config: dict[str, Resource] = {
            key: from_document(document) for key, document in state.resources.items()
        }
        self._sidecar: Sidecar | None = None
        # The sidecar's count of refused xDS updates as last seen: an increase after a
        # write means that write was refused. Unknown until first read in this process.
        self._rejected_seen: int | None = None

    def start(self, spawn: Spawn) -> None:
        del spawn  # nothing runs beside the mesh
        self.state.installed_mode = self.state.mode  # the model's own default

    def describe(self) -> dict[str, str]:
        return {
            "control_plane": "model (clusters/local/pilot, a Python approximation of istiod)",
            "istio": f"{MODEL_ISTIO_VERSION} (imitated)",
            "installed_outbound_traffic_policy": self.state.installed_mode or "unknown",
        }

    def kinds(self) -> list[KindNames]:
        """Istio's networking kinds, as a cluster serves them; applying one that the model
        does not implement is refused in one line (validation._not_local)."""
        kinds = page_kinds(VERSIONS)
        kinds += [
            KindNames(kind, NETWORKING_GROUP, f"{kind.lower()}s", (), VERSIONS)
            for kind in sorted(OTHER_KINDS)
        ]
        return kinds

    # The sidecar ---------------------------------------------------------------------
    def deploy(
        self,
        deployment: Mapping[str, Any],
        injection: Injection,
        pod_name: str,
        include: Sequence[str] | None,
    ) -> Workload:
        """The model's imitation of kube-inject and the injection webhook."""
        return model_injection.inject(deployment, injection, pod_name, include)

    def install_interception(self, namespace: str, pod: Mapping[str, Any]) -> None:
        """The model's own transcription of istio-iptables' rules (clusters/local/iptables),
        for the ranges in the pod's istio-init arguments."""
        include = istio_injection.include_ip_ranges(pod)
        iptables.install(namespace, iptables.InterceptionConfig(include_outbound_ip_ranges=include))

    def bootstrap(self, sidecar: Sidecar) -> dict[str, Any]:
        return {
            **base_bootstrap(sidecar, istio_version=MODEL_ISTIO_VERSION),
            "dynamic_resources": FileXds(sidecar.directory / "xds").dynamic_resources(),
        }

    def add_sidecar(self, sidecar: Sidecar) -> None:
        self._sidecar = sidecar
        (sidecar.directory / "xds").mkdir(parents=True, exist_ok=True)
        self._rejected_seen = 0  # a new proxy has refused nothing yet
        self._write()

    def attach_sidecar(self, sidecar: Sidecar | None) -> None:
        """Re-attach (another process) to a sidecar that already runs, or forget one."""
        self._sidecar = sidecar

    def follow(self) -> None:
        """The state's resources as another process of the run left them."""
        self._config = {
            key: from_document(document) for key, document in self.state.resources.items()
        }
        self._rejected_seen = None  # that process wrote too: ask the proxy again

    def remove_sidecar(self) -> None:
        self._sidecar = None

    def proxy_labels(self, sidecar: Sidecar) -> dict[str, str] | None:
        del sidecar  # the model keeps no Kubernetes: the pod's labels are the suite's record
        return None

    def close(self) -> None:
        """Nothing to let go of: the model runs in this process."""

    # Configuration ---------------------------------------------------------------------
    def apply(
        self, documents: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> list[ResourceRef]:
        """Validated by the model (all or nothing), then stored unless ``dry_run``."""
        models = [from_document(document) for document in documents]  # all or nothing
        if dry_run:
            return [ref(model) for model in models]
        saved = (dict(self.state.resources), dict(self._config))
        for document, model in zip(documents, models, strict=True):
            key = _key(model.kind, model.namespace, model.name)
            stored = dict(document)
            stored["metadata"] = {**(document.get("metadata") or {}), "namespace": model.namespace}
            self.state.resources[key] = stored
            self._config[key] = model
        try:
            self._write()
        except BaseException:  # not handed to the proxy: the change did not happen
            self.state.resources, self._config = saved
            raise
        return [ref(model) for model in models]

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        key = _key(kind, namespace, name)
        self._config.pop(key, None)
        if self.state.resources.pop(key, None) is None:
            return False
        self._write()
        return True

    def items(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """The stored documents of ``kind`` (None: every namespace), as applied."""
        prefix = _key(kind, namespace, "") if namespace else f"{kind}/"
        return [doc for key, doc in sorted(self.state.resources.items()) if key.startswith(prefix)]

    def names(self, kind: str, namespace: str | None) -> list[str]:
        prefix = _key(kind, namespace, "") if namespace else f"{kind}/"
        return sorted(
            key.rsplit("/", 1)[1] for key in self.state.resources if key.startswith(prefix)
        )

    def outbound_traffic_policy(self) -> OutboundTrafficPolicy:
        return OutboundTrafficPolicy(self.state.mode)

    def set_outbound_traffic_policy(self, mode: OutboundTrafficPolicy) -> None:
        if mode.value != self.state.mode:
            self.state.mode = mode.value
            self._write()

    def clear(self) -> bool:
        changed = self.state.mode != OutboundTrafficPolicy.ALLOW_ANY.value or bool(self._config)
        self.state.mode = OutboundTrafficPolicy.ALLOW_ANY.value
        self.state.resources.clear()
        self._config.clear()
        if changed:
            self._write()
        return changed

    def snapshot(self, sidecar: Sidecar) -> ConfigSnapshot:
        config = list(self._config.values())
        return ConfigSnapshot(
            proxy=sidecar.proxy,
            mesh=MeshConfig(outbound_traffic_policy=OutboundTrafficPolicy(self.state.mode)),
            services=(
                KubernetesService(
                    name="sleep",
                    namespace="default",
                    ports=(SLEEP_PORT,),
                    endpoints=(sidecar.proxy.ip,),
                    cluster_ip=self.sleep_cluster_ip,
                ),
            ),
            service_entries=tuple(r for r in config if isinstance(r, ServiceEntry)),
            virtual_services=tuple(r for r in config if isinstance(r, VirtualService)),
        )

    def _write(self) -> None:
        """Compute the sidecar's config from the whole state and hand it over."""
        sidecar = self._sidecar
        if sidecar is None:  # no proxy to configure; the next pod reads the state
            self.state.save()
            return
        resources = pilot.generate(self.snapshot(sidecar))
        self.state.version += 1
        if self._rejected_seen is None:  # first write of this process: ask the proxy once
            self._rejected_seen = rejected_updates(sidecar.admin)
        xds = FileXds(sidecar.directory / "xds")
        self.state.route_names = xds.write(resources, str(self.state.version))
        self.state.save()

    def sync_status(self) -> dict[str, Any] | None:
        """The version written to the file xDS and what Envoy reports it applied."""
        sidecar = self._sidecar
        if sidecar is None:
            return None
        applied = sidecar.admin.stats_or_death(
            r"\.(cds|lds)\.(version_text|update_rejected)$", sidecar.alive
        )
        return {
            "written_version": str(self.state.version),
            **{k: str(v) for k, v in applied.items()},
        }

    def wait_synced(self, timeout: float) -> None:
        sidecar = self._sidecar
        if sidecar is None:
            return
        if self._rejected_seen is None:  # nothing written by this process yet
            self._rejected_seen = rejected_updates(sidecar.admin)
        try:
            self._rejected_seen = FileXds(sidecar.directory / "xds").wait_applied(
                sidecar.admin,
                str(self.state.version),
                self.state.route_names,
                timeout=timeout,
                alive=sidecar.alive,
                rejected_before=self._rejected_seen,
                rejection=lambda: _rejection_reason(sidecar),
            )
        except ClusterError:
            self._rejected_seen = None  # re-read before the next write: a refusal is counted
            raise


def _key(kind: str, namespace: str, name: str) -> str:
    """Resources are stored by kind, namespace and name, as the API server keys them."""
    return f"{kind}/{namespace}/{name}"


def _rejection_reason(sidecar: Sidecar) -> str:
    try:
        lines = sidecar.error_log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    rejected = [line for line in lines if "rejected" in line or "error" in line.lower()]
    return (rejected or lines or ["no log"])[-1].strip()
