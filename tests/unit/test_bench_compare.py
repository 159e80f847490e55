"""bench/compare.py: each figure beside its goal and the previous run's; regressions named."""

from __future__ import annotations

import json
from pathlib import Path

from bench import compare


def _results(up: float, ratio: float, phases: dict[str, float]) -> dict[str, object]:
    return {
        "mesh_up": {
            "up_s": {"median": up},
            "timings_s": {name: {"median": value} for name, value in phases.items()},
        },
        "feature_run": {"ratio_wall_to_waits": ratio, "wall_s": ratio * 8},
    }


def test_a_figure_more_than_half_again_worse_is_named() -> None:
    previous = _results(0.4, 1.3, {"control_plane_s": 0.2, "sidecar_s": 0.1})
    now = _results(0.45, 2.0, {"control_plane_s": 0.35, "sidecar_s": 0.1})
    found = {c.figure.name: c for c in compare.compare(now, previous)}
    assert found["pytest features/ wall / page waits"].regressed  # 2.0 > 1.5 x 1.3
    assert found["  mesh up phase control_plane_s (median)"].regressed  # 0.35 > 0.30
    assert not found["mesh up, nothing to ready (median)"].regressed
    assert not found["  mesh up phase sidecar_s (median)"].regressed
    assert "REGRESSED: 1.5x the previous" in compare.render(list(found.values()), "x")


def test_each_goal_is_shown_met_or_missed() -> None:
    found = {c.figure.name: c for c in compare.compare(_results(0.47, 1.4, {}), None)}
    assert found["mesh up, nothing to ready (median)"].goal_verdict == "<= 500.0 ms (met)"
    assert found["pytest features/ wall / page waits"].goal_verdict == "<= 1.20x (missed)"
    assert found["mesh down (median)"].goal_verdict == "-"
    assert all(c.previous is None and not c.regressed for c in found.values())


def test_the_previous_run_is_read_from_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    assert compare.previous_results(path) is None
    path.write_text("{not json")
    assert compare.previous_results(path) is None
    path.write_text(json.dumps({"mesh": _results(0.5, 1.1, {})}))
    assert compare.previous_results(path) == _results(0.5, 1.1, {})


def test_kinds_actions_stand_beside_their_floors() -> None:
    kind = {
        "ready_s": 48.0,
        "floors_s": {"create the kind cluster": 15.0},
        "timings_s": {"create the kind cluster": 19.0, "start Docker": 0.4, "ready": 48.0},
        "feature_run": {"after_first_s": 52.0},
    }
    found = {c.figure.name: c for c in compare.compare({"kind": kind}, None)}
    ready = found["kind: cluster, Istio and the sample ready"]
    assert ready.goal_verdict == "<= 60.00 s (met)"
    assert ready.figure.floor == 15.0  # the actions' floors, added up
    assert found["  kind action create the kind cluster"].figure.floor == 15.0
    assert found["  kind action start Docker"].figure.floor is None
    assert "  kind action ready" not in found  # the total is the ready figure itself
    assert found["kind: the scenarios after the first"].goal_verdict == "<= 45.00 s (missed)"
    assert found["kind: an exec over the API (median)"].now is None  # not measured: "-"
    assert "15.00 s" in compare.render(list(found.values()), "none")


def test_a_local_only_run_shows_no_kind_rows() -> None:
    names = [c.figure.name for c in compare.compare(_results(0.47, 1.4, {}), None)]
    assert not [name for name in names if name.startswith(("kind", "  kind"))]


def test_the_feature_run_stands_beside_the_floor_it_measured() -> None:
    now = _results(0.47, 1.5, {})
    now["feature_run"]["harness_floor"] = {"wall_s": 9.7, "ratio_wall_to_waits": 1.21}  # type: ignore[index]
    found = {c.figure.name: c for c in compare.compare(now, None)}
    assert found["pytest features/ wall time"].figure.floor == 9.7
    assert found["pytest features/ wall / page waits"].figure.floor == 1.21
    without = {c.figure.name: c for c in compare.compare(_results(0.47, 1.5, {}), None)}
    assert without["pytest features/ wall / page waits"].figure.floor is None


def test_the_machines_own_speed_stands_first_beside_the_previous_runs() -> None:
    """A figure that regressed beside a machine that did is read as the machine."""
    now, before = _results(0.47, 1.5, {}), _results(0.47, 1.5, {})
    now["machine_speed"] = {"python_loop_s": 0.3, "spawn_s": 0.0012}
    before["machine_speed"] = {"python_loop_s": 0.1, "spawn_s": 0.001}
    found = compare.compare(now, before)
    assert [c.figure.name for c in found[:2]] == [
        "machine: a fixed Python loop (slower end)",
        "machine: fork and exec of true (slower end)",
    ]
    assert found[0].regressed and not found[1].regressed  # 3x the previous; 1.2x
