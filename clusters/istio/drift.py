"""Steps of the page that Istio no longer has, and why: facts shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Drift:
    command: str  # the page step, by a short name steps use
    removed_in: str  # the Istio (or tool) release that removed it
    reason: str  # one line for the report, saying what replaced it


DRIFTS: dict[str, Drift] = {
    drift.command: drift
    for drift in (
        Drift(
            "mixer-logs",
            "Istio 1.8",
            "Mixer was removed in Istio 1.8: there is no istio-mixer-type=telemetry pod to "
            "read; the sidecar's access log (checked by the scenario before) carries the "
            "same facts",
        ),
        Drift(
            "configmap-mode-line",
            "Istio 1.3",
            "the mode is meshConfig.outboundTrafficPolicy.mode (set with istioctl install "
            "--set meshConfig.outboundTrafficPolicy.mode=...); a default install's istio "
            'configmap has no "mode: ALLOW_ANY" line, so the page\'s grep/sed find nothing',
        ),
        Drift(
            "helm-template-x",
            "Helm 3 / Istio 1.5",
            "helm template -x is gone (Helm 3) and Istio's charts no longer render "
            "templates/sidecar-injector-configmap.yaml; set "
            "values.global.proxy.includeIPRanges with istioctl, or annotate the pod with "
            "traffic.sidecar.istio.io/includeOutboundIPRanges",
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
