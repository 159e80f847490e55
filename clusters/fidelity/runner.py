"""One corpus case on one cluster: reset, then each step (a pause, mode, deletions, apply,
wait, config dump, probes), recorded as plain data so two backends can be compared.

Only the Cluster protocol is used, so any backend can be one side. A refusal is an
outcome like any other: its text and the stage that refused (kubectl, the API server's
schema, Istio's webhook) are recorded, and the case goes on with whatever the mesh then
serves.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from clusters.fidelity.addresses import AddressBook, resolve
from clusters.fidelity.corpus import Case, Step
from clusters.fidelity.normalise import Renames, normalise, without_others_services
from clusters.fidelity.probes import run_probe
from clusters.istio import syncz
from clusters.protocol import Cluster, ClusterError, InvalidResource

SYNC_TIMEOUT_S = 120.0  # the kind backend's propagation bound; local syncs in milliseconds
# istiod debounces config events (PILOT_DEBOUNCE_AFTER, 100 ms by default) into one push,
# and numbers a push when it starts building it. A change whose events reach istiod
# while a push is being built (a ConfigMap edit, then several documents applied one by
# one on a slow API server) comes in a later push, and the push counter cannot tell
# which push carries what. So a case's dump is read once no new push has reached the
# sidecar for this long after the step's last change.
SETTLE_S = 0.5
SETTLE_POLL_S = 0.05
# The sections of Envoy's /config_dump that decide where traffic goes, asked one by one
# (Cluster.sidecar_config_dump takes a resource), then put together as one dump.
RESOURCES = {
    "ListenersConfigDump": ("dynamic_listeners",),
    "RoutesConfigDump": ("dynamic_route_configs",),
    "ClustersConfigDump": ("dynamic_active_clusters", "dynamic_warming_clusters"),
}
DUMP_TYPE = "type.googleapis.com/envoy.admin.v3."
# Stages of ``kubectl apply``, told apart by their words.
STAGES = (
    ("admission webhook", "webhook"),
    ("strict decoding error", "api-server: strict decoding"),
    ("unknown field", "api-server: strict decoding"),
    ("is invalid", "api-server: schema"),
    ("resource mapping not found", "kubectl: kind not served"),
    ("error validating", "kubectl: missing apiVersion/kind"),
    ("error parsing YAML", "kubectl: YAML"),
)


def refusal_stage(message: str) -> str:
    """Which stage of ``kubectl apply`` refused, from the message's own words."""
    return next((stage for words, stage in STAGES if words in message), "other")


def run_case(cluster: Cluster, case: Case, book: AddressBook) -> dict[str, Any]:
    """The case's outcome on ``cluster``: per step, the refusal, config and probe results.

    ``book`` holds the side's addresses (the sites'); the case's placeholders are added
    to it. A cluster error (a proxy that does not sync, a dead process) ends the case
    with the error as its outcome, so one bad case does not hide the rest of the corpus.
    """
    started = time.perf_counter()
    steps: list[dict[str, Any]] = []
    error = None
    try:
        cluster.reset()
        settle(cluster)
        resolve(cluster, case.texts(), book)
        for step in case.steps:
            steps.append(run_step(cluster, step, book))
    except ClusterError as failure:
        error = f"step {len(steps) + 1}: {' '.join(str(failure).split())}"
    return {"steps": steps, "error": error, "elapsed_s": round(time.perf_counter() - started, 3)}


def run_step(cluster: Cluster, step: Step, book: AddressBook) -> dict[str, Any]:
    outcome: dict[str, Any] = {"refusal": None, "stage": None}
    time.sleep(step.sleep_s)
    try:
        if step.mode is not None:
            cluster.set_outbound_traffic_policy(step.mode)
        for kind, name in step.delete:
            cluster.delete(kind, name)
        if step.apply is not None:
            cluster.apply(book.fill(step.apply))
    except InvalidResource as error:
        outcome["refusal"] = " ".join(str(error).split())
        outcome["stage"] = refusal_stage(str(error))
    except ClusterError as error:
        outcome["refusal"] = " ".join(str(error).split())
        outcome["stage"] = "error"
    settle(cluster)
    outcome["config"] = config_of(cluster, book)
    outcome["probes"] = [
        {
            "curl": probe.curl,  # as the corpus writes it: both sides' records line up
            "record": list(probe.record),
            **run_probe(cluster, dataclasses.replace(probe, curl=book.fill(probe.curl))),
        }
        for probe in step.probes
    ]
    return outcome


def settle(cluster: Cluster, settle_s: float = SETTLE_S) -> None:
    """Called right after a step's changes: the sidecar in sync, and no push newer than
    the one it ACKed has reached it for ``settle_s`` since the call (a later push is
    waited for in turn), so that istiod has pushed every change made before it."""
    quiet_from = time.monotonic()
    cluster.wait_for_proxy_config(SYNC_TIMEOUT_S)
    seen = syncz.newest_push(cluster.proxy_sync_status())
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while (left := quiet_from + settle_s - time.monotonic()) > 0:
        time.sleep(min(SETTLE_POLL_S, left))
        newest = syncz.newest_push(cluster.proxy_sync_status())
        if newest == seen:
            continue
        if time.monotonic() > deadline:
            raise ClusterError(
                f"istiod kept pushing to the sidecar for {SYNC_TIMEOUT_S:g} s after a change"
            )
        cluster.wait_for_proxy_config(SYNC_TIMEOUT_S)
        seen = syncz.newest_push(cluster.proxy_sync_status())
        quiet_from = time.monotonic()


def config_dump(cluster: Cluster) -> dict[str, Any]:
    """The sidecar's listeners, routes and clusters in the shape of a whole /config_dump.

    One resource at a time: the kube backend's API client is not safe to share between
    threads (its exec streams patch the client while they run)."""
    configs = []
    for section, resources in RESOURCES.items():
        merged: dict[str, Any] = {"@type": DUMP_TYPE + section}
        for resource in resources:
            merged[resource] = _items(cluster.sidecar_config_dump(resource))
        configs.append(merged)
    return {"configs": configs}


def _items(dump: Mapping[str, Any]) -> list[Any]:
    return list(dump.get("configs", ()))


def config_of(cluster: Cluster, book: AddressBook) -> dict[str, Any]:
    """The sidecar's config, normalised, without the Services that are not the corpus', with each
    side's addresses named as the corpus names them."""
    renames = Renames(addresses=book.placeholders(), internal=cluster.internal_ip_ranges())
    return without_others_services(normalise(config_dump(cluster), renames))
