"""The fidelity corpus on the local mesh and on kind, the same Istio build on both
(what ``make fidelity`` prints), on the contract tests' clusters.

The ``local vs kind: N/M identical`` line and the differences go to the terminal
summary and to ``reports/fidelity.json``. The test fails on an error (a side that
cannot run a case, different builds) and on a difference that repeats and is not in
clusters/fidelity/known_differences.yaml with its reason; a difference that did not
repeat is reported as flaky.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from clusters.fidelity.__main__ import DEFAULT_REPORT, write
from clusters.fidelity.compare import Difference
from clusters.fidelity.corpus import load_corpus
from clusters.fidelity.known import KNOWN_FILE, load_known, unknown, unused
from clusters.fidelity.measure import measure
from clusters.fidelity.report import render
from clusters.protocol import Cluster

REQUESTED = set(filter(None, os.environ.get("EGRESS_CONTRACT_BACKENDS", "").split(",")))
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the local backend needs root"),
    pytest.mark.skipif(
        "kind" not in REQUESTED, reason="set EGRESS_CONTRACT_BACKENDS=kind to compare with kind"
    ),
]
REPORT = Path(os.environ.get("EGRESS_FIDELITY_REPORT", str(DEFAULT_REPORT)))


def test_local_and_kind_differ_only_where_known(
    started_cluster: Callable[[str], Cluster],
    terminal_summary: list[str],
    record_property: pytest.RecordProperty,
) -> None:
    known = load_known(KNOWN_FILE)
    sides = {"local": started_cluster("local"), "kind": started_cluster("kind")}
    report = measure(sides, load_corpus())
    write(report, REPORT)
    text = render(report, known)
    stale = unused(_differences(report), known)
    if stale:
        text += "\nknown, not measured this run: " + "; ".join(
            f"{entry.path} ({', '.join(entry.cases)})" for entry in stale
        )
    terminal_summary.extend(
        [*text.splitlines(), f"details: {REPORT} ({report['elapsed_s']:.0f} s)"]
    )
    record_property("fidelity", report["summary"])
    record_property("fidelity_elapsed_s", report["elapsed_s"])
    errors = {r["name"]: r["lines"] for r in report["results"] if r["verdict"] == "error"}
    assert not errors, f"a side failed during a case: {errors}"
    new = unknown(_differences(report), known)
    assert not new, "differences not in known_differences.yaml: " + "; ".join(
        f"{case}: {d.line()}" for case, found in new.items() for d in found
    )


def _differences(report: dict) -> dict[str, list[Difference]]:
    return {r["name"]: [Difference(**d) for d in r["differences"]] for r in report["results"]}
