"""bench/features.py counts the page's own waits from the feature files where they are
(a directory per page), so the suite's ratio to them is never left unavailable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.features import page_waits
from bench.harness_floor import longest_serial_wait

FEATURES = Path(__file__).resolve().parents[2] / "features"


def test_the_pages_waits_are_found_under_its_own_directory() -> None:
    waits = page_waits(FEATURES)
    assert [w.seconds for w in waits] == [5.0, 3.0]  # /delay/5, then cut by the 3 s timeout
    assert {w.feature for w in waits} == {"06_manage_traffic.feature"}
    assert all(w.test_name.startswith("test_a_virtualservice_timeout") for w in waits)


def test_the_floor_waits_as_long_as_the_longest_scenario() -> None:
    """The 504 scenario's two waits run one after the other: the floor sleeps both."""
    waits = page_waits(FEATURES)
    elsewhere = replace(waits[0], test_name="test_another_scenario", seconds=6.0)
    assert longest_serial_wait(waits) == 8.0
    assert longest_serial_wait([*waits, elsewhere]) == 8.0  # 6 s beside them, not after
    assert longest_serial_wait([]) == 0.0
