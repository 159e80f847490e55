"""The whole fidelity corpus through both control planes (what `make fidelity` prints).

Every case of the page must be identical; the cases that differ must be exactly the
known differences (clusters/local/fidelity/known_differences.yaml), so the model can
neither drift silently nor improve without the list saying so.
"""

from __future__ import annotations

import os

import pytest
import yaml

from clusters.local.fidelity.corpus import CORPUS_DIR, load_corpus
from clusters.local.fidelity.measure import measure

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local backend needs root")
KNOWN = CORPUS_DIR.parent / "known_differences.yaml"


def test_the_corpus_differs_only_where_known() -> None:
    known = yaml.safe_load(KNOWN.read_text())
    cases = load_corpus()
    assert len(cases) >= 31, "the page's cases plus at least 25 beyond them"
    assert set(known) <= {case.name for case in cases}, "a known difference names no case"
    report = measure(cases)
    differing = {r["name"]: r["differences"][:3] for r in report["results"] if not r["identical"]}
    # A surprise must reproduce: under a loaded machine (make test runs meshes in
    # parallel) a probe can time out once; such cases are measured again, one at a time.
    surprises = [case for case in cases if (case.name in differing) != (case.name in known)]
    if surprises:
        again = measure(surprises, parallel=False)
        for result in again["results"]:
            if result["identical"]:
                differing.pop(result["name"], None)
            else:
                differing[result["name"]] = result["differences"][:3]
    page = {name: lines for name, lines in differing.items() if name.startswith("page-")}
    assert not page, f"the model differs from istiod on the page itself: {page}"
    unexpected = {name: lines for name, lines in differing.items() if name not in known}
    assert not unexpected, f"new differences (fix the model or list them): {unexpected}"
    fixed = sorted(set(known) - set(differing))
    assert not fixed, f"now identical, remove from {KNOWN.name}: {fixed}"
