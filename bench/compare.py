"""Each headline figure beside its goal and the previous run's, so a regression is seen.

The previous run is the ``reports/bench.json`` this run replaces (the nightly workflow
carries it from night to night). A figure more than 1.5x worse than there is named. No
figure passes or fails the bench: the machines are shared and noisy, and the exit status
stays about what could not be measured.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.table import lookup, values_cell

REGRESSION_FACTOR = 1.5


@dataclass(frozen=True)
class Figure:
    """One figure of the results (lower is better), and its goal where issue 16 set one."""

    name: str
    path: tuple[str, ...]
    unit: str
    goal: float | None = None
    floor: float | None = None  # what it cannot beat here (the page's waits, kind create)
    floor_path: tuple[str, ...] | None = None  # or where the run measured its floor


MACHINE: tuple[Figure, ...] = (  # bench/machine_speed.py: is it the machine?
    Figure("machine: a fixed Python loop (slower end)", ("machine_speed", "python_loop_s"), "s"),
    Figure("machine: fork and exec of true (slower end)", ("machine_speed", "spawn_s"), "s"),
)
HEADLINES: tuple[Figure, ...] = (
    Figure(
        "mesh up, nothing to ready (median)", ("mesh_up", "up_s", "median"), "s", 0.5
    ),  # httpbin preloaded, as pytest's workers have it
    Figure("mesh up, nothing preloaded (median)", ("mesh_up", "cold_up_s", "median"), "s"),
    Figure("mesh down (median)", ("mesh_up", "down_s", "median"), "s"),
    Figure(
        "change -> traffic, mode toggle (p50)",
        ("propagation", "mode_curl", "change_to_traffic_s", "p50"),
        "s",
    ),
    Figure(
        "change -> traffic, ServiceEntry (p50)",
        ("propagation", "serviceentry_curl", "change_to_traffic_s", "p50"),
        "s",
    ),
    Figure("six page outcomes, up to down", ("six_outcomes", "from_nothing_s"), "s"),
    Figure(
        "pytest features/ wall time",
        ("feature_run", "wall_s"),
        "s",
        floor_path=("feature_run", "harness_floor", "wall_s"),
    ),
    Figure(
        "pytest features/ wall / page waits",
        ("feature_run", "ratio_wall_to_waits"),
        "x",
        1.2,
        floor_path=("feature_run", "harness_floor", "ratio_wall_to_waits"),
    ),
)
KIND_READY = Figure("kind: cluster, Istio and the sample ready", ("kind", "ready_s"), "s", 60.0)
KIND_FIGURES: tuple[Figure, ...] = (
    Figure("kind: an exec over the API (median)", ("kind", "api", "exec_true_s", "median"), "s"),
    Figure("kind: a curl step (median)", ("kind", "api", "exec_curl_s", "median"), "s"),
    Figure(
        "kind: istiod's /debug/syncz, port-forward (median)",
        ("kind", "api", "syncz_s", "median"),
        "s",
    ),
    Figure(
        "kind: the sidecar's listeners, port-forward (median)",
        ("kind", "api", "listeners_s", "median"),
        "s",
    ),
    Figure(
        "kind: the sidecar's log, whole (median)", ("kind", "api", "log_whole_s", "median"), "s"
    ),
    Figure(
        "kind: the sidecar's log after a cursor (median)",
        ("kind", "api", "log_after_cursor_s", "median"),
        "s",
    ),
    Figure(
        "kind: a reset, nothing to undo (median)",
        ("kind", "api", "reset_unchanged_s", "median"),
        "s",
    ),
    Figure(
        "kind: a reset after a ServiceEntry (median)",
        ("kind", "api", "reset_after_serviceentry_s", "median"),
        "s",
    ),
    Figure(
        "kind: the scenarios after the first",
        ("kind", "feature_run", "after_first_s"),
        "s",
        45.0,
        8.0,  # the page's waits: a 5 s request, then a 3 s timeout
    ),
    Figure("kind: pytest features/ wall time", ("kind", "feature_run", "wall_s"), "s"),
)


@dataclass(frozen=True)
class Comparison:
    figure: Figure
    now: float | None
    previous: float | None

    @property
    def regressed(self) -> bool:
        return (
            self.now is not None
            and self.previous is not None
            and self.previous > 0
            and self.now > REGRESSION_FACTOR * self.previous
        )

    @property
    def goal_verdict(self) -> str:
        if self.figure.goal is None:
            return "-"
        goal = f"<= {values_cell([self.figure.goal], self.figure.unit)}"
        if self.now is None:
            return goal
        return f"{goal} ({'met' if self.now <= self.figure.goal else 'missed'})"

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.figure.name,
            "now": self.now,
            "goal": self.figure.goal,
            "floor": self.figure.floor,
            "previous": self.previous,
            "regressed": self.regressed,
        }


def phase_figures(
    *results: dict[str, Any], where: str, label: str, leaf: tuple[str, ...] = ()
) -> list[Figure]:
    """A figure per phase named under ``results[where]["timings_s"]`` in either run (the
    mesh's creation actions and istiod's start; kind's actions), beside its floor where
    the run gave one (``floors_s``)."""
    names: dict[str, None] = {}
    floors: dict[str, float] = {}
    for measured in results:
        names.update(dict.fromkeys(lookup(measured, (where, "timings_s")) or {}))
        floors.update(lookup(measured, (where, "floors_s")) or {})
    names.pop("ready", None)  # kind's total: its own figure
    return [
        Figure(
            f"  {label} {name}{' (median)' if leaf else ''}",
            (where, "timings_s", name, *leaf),
            "s",
            None,
            floors.get(name),
        )
        for name in names
    ]


def compare(measured: dict[str, Any], previous: dict[str, Any] | None) -> list[Comparison]:
    """Every headline figure and phase (the mesh's, kind's), now and in the previous run."""
    before = previous or {}
    mesh_phases = phase_figures(
        measured, before, where="mesh_up", label="mesh up phase", leaf=("median",)
    )
    figures = [*MACHINE, HEADLINES[0], *mesh_phases, *HEADLINES[1:]]
    if "kind" in measured or "kind" in before:
        kind_phases = phase_figures(measured, before, where="kind", label="kind action")
        floors = [f.floor for f in kind_phases if f.floor is not None]
        ready = replace(KIND_READY, floor=sum(floors) if floors else None)  # they add up
        figures += [ready, *kind_phases, *KIND_FIGURES]
    figures = [_measured_floor(f, measured) for f in figures]
    return [Comparison(f, _number(measured, f.path), _number(before, f.path)) for f in figures]


def _measured_floor(figure: Figure, measured: dict[str, Any]) -> Figure:
    """The figure with the floor this run measured for it, where it names one."""
    if figure.floor_path is None:
        return figure
    return replace(figure, floor=_number(measured, figure.floor_path))


def previous_results(path: Path) -> dict[str, Any] | None:
    """The measured figures of the bench.json at ``path``, or None (none, or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    measured = data.get("mesh") if isinstance(data, dict) else None
    return measured if isinstance(measured, dict) else None


def render(comparisons: Sequence[Comparison], previous_label: str) -> str:
    header = ("figure", "now", "goal", "floor", f"previous ({previous_label})", "")
    body = [
        (
            c.figure.name,
            _cell(c.now, c.figure.unit),
            c.goal_verdict,
            _cell(c.figure.floor, c.figure.unit),
            _cell(c.previous, c.figure.unit),
            f"REGRESSED: {c.now / c.previous:.1f}x the previous" if c.regressed else "",  # type: ignore[operator]
        )
        for c in comparisons
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for index, row in enumerate([header, *body]):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths[:-1]))
    return "\n".join(lines)


def _number(results: dict[str, Any], path: Sequence[str]) -> float | None:
    value = lookup(results, path)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cell(value: float | None, unit: str) -> str:
    return "-" if value is None else values_cell([value], unit)
