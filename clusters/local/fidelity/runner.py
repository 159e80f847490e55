"""One corpus case on one mesh: reset, then each step (mode, deletions, apply, wait,
config dump, probes), recorded as plain data so two control planes can be compared.

A refusal is an outcome like any other: its text and the stage that refused (kubectl,
the API server's schema, Istio's webhook, or the model saying it does not implement
something) are recorded, and the case goes on with whatever the mesh then serves.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from clusters.local.fidelity.corpus import Case, Step
from clusters.local.fidelity.normalise import normalise, without_system_services
from clusters.local.fidelity.probes import run_probe
from clusters.protocol import ClusterError, InvalidResource

SYNC_TIMEOUT_S = 10.0  # a sync takes milliseconds; a DNS cluster warms within one lookup
# Stages of ``kubectl apply``, told apart by their words (clusters/local/pilot/validation.py).
STAGES = (
    ("not implemented by the local mesh's model", "model: not implemented"),
    ("not supported by this suite's local mesh", "model: not implemented"),
    ("admission webhook", "webhook"),
    ("strict decoding error", "api-server: strict decoding"),
    ("is invalid", "api-server: schema"),
    ("resource mapping not found", "kubectl: kind not served"),
    ("error validating", "kubectl: missing apiVersion/kind"),
    ("error parsing YAML", "kubectl: YAML"),
)


def refusal_stage(message: str) -> str:
    """Which stage of ``kubectl apply`` refused, from the message's own words."""
    return next((stage for words, stage in STAGES if words in message), "other")


def run_case(mesh: Any, case: Case) -> dict[str, Any]:
    """The case's outcome on ``mesh``: per step, the refusal, config and probe results.

    A mesh error (a proxy that does not sync, a dead process) ends the case with the
    error as its outcome, so one bad case does not hide the rest of the corpus.
    """
    started = time.perf_counter()
    steps: list[dict[str, Any]] = []
    error = None
    try:
        mesh.reset()
        for step in case.steps:
            steps.append(run_step(mesh, step))
    except ClusterError as failure:
        error = f"step {len(steps) + 1}: {failure}"
    return {"steps": steps, "error": error, "elapsed_s": round(time.perf_counter() - started, 3)}


def run_step(mesh: Any, step: Step) -> dict[str, Any]:
    outcome: dict[str, Any] = {"refusal": None, "stage": None}
    try:
        if step.mode is not None:
            mesh.set_outbound_traffic_policy(step.mode)
        for kind, name in step.delete:
            mesh.delete(kind, name)
        if step.apply is not None:
            mesh.apply(step.apply)
    except InvalidResource as error:
        outcome["refusal"] = str(error)
        outcome["stage"] = refusal_stage(str(error))
    except ClusterError as error:
        outcome["refusal"] = str(error)
        outcome["stage"] = "error"
    mesh.wait_for_proxy_config(SYNC_TIMEOUT_S)
    outcome["config"] = config_of(mesh)
    outcome["probes"] = [
        {"curl": probe.curl, "record": list(probe.record), **run_probe(mesh, probe)}
        for probe in step.probes
    ]
    return outcome


def config_of(mesh: Any) -> dict[str, Any]:
    """The sidecar's config, normalised and without what only istiod's world has."""
    try:
        response = mesh.admin.get("/config_dump?include_eds")
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise ClusterError(f"the sidecar's /config_dump failed: {error}") from None
    return without_system_services(normalise(response.json()))
