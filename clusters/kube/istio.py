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


def outbound_traffic_policy(
    api: KubeApi, namespace: str = SYSTEM_NAMESPACE
) -> OutboundTrafficPolicy:
    """meshConfig.outboundTrafficPolicy.mode as istiod reads it (ALLOW_ANY when unset)."""
    mesh = yaml.safe_load((_mesh_configmap(api, namespace).get("data") or {}).get("mesh") or "")
    mode = ((mesh or {}).get("outboundTrafficPolicy") or {}).get("mode") or "ALLOW_ANY"
    return OutboundTrafficPolicy(mode)


def set_outbound_traffic_policy(
    api: KubeApi, mode: OutboundTrafficPolicy, namespace: str = SYSTEM_NAMESPACE
) -> bool:
    """Write the mode into the mesh config; False when it already was that mode."""
    configmap = _mesh_configmap(api, namespace)
    mesh = yaml.safe_load((configmap.get("data") or {}).get("mesh") or "") or {}
    current = (mesh.get("outboundTrafficPolicy") or {}).get("mode") or "ALLOW_ANY"
    if current == mode.value:
        return False
    mesh.setdefault("outboundTrafficPolicy", {})["mode"] = mode.value
    patch = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": MESH_CONFIGMAP, "namespace": namespace},
        "data": {"mesh": yaml.safe_dump(mesh, sort_keys=False)},
    }
    api.apply([patch], namespace)
    return True


def syncz(api: KubeApi, install: IstioInstall, timeout: float = 30.0) -> list[Mapping[str, Any]]:
    """istiod's /debug/syncz (what `istioctl proxy-status` reads). istiod answers its
    debug endpoints without a token only from its own pod, so the request is made there,
    with ``pilot-discovery request`` (as istioctl does)."""
    result = api.exec(
        install.namespace,
        install.istiod_pod,
        DISCOVERY_CONTAINER,
        ["pilot-discovery", "request", "GET", "/debug/syncz"],
        timeout,
    )
    if result.exit_code != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        raise ClusterError(f"istiod's /debug/syncz: {reason}")
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise ClusterError(f"istiod's /debug/syncz is not JSON: {result.stdout[:120]!r}") from None
