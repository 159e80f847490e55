"""The measurement: every case on two clusters side by side, compared, and re-run.

Both sides take each case at once in two threads, so a case costs the slower side's
time rather than the sum: the work is waiting on Envoy, curl and istiod, not Python.
A case that differs runs once more on both sides; a difference that does not come back
is reported as flaky, apart from the ones that repeat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clusters.fidelity.addresses import AddressBook, resolve
from clusters.fidelity.builds import same_build
from clusters.fidelity.compare import Difference, compare_case, distinct
from clusters.fidelity.corpus import Case
from clusters.fidelity.runner import run_case
from clusters.protocol import Cluster

Progress = Callable[[str, str], None]  # case name, one of identical/differs/flaky/error


def measure(
    sides: Mapping[str, Cluster],
    cases: Sequence[Case],
    *,
    parallel: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``cases`` on both ``sides`` (``{"local": ..., "kind": ...}``); the report as
    JSON-ready data. Refuses, with ClusterError, sides that run different Istio builds."""
    started = time.perf_counter()
    names = tuple(sides)
    describes = {side: dict(cluster.describe()) for side, cluster in sides.items()}
    build = same_build(describes)
    books = {side: AddressBook() for side in names}
    results = []
    with ThreadPoolExecutor(max_workers=2 if parallel else 1) as pool:

        def both(case: Case) -> dict[str, dict[str, Any]]:
            futures = {
                side: pool.submit(run_case, sides[side], case, books[side]) for side in names
            }
            return {side: future.result() for side, future in futures.items()}

        texts = [text for case in cases for text in case.texts()]
        for side in names:  # every address the corpus names, so any config can be renamed
            resolve(sides[side], texts, books[side])
        for case in cases:
            outcomes = both(case)
            first = compare_case(outcomes[names[0]], outcomes[names[1]])
            again = None
            if first:
                again = both(case)
                second = compare_case(again[names[0]], again[names[1]])
            else:
                second = []
            repeated = [d for d in first if d in second]
            flaky = [d for d in first if d not in second] + [d for d in second if d not in first]
            result = _result(case, outcomes, again, repeated, flaky, names)
            if progress is not None:
                progress(case.name, result["verdict"])
            results.append(result)
    identical = sum(result["identical"] for result in results)
    differing = {r["name"]: [Difference(**d) for d in r["differences"]] for r in results}
    flaky = {r["name"]: [Difference(**d) for d in r["flaky"]] for r in results}
    return {
        "summary": f"{names[0]} vs {names[1]}: {identical}/{len(results)} identical",
        "identical": identical,
        "cases": len(results),
        "sides": list(names),
        "istio_build": build,
        "describe": describes,
        "distinct": distinct({k: v for k, v in differing.items() if v}),
        "distinct_flaky": distinct({k: v for k, v in flaky.items() if v}),
        "elapsed_s": round(time.perf_counter() - started, 3),
        "results": results,
    }


def _result(
    case: Case,
    outcomes: Mapping[str, Any],
    again: Mapping[str, Any] | None,
    repeated: list[Difference],
    flaky: list[Difference],
    names: Sequence[str],
) -> dict[str, Any]:
    errors = any(d.aspect == "error" for d in [*repeated, *flaky])  # in either run
    verdict = "error" if errors else "differs" if repeated else "flaky" if flaky else "identical"
    return {
        "name": case.name,
        "description": case.description,
        "file": str(case.path) if case.path else None,
        "identical": not repeated,
        "verdict": verdict,
        "aspects": sorted({d.aspect for d in repeated}),
        "differences": [d.as_json() for d in repeated],
        "lines": [d.line(names) for d in repeated],
        "flaky": [d.as_json() for d in flaky],
        "elapsed_s": {side: outcomes[side]["elapsed_s"] for side in names},
        "outcomes": dict(outcomes),
        "outcomes_again": dict(again) if again is not None else None,
    }
