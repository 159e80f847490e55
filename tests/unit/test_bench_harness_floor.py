"""bench/harness_floor.py: the feature run's command line around nothing but a wait,
run for real (a short wait), and a run that fails says so instead of giving a floor."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.features import PageWait, page_waits
from bench.harness_floor import harness_floor, longest_serial_wait

FEATURES = Path(__file__).resolve().parents[2] / "features"

WAIT = PageWait("f.feature", "A slow one", "test_a_slow_one", 0.3, 'the source pod runs "x"')


def test_the_floor_is_the_harness_around_the_longest_wait() -> None:
    floor = harness_floor([WAIT, WAIT], 0.6, workers="2")  # one scenario: 0.3 s, then 0.3 s
    assert floor["unavailable"] is None
    assert floor["longest_serial_wait_s"] == 0.6
    assert floor["wall_s"] > 0.6
    assert floor["overhead_s"] == floor["wall_s"] - 0.6
    assert floor["ratio_wall_to_waits"] == floor["wall_s"] / 0.6
    assert "--dist worksteal" in floor["command"] and "--alluredir=" in floor["command"]
    assert "cache_dir=" in floor["command"]  # the cache plugin loaded, as in the feature run


def test_a_floor_that_could_not_be_measured_says_why() -> None:
    floor = harness_floor([WAIT], 0.3, workers="not-a-number")
    assert floor["wall_s"] is None and floor["overhead_s"] is None
    assert floor["ratio_wall_to_waits"] is None
    assert floor["unavailable"].startswith("exit 4: ")  # pytest's usage error, its line
    assert "not-a-number" in floor["unavailable"]


def test_the_floor_waits_as_long_as_the_longest_scenario() -> None:
    """The 504 scenario's two waits run one after the other: the floor sleeps both."""
    waits = page_waits(FEATURES)
    elsewhere = replace(waits[0], test_name="test_another_scenario", seconds=6.0)
    assert longest_serial_wait(waits) == 8.0
    assert longest_serial_wait([*waits, elsewhere]) == 8.0  # 6 s beside them, not after
    assert longest_serial_wait([]) == 0.0
