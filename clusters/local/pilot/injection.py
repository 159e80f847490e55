"""The model's imitation of sidecar injection: what Istio's injector does to the
sample's pod, reduced to what the local mesh reads back (containers, istio-init's
arguments, the labels and status annotation). istiod's plane runs Istio's own injector
instead; ``make fidelity`` does not cover this part, the injection tests do.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from clusters.istio import injection as istio_injection
from clusters.local import iptables
from clusters.local.controlplane import Workload
from clusters.protocol import Injection

SIDECAR_LABELS = {"security.istio.io/tlsMode": "istio"}


def _inject_into(template: dict[str, Any], include: Sequence[str] | None) -> None:
    """Add istio-init and istio-proxy to a pod (or pod template) in place."""
    metadata = template.setdefault("metadata", {})
    labels = metadata.setdefault("labels", {})
    labels.update(SIDECAR_LABELS)
    app = labels.get("app", "")
    labels.setdefault("service.istio.io/canonical-name", app)
    labels.setdefault("service.istio.io/canonical-revision", "latest")
    metadata.setdefault("annotations", {})[istio_injection.STATUS_ANNOTATION] = json.dumps(
        {"initContainers": [istio_injection.INIT], "containers": [istio_injection.SIDECAR]}
    )
    spec = template.setdefault("spec", {})
    config = iptables.InterceptionConfig(include_outbound_ip_ranges=include)
    spec.setdefault("initContainers", []).append(
        {"name": istio_injection.INIT, "args": iptables.istio_iptables_args(config)}
    )
    spec.setdefault("containers", []).append({"name": istio_injection.SIDECAR})


def inject(
    deployment: Mapping[str, Any],
    injection: Injection,
    pod_name: str,
    include: Sequence[str] | None,
) -> Workload:
    stored = copy.deepcopy(dict(deployment))
    stored.setdefault("metadata", {}).setdefault("namespace", "default")
    if injection is Injection.MANUAL:
        _inject_into(stored["spec"]["template"], include)
    template = copy.deepcopy(istio_injection.template(stored))
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template.get("metadata", {}),
            "name": pod_name,
            "namespace": stored["metadata"]["namespace"],
        },
        "spec": template.get("spec", {}),
    }
    if not istio_injection.has_sidecar(pod):  # the webhook; kube-inject's pod is left alone
        _inject_into(pod, include)
    return Workload(deployment=stored, pod=pod)
