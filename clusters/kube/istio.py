"""Istio as installed in a cluster: which release, the mesh config's outbound traffic
policy, and istiod's view of a proxy's sync state.

The mode lives in the ``istio`` ConfigMap's ``mesh`` key in the control plane's
namespace; istiod watches it and pushes the change to every proxy. Editing that key is
what ``istioctl install --set meshConfig.outboundTrafficPolicy.mode=...`` amounts to
for the mode, and it works on an installation made by any tool (helm, istioctl, an
operator), so it is how a backend switches the mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from clusters.kube.api import KubeApi
from clusters.protocol import ClusterError, OutboundTrafficPolicy

SYSTEM_NAMESPACE = "istio-system"
MESH_CONFIGMAP = "istio"
ISTIOD_LABEL = "app=istiod"
DISCOVERY_CONTAINER = "discovery"
DEBUG_PORT = 15014  # pilot-discovery's --monitoringAddr, where its /debug endpoints are
SYNCZ = "/debug/syncz"


@dataclass(frozen=True)
class IstioInstall:
    """What was found: the release (istiod's image tag) and where it runs."""

    version: str
    namespace: str
    istiod_pod: str


def find_istio(api: KubeApi, namespace: str = SYSTEM_NAMESPACE) -> IstioInstall | None:
    """The Running istiod in ``namespace`` and its release, or None if there is none."""
    pods = api.list("v1", "Pod", namespace, label_selector=ISTIOD_LABEL)
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        return None
    pod = running[0]
    image = next(
        (c["image"] for c in pod["spec"]["containers"] if c.get("name") == DISCOVERY_CONTAINER),
        pod["spec"]["containers"][0]["image"],
    )
    return IstioInstall(image.rsplit(":", 1)[-1], namespace, pod["metadata"]["name"])


def _mesh_configmap(api: KubeApi, namespace: str) -> dict[str, Any]:
    configmap = api.get("v1", "ConfigMap", MESH_CONFIGMAP, namespace)
    if configmap is None:
        raise ClusterError(
            f'configmaps "{MESH_CONFIGMAP}" not found in {namespace}: is Istio installed there?'
        )
    return configmap


def _mesh(configmap: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load((configmap.get("data") or {}).get("mesh") or "") or {}


def configured_outbound_traffic_policy(
    api: KubeApi, namespace: str = SYSTEM_NAMESPACE
) -> OutboundTrafficPolicy | None:
    """meshConfig.outboundTrafficPolicy.mode as the ConfigMap writes it; None when it does
    not (what a sidecar then runs is observed, not assumed: KubeCluster.installed_mode)."""
    mode = (_mesh(_mesh_configmap(api, namespace)).get("outboundTrafficPolicy") or {}).get("mode")
    return OutboundTrafficPolicy(mode) if mode else None


def set_outbound_traffic_policy(
    api: KubeApi,
    mode: OutboundTrafficPolicy | None,
    namespace: str = SYSTEM_NAMESPACE,
    *,
    unset_runs: OutboundTrafficPolicy = OutboundTrafficPolicy.ALLOW_ANY,
) -> bool:
    """Write the mode into the mesh config (None: remove it, to put back a ConfigMap that
    never set it); True when the mode in effect changes, so istiod pushes. ``unset_runs``
    is what istiod runs while the ConfigMap names no mode (Istio's default, unless a
    sidecar was seen running another: KubeCluster.installed_mode)."""
    mesh = _mesh(_mesh_configmap(api, namespace))
    policy = dict(mesh.get("outboundTrafficPolicy") or {})
    written = policy.get("mode")
    wanted = mode.value if mode else None
    before, after = written or unset_runs.value, wanted or unset_runs.value
    if written == wanted or (written is None and before == after):
        return False
    if wanted is None:
        policy.pop("mode", None)
    else:
        policy["mode"] = wanted
    if policy:
        mesh["outboundTrafficPolicy"] = policy
    else:
        mesh.pop("outboundTrafficPolicy", None)
    patch = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": MESH_CONFIGMAP, "namespace": namespace},
        "data": {"mesh": yaml.safe_dump(mesh, sort_keys=False)},
    }
    api.apply([patch], namespace)
    return before != after


def syncz(api: KubeApi, install: IstioInstall, timeout: float = 30.0) -> list[Mapping[str, Any]]:
    """istiod's /debug/syncz (what `istioctl proxy-status` reads). istiod answers its
    debug endpoints without a token only on its own loopback, so the request goes
    through a port-forward to its monitoring port, as istioctl's does."""
    answer = api.http_get(install.namespace, install.istiod_pod, DEBUG_PORT, SYNCZ, timeout)
    if answer.status != 200:
        reason = answer.body.strip().splitlines()[0] if answer.body.strip() else ""
        raise ClusterError(f"istiod's {SYNCZ}: HTTP {answer.status} {reason}".rstrip())
    try:
        return json.loads(answer.body)
    except ValueError:
        raise ClusterError(f"istiod's /debug/syncz is not JSON: {answer.body[:120]!r}") from None
