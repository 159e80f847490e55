"""Istio's answers, recorded from the pinned build, for a backend that runs no Istio.

The in-memory fake backend answers with these instead of imitating Istio:

- ``validation.json``: the kinds Istio's CRDs serve (with kubectl's names for them), and
  for each manifest of the validation cases what Istio answered (the API server's CRD
  schema and CEL rules, then Istio's validating webhook, through egress-istiod) or what
  kubectl printed against a kind cluster. ``python tests/unit/test_validation.py`` records it;
  tests/unit/test_validation.py fails when the pinned build answers otherwise.
- ``injection.json``: the sleep sample's Deployment and pod as Istio's injector left them
  (automatic and manual, every destination or the fake's internal ranges), and the nat
  table Istio's istio-iptables builds from that pod's istio-init arguments.
  ``python tests/unit/test_recorded_injection.py`` records it, and checks it.

A manifest that is not recorded has no answer here: the fake accepts it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import yaml

from clusters.istio.kubectl_documents import KindNames
from clusters.protocol import Injection

VALIDATION = "validation.json"
INJECTION = "injection.json"
KUBECTL_ERROR = "error: "  # what kubectl's CheckErr puts before an error's words


@cache
def read(name: str) -> dict[str, Any]:
    """One recording as stored (the caller must not change it)."""
    return json.loads(resources.files(__name__).joinpath(name).read_text())


def served_kinds() -> list[KindNames]:
    """The kinds Istio's CRDs serve, as its discovery lists them."""
    return [
        KindNames(
            kind=item["kind"],
            group=item["group"],
            plural=item["plural"],
            short_names=tuple(item.get("shortNames") or ()),
            versions=tuple(item.get("versions") or ()),
        )
        for item in read(VALIDATION)["kinds"]
    ]


def words(answer: object) -> str | None:
    """The words a recorded answer holds: Istio's (a string; None for accepted), kubectl's
    as it printed them (``stderr`` lines, less its ``error: ``), or the local mesh's own
    (``answer``)."""
    if answer is None or isinstance(answer, str):
        return answer
    if not isinstance(answer, Mapping):
        raise TypeError(f"a recorded answer is a string, null or an object, not {answer!r}")
    if "stderr" in answer:
        return "\n".join(answer["stderr"]).removeprefix(KUBECTL_ERROR)
    return str(answer["answer"])


def manifest(case: str) -> str:
    """The manifest recorded under ``case`` (``resolution-enum``...)."""
    return str(read(VALIDATION)["cases"][case]["manifest"])


def _canonical(document: object) -> str:
    return json.dumps(document, sort_keys=True, default=str)


@cache
def _refusals() -> dict[str, str | None]:
    """Each recorded single-document manifest (as parsed, so layout does not matter) ->
    Istio's words for it (None: accepted)."""
    found: dict[str, str | None] = {}
    for entry in read(VALIDATION)["cases"].values():
        documents = [d for d in yaml.safe_load_all(entry["manifest"]) if d is not None]
        if len(documents) == 1:
            found[_canonical(documents[0])] = words(entry["answer"])
    return found


def refusal(document: Mapping[str, Any]) -> str | None:
    """Istio's recorded refusal of exactly this document; None when it was accepted or
    was never recorded (then nothing is known against it)."""
    return _refusals().get(_canonical(document))


def injected(injection: Injection, include: Sequence[str] | None) -> dict[str, Any] | None:
    """The recorded workload for this injection and include ranges (None: every
    destination): ``deployment``, ``pod`` and ``nat``; None when it was not recorded."""
    wanted = None if include is None else list(include)
    for workload in read(INJECTION)["workloads"]:
        if workload["injection"] == Injection(injection).value and (
            workload["include_ip_ranges"] == wanted
        ):
            return workload
    return None


def nat_table(init_args: Sequence[str]) -> str | None:
    """The nat table Istio's istio-iptables builds for these istio-init arguments, as it
    hands it to iptables-restore; None when no recorded pod has them."""
    for workload in read(INJECTION)["workloads"]:
        if workload["init_args"] == list(init_args):
            return str(workload["nat"])
    return None
