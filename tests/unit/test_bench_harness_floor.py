"""bench/harness_floor.py: the feature run's command line around nothing but a wait,
run for real (a short wait), and a run that fails says so instead of giving a floor."""

from __future__ import annotations

from bench.features import PageWait
from bench.harness_floor import harness_floor

WAIT = PageWait("f.feature", "A slow one", "test_a_slow_one", 0.3, 'the source pod runs "x"')


def test_the_floor_is_the_harness_around_the_longest_wait() -> None:
    floor = harness_floor([WAIT, WAIT], 0.6, workers="2")  # one scenario: 0.3 s, then 0.3 s
    assert floor["unavailable"] is None
    assert floor["longest_serial_wait_s"] == 0.6
    assert floor["wall_s"] > 0.6
    assert floor["overhead_s"] == floor["wall_s"] - 0.6
    assert floor["ratio_wall_to_waits"] == floor["wall_s"] / 0.6
    assert "--dist worksteal" in floor["command"] and "--alluredir=" in floor["command"]


def test_a_floor_that_could_not_be_measured_says_why() -> None:
    floor = harness_floor([WAIT], 0.3, workers="not-a-number")
    assert floor["wall_s"] is None and floor["overhead_s"] is None
    assert floor["ratio_wall_to_waits"] is None
    assert floor["unavailable"].startswith("exit 4: ")  # pytest's usage error, its line
    assert "not-a-number" in floor["unavailable"]
