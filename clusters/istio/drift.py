"""Steps of the page that Istio no longer has, and why: version data shared by every
backend. Whether a step drifted depends only on the Istio release under test (what a
backend reports as ``istio`` in ``describe()``), never on the backend."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Drift:
    command: str  # the page step, by a short name steps use
    reason: str  # one line for the report, saying what removed it and what replaced it
    since_istio: tuple[int, int]  # the first Istio minor release without it


DRIFTS: dict[str, Drift] = {
    drift.command: drift
    for drift in (
        Drift(
            "mixer-logs",
            "Mixer was removed in Istio 1.8: there is no istio-mixer-type=telemetry pod to "
            "read; the sidecar's access log (checked by the scenario before) carries the "
            "same facts",
            since_istio=(1, 8),
        ),
        Drift(
            "configmap-mode-line",
            "the mode is meshConfig.outboundTrafficPolicy.mode (set with istioctl install "
            "--set meshConfig.outboundTrafficPolicy.mode=...); a default install's istio "
            'configmap has no "mode: ALLOW_ANY" line, so the page\'s grep/sed find nothing',
            since_istio=(1, 3),
        ),
        Drift(
            "helm-template-x",
            "helm template -x is gone (Helm 3) and Istio's charts no longer render "
            "templates/sidecar-injector-configmap.yaml; set "
            "values.global.proxy.includeIPRanges with istioctl, or annotate the pod with "
            "traffic.sidecar.istio.io/includeOutboundIPRanges",
            since_istio=(1, 5),
        ),
    )
}


def known_drift(command: str) -> Drift:
    """The drift record of a page step; a typo in a feature file fails loudly."""
    try:
        return DRIFTS[command]
    except KeyError:
        raise ValueError(
            f"unknown page step {command!r}: known drifting steps are {', '.join(DRIFTS)}"
        ) from None


def istio_minor(version: str | None) -> tuple[int, int] | None:
    """The (major, minor) a backend's ``istio`` fact starts with ("1.31.0", "1.31-dev
    (istio.io/istio ...)"); None when it names no release."""
    found = re.match(r"\s*v?(\d+)\.(\d+)", version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def drift_for(command: str, facts: Mapping[str, str]) -> Drift | None:
    """The drift of a page step on the Istio a backend describes, or None if that Istio
    still has the step. An Istio that names no release is taken to be a current one."""
    drift = known_drift(command)
    minor = istio_minor(facts.get("istio"))
    if minor is not None and minor < drift.since_istio:
        return None
    return drift
