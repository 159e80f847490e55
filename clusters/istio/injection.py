"""What a Deployment and its pod say about sidecar injection, read as one reads them
from ``kubectl get deployment,pod -o yaml``.

Every backend reads its objects through these functions, so the page's checks
("the sidecar came from manual injection", "the pod intercepts only these ranges")
look at what the cluster holds, never at what the suite asked for:

- ``istioctl kube-inject`` writes the sidecar into the Deployment's pod template;
- the injection webhook adds it to the pod only, leaving the Deployment as applied;
- istio-init's ``-i`` argument is what the pod's iptables redirect to the proxy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import yaml

from clusters.protocol import Injection

SIDECAR = "istio-proxy"
INIT = "istio-init"
STATUS_ANNOTATION = "sidecar.istio.io/status"
SLEEP_SAMPLE = "samples/sleep.yaml"

Object = Mapping[str, Any]


@cache
def sleep_sample_text() -> str:
    """Istio's samples/sleep/sleep.yaml, which the page applies."""
    return resources.files("clusters.istio").joinpath(SLEEP_SAMPLE).read_text()


@cache
def _sleep_sample_parsed() -> tuple[dict[str, Any], ...]:
    return tuple(document for document in yaml.safe_load_all(sleep_sample_text()) if document)


def sleep_sample() -> list[dict[str, Any]]:
    """The sample's documents (ServiceAccount, Service, Deployment), a fresh copy: the
    text is parsed once per process (each pod the suite makes asks for it, and parsing
    cost more than a copy), and callers may change the copy."""
    return copy.deepcopy(list(_sleep_sample_parsed()))


def sleep_deployment() -> dict[str, Any]:
    """The sample's Deployment (a fresh copy)."""
    for document in sleep_sample():
        if document.get("kind") == "Deployment":
            return document
    raise LookupError(f"{SLEEP_SAMPLE} has no Deployment")


def termination_grace_period(pod: Object) -> float:
    """The pod's terminationGracePeriodSeconds (Kubernetes' default: 30)."""
    return float(_spec(pod).get("terminationGracePeriodSeconds", 30))


def _spec(pod_or_template: Object) -> Object:
    return pod_or_template.get("spec") or {}


def template(deployment: Object) -> Object:
    return (deployment.get("spec") or {}).get("template") or {}


def container_names(pod: Object) -> tuple[str, ...]:
    """The pod's containers, native sidecars (restartable init containers) included,
    as ``kubectl get pod`` counts them in READY."""
    spec = _spec(pod)
    native = [
        c["name"] for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    return (*native, *(c["name"] for c in spec.get("containers") or ()))


def has_sidecar(pod_or_template: Object) -> bool:
    return SIDECAR in container_names(pod_or_template)


def injected_by(deployment: Object | None, pod: Object) -> Injection | None:
    """Manual when the Deployment's template already carries the sidecar (kube-inject
    wrote it), automatic when only the pod does (the webhook added it), else None."""
    if not has_sidecar(pod):
        return None
    if deployment is not None and has_sidecar(template(deployment)):
        return Injection.MANUAL
    if STATUS_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
        return Injection.AUTOMATIC
    return None


def init_args(pod: Object) -> list[str] | None:
    """istio-init's arguments (``istio-iptables -p 15001 ...``), None without it."""
    for container in _spec(pod).get("initContainers") or ():
        if container.get("name") == INIT:
            return [str(arg) for arg in container.get("args") or ()]
    return None


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value after ``flag`` (``-i``) or in ``flag=value`` form; None when absent."""
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
    return None


def include_ip_ranges(pod: Object) -> tuple[str, ...] | None:
    """The outbound ranges istio-init redirects to the proxy: None for every
    destination (``-i '*'``), () when the pod has no istio-init."""
    args = init_args(pod)
    if args is None:
        return ()
    value = flag_value(args, "-i")
    if value is None or value.strip() == "*":
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())
