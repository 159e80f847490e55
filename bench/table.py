"""The printed table: each figure of the local mesh (istiod), and the notes' figure where
the notes give one.

Plain text, since rich is not installed; rows are built from the JSON results so the
table and reports/bench.json can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.stats import NotesFigure

NOTES_UP = NotesFigure(1.1, 1.5, "s", "the mesh from nothing to ready: 1.1 to 1.5 s")
NOTES_PROPAGATION = NotesFigure(
    0.002, 0.017, "s", "a change visible to traffic after its file's rename: 2 to 17 ms"
)
NOTES_MEMORY = NotesFigure(68e6, 68e6, "B", "the sidecar Envoy's resident memory: about 68 MB")
NOTES_FEATURE_RATIO = NotesFigure(
    10.5 / 8.0, 10.5 / 8.0, "x", "the page's six outcomes in sequence: 10.5 s, of which 8.0 s"
)
NOTES_SIX_OUTCOMES = NotesFigure(10.5, 10.5, "s", "the page's six outcomes in sequence")

Row = tuple[str, str, str]
HEADER: Row = ("measure", "local (istiod)", "notes")
Results = dict[str, Any]

TRAFFIC = ("p50", "p95")
MEDIAN = ("median",)
SERIES = (
    ("mode_curl", "mode toggle, curl probe"),
    ("mode_socket", "mode toggle, socket probe"),
    ("serviceentry_curl", "ServiceEntry apply/delete, curl"),
)
MEMORY_POINTS = (
    ("after_up", "after up"),
    ("after_changes", "after the curl mode series"),
    ("end", "at the end of all series"),
)


# Looking values up ------------------------------------------------------------------------
def lookup(data: Any, path: Sequence[str]) -> Any:
    """``data[path[0]][path[1]]...``, or None where there is no such figure."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def statistic(results: Results, path: Sequence[str], keys: Sequence[str]) -> list[float]:
    """The statistics ``keys`` of the summary at ``path``; empty when not measured."""
    stats = lookup(results, path)
    if not isinstance(stats, dict) or not all(key in stats for key in keys):
        return []
    return [float(stats[key]) for key in keys]


# Formatting cells ---------------------------------------------------------------------------
def values_cell(values: Sequence[float], unit: str) -> str:
    """'3.10 / 5.20 ms': several values with one unit, precise enough for small ones."""
    if unit == "B":
        return " / ".join(f"{value / 1e6:.1f}" for value in values) + " MB"
    if unit == "n":
        return " / ".join(f"{value:g}" for value in values)
    if unit == "x":
        return " / ".join(f"{value:.2f}" for value in values) + "x"
    if max(values) >= 1:
        return " / ".join(f"{value:.2f}" for value in values) + " s"
    largest_ms = max(values) * 1000
    decimals = 3 if largest_ms < 1 else 2 if largest_ms < 10 else 1
    return " / ".join(f"{value * 1000:.{decimals}f}" for value in values) + " ms"


def missing(results: Results) -> str:
    """What a cell shows when there is no figure: a failure, or nothing to show."""
    return "error" if results.get("error") else "-"


def row(
    label: str,
    results: Results,
    values: list[float],
    unit: str,
    notes: NotesFigure | None = None,
) -> Row:
    """A row: the figure, and the notes' figure."""
    cell = values_cell(values, unit) if values else missing(results)
    return (label, cell, notes.describe() if notes else "-")


def stats_row(
    label: str,
    results: Results,
    path: Sequence[str],
    keys: Sequence[str] = TRAFFIC,
    notes: NotesFigure | None = None,
) -> Row:
    """A row of summary statistics (p50 / p95, or the median) in seconds."""
    return row(label, results, statistic(results, path, keys), "s", notes)


def value_row(
    label: str,
    results: Results,
    path: Sequence[str],
    unit: str,
    notes: NotesFigure | None = None,
) -> Row:
    """A row of one plain number (bytes, counts, seconds, ratios)."""
    value = lookup(results, path)
    return row(
        label, results, [float(value)] if isinstance(value, int | float) else [], unit, notes
    )


# The rows ------------------------------------------------------------------------------------
def rows(results: Results) -> list[Row]:
    """Every figure, in the README's order: up, propagation, sync, memory, the page."""
    return [
        *up_rows(results),
        *propagation_rows(results),
        *sync_rows(results),
        *memory_rows(results),
        *outcome_rows(results),
        *feature_rows(results),
    ]


def up_rows(results: Results) -> list[Row]:
    """Figure 1: LocalCluster.up's wall time, the mesh's own breakdown, the teardown."""
    n = lookup(results, ("mesh_up", "up_s", "n")) or 0
    table = [
        stats_row(
            f"mesh up, nothing to ready, httpbin preloaded (median, n={n})",
            results,
            ("mesh_up", "up_s"),
            MEDIAN,
            NOTES_UP,
        )
    ]
    table.append(
        stats_row(
            "  mesh up, nothing preloaded (egress-mesh up's case)",
            results,
            ("mesh_up", "cold_up_s"),
            MEDIAN,
        )
    )
    table.append(
        stats_row(
            "  httpbin's preload until loaded, before that up (pytest: beside collection)",
            results,
            ("mesh_up", "preload_s"),
            MEDIAN,
        )
    )
    for name in timing_names(results):
        table.append(
            stats_row(f"  mesh.timings {name}", results, ("mesh_up", "timings_s", name), MEDIAN)
        )
    table.append(
        stats_row("  down (teardown), same meshes", results, ("mesh_up", "down_s"), MEDIAN)
    )
    return table


def timing_names(results: Results) -> list[str]:
    """The mesh's creation actions (and ready_s) as timed, in order, so a new action in
    LocalCluster.up shows without a change here."""
    return list(lookup(results, ("mesh_up", "timings_s")) or {})


def propagation_rows(results: Results) -> list[Row]:
    """Figure 2: change -> traffic, p50 / p95, and where the time goes."""
    table: list[Row] = []
    for key, label in SERIES:
        n = lookup(results, ("propagation", key, "changes")) or 0
        path = ("propagation", key)
        table += [
            stats_row(
                f"change -> traffic: {label} (n={n})",
                results,
                (*path, "change_to_traffic_s"),
                notes=NOTES_PROPAGATION,
            ),
            stats_row(
                "  of which after the change call returned",
                results,
                (*path, "after_change_returned_s"),
                notes=NOTES_PROPAGATION,
            ),
            stats_row("  the change call itself", results, (*path, "change_call_s")),
        ]
    surprises = unexpected_outcomes(results)
    table.append(row("  probes that saw neither state (all series)", results, surprises, "n"))
    for key, label in (
        ("exec_true_s", "exec `true` in the pod"),
        ("curl_probe_s", "one curl (200)"),
        ("socket_probe_s", "one socket request"),
    ):
        table.append(stats_row(f"probe cost: {label}", results, ("propagation", "spawn", key)))
    return table


def unexpected_outcomes(results: Results) -> list[float]:
    """Probes that saw neither the old state nor the new one, over every series."""
    counts = [lookup(results, ("propagation", key, "unexpected_outcomes")) for key, _ in SERIES]
    if not all(isinstance(count, dict) for count in counts):
        return []
    return [float(sum(sum(count.values()) for count in counts))]


def sync_rows(results: Results) -> list[Row]:
    """Figure 3: change -> wait_for_proxy_config returns (the sync signal)."""
    path = ("propagation", "wait_for_proxy_config")
    n = lookup(results, (*path, "changes")) or 0
    found = lookup(results, (*path, "traffic_not_yet_changed_when_applied"))
    mismatches = [float(len(found))] if isinstance(found, list) else []
    return [
        stats_row(
            f"change -> wait_for_proxy_config returns (n={n})",
            results,
            (*path, "change_to_applied_s"),
        ),
        stats_row("  the wait call alone", results, (*path, "wait_call_s")),
        stats_row(
            "  the wait call, nothing pending", results, (*path, "wait_call_nothing_pending_s")
        ),
        row("  traffic not yet changed when it returned", results, mismatches, "n"),
    ]


def memory_rows(results: Results) -> list[Row]:
    """Figure 4: VmRSS of the sidecar Envoy and of istiod, at three points."""
    table: list[Row] = []
    for key, label in MEMORY_POINTS:
        path = ("propagation", "memory", key)
        table.append(
            value_row(
                f"sidecar Envoy VmRSS {label}",
                results,
                (*path, "sidecar", "vmrss_bytes"),
                "B",
                NOTES_MEMORY,
            )
        )
        table.append(
            value_row(
                f"control plane (istiod) VmRSS {label}",
                results,
                (*path, "control_plane", "vmrss_bytes"),
                "B",
            )
        )
    table.append(
        value_row(
            "bench process VmRSS growth since before the first up",
            results,
            ("propagation", "memory", "end", "bench_process", "growth_bytes"),
            "B",
        )
    )
    table.append(
        value_row(
            "config versions sent to the sidecar since up",
            results,
            ("propagation", "memory", "end", "config_versions_since_up"),
            "n",
        )
    )
    return table


def outcome_rows(results: Results) -> list[Row]:
    """Figure 5, like for like: the notes' own measurement, the six outcomes in sequence."""
    return [
        value_row(
            "six page outcomes in sequence, mesh up to down",
            results,
            ("six_outcomes", "from_nothing_s"),
            "s",
            NOTES_SIX_OUTCOMES,
        ),
        value_row("  of which mesh up", results, ("six_outcomes", "up_s"), "s"),
        value_row("  of which the outcomes alone", results, ("six_outcomes", "outcomes_s"), "s"),
        value_row(
            "  wall / page waits (8 s)",
            results,
            ("six_outcomes", "ratio_from_nothing_to_waits"),
            "x",
            NOTES_FEATURE_RATIO,
        ),
    ]


def feature_rows(results: Results) -> list[Row]:
    """Figure 6, the suite: pytest features/."""
    run = lookup(results, ("feature_run",)) or {}
    if run.get("skipped"):
        return [("feature run", "skipped", "10.5 s / 8.0 s")]
    counted = run.get("outcomes")
    kinds = ("passed", "failed", "skipped")
    outcomes = [float(counted.get(k, 0)) for k in kinds] if counted is not None else []
    return [
        row("feature run: scenarios passed / failed / skipped", results, outcomes, "n"),
        value_row("feature run wall time", results, ("feature_run", "wall_s"), "s"),
        value_row("  page waits counted (see formula)", results, ("feature_run", "waits_s"), "s"),
        value_row(
            "  wall / waits",
            results,
            ("feature_run", "ratio_wall_to_waits"),
            "x",
            NOTES_FEATURE_RATIO,
        ),
        value_row(
            "  floor: pytest, xdist and the report plugins around the longest waits",
            results,
            ("feature_run", "harness_floor", "wall_s"),
            "s",
        ),
        value_row(
            "  floor / waits",
            results,
            ("feature_run", "harness_floor", "ratio_wall_to_waits"),
            "x",
        ),
    ]


def render(table: list[Row]) -> str:
    """Columns padded to their widest cell; the notes column is left ragged."""
    widths = [max(len(row[i]) for row in [HEADER, *table]) for i in range(len(HEADER) - 1)]
    lines = []
    for index, row in enumerate([HEADER, *table]):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in [*widths, len(HEADER[-1])]))
    return "\n".join(lines)
