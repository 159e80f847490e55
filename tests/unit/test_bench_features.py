"""bench/features.py counts the page's own waits from the feature files where they are
(a directory per page), so the suite's ratio to them is never left unavailable."""

from __future__ import annotations

from pathlib import Path

from bench.features import page_waits

FEATURES = Path(__file__).resolve().parents[2] / "features"


def test_the_pages_waits_are_found_under_its_own_directory() -> None:
    waits = page_waits(FEATURES)
    assert [w.seconds for w in waits] == [5.0, 3.0]  # /delay/5, then cut by the 3 s timeout
    assert {w.feature for w in waits} == {"06_manage_traffic.feature"}
    assert all(w.test_name.startswith("test_a_virtualservice_timeout") for w in waits)
