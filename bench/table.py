"""The printed table: each figure for the model and for istiod side by side, their ratio,
and the notes' figure where the notes give one.

Plain text, since rich is not installed; rows are built from the JSON results so the
table and reports/bench.json can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.stats import NotesFigure
from clusters.local.controlplane import ControlPlaneName

NOTES_UP = NotesFigure(1.1, 1.5, "s", "the mesh from nothing to ready: 1.1 to 1.5 s")
NOTES_PROPAGATION = NotesFigure(
    0.002, 0.017, "s", "a change visible to traffic after its file's rename: 2 to 17 ms"
)
NOTES_MEMORY = NotesFigure(68e6, 68e6, "B", "the sidecar Envoy's resident memory: about 68 MB")
NOTES_FEATURE_RATIO = NotesFigure(
    10.5 / 8.0, 10.5 / 8.0, "x", "the page's six outcomes in sequence: 10.5 s, of which 8.0 s"
)
NOTES_SIX_OUTCOMES = NotesFigure(10.5, 10.5, "s", "the page's six outcomes in sequence")

# The model first: the ratio column divides istiod's figure by the model's.
MODEL, ISTIOD = ControlPlaneName.MODEL.value, ControlPlaneName.ISTIOD.value
PLANES = (MODEL, ISTIOD)

Row = tuple[str, str, str, str, str]
HEADER: Row = ("measure", MODEL, ISTIOD, f"{ISTIOD} / {MODEL}", "notes")
Planes = dict[str, dict[str, Any]]

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
    """``data[path[0]][path[1]]...``, or None where a plane has no such figure."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def statistic(planes: Planes, plane: str, path: Sequence[str], keys: Sequence[str]) -> list[float]:
    """The statistics ``keys`` of the summary at ``path``; empty when not measured."""
    stats = lookup(planes.get(plane), path)
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


def ratio_cell(model: Sequence[float], istiod: Sequence[float]) -> str:
    """istiod / model for each statistic: above 1, istiod is slower or larger."""
    if not model or not istiod or len(model) != len(istiod) or min(model) <= 0:
        return "-"
    ratios = [i / m for m, i in zip(model, istiod, strict=True)]
    return " / ".join(_ratio_text(ratio) for ratio in ratios) + "x"


def _ratio_text(ratio: float) -> str:
    """Two decimals near 1, where a 2 % difference matters; fewer for large factors, and
    none past 1000 (the model's in-process steps take microseconds: noise, not a factor)."""
    if ratio >= 1000:
        return ">1000"
    return f"{ratio:.2f}" if ratio < 2 else f"{ratio:.1f}" if ratio < 100 else f"{ratio:.0f}"


def missing(planes: Planes, plane: str) -> str:
    """What a cell shows when a plane has no figure: its failure, or nothing to show."""
    return "error" if (planes.get(plane) or {}).get("error") else "-"


def compare(
    label: str,
    planes: Planes,
    values: dict[str, list[float]],
    unit: str,
    notes: NotesFigure | None = None,
) -> Row:
    """A row from each plane's values: the two cells, their ratio, the notes' figure."""
    cells = [values_cell(values[p], unit) if values[p] else missing(planes, p) for p in PLANES]
    model, istiod = cells
    return (
        label,
        model,
        istiod,
        ratio_cell(values[MODEL], values[ISTIOD]),
        notes.describe() if notes else "-",
    )


def stats_row(
    label: str,
    planes: Planes,
    path: Sequence[str],
    keys: Sequence[str] = TRAFFIC,
    notes: NotesFigure | None = None,
) -> Row:
    """A row of summary statistics (p50 / p95, or the median) in seconds."""
    values = {plane: statistic(planes, plane, path, keys) for plane in PLANES}
    return compare(label, planes, values, "s", notes)


def value_row(
    label: str,
    planes: Planes,
    path: Sequence[str],
    unit: str,
    notes: NotesFigure | None = None,
) -> Row:
    """A row of one plain number per plane (bytes, counts, seconds, ratios)."""
    values = {}
    for plane in PLANES:
        value = lookup(planes.get(plane), path)
        values[plane] = [float(value)] if isinstance(value, int | float) else []
    return compare(label, planes, values, unit, notes)


# The rows ------------------------------------------------------------------------------------
def rows(planes: Planes) -> list[Row]:
    """Every figure, in the README's order: up, propagation, sync, memory, the page."""
    return [
        *up_rows(planes),
        *propagation_rows(planes),
        *sync_rows(planes),
        *memory_rows(planes),
        *outcome_rows(planes),
        *feature_rows(planes),
    ]


def up_rows(planes: Planes) -> list[Row]:
    """Figure 1: LocalCluster.up's wall time, the mesh's own breakdown, the teardown."""
    n = max((lookup(planes.get(p), ("mesh_up", "up_s", "n")) or 0) for p in PLANES)
    table = [
        stats_row(
            f"mesh up, nothing to ready (median, n={n})",
            planes,
            ("mesh_up", "up_s"),
            MEDIAN,
            NOTES_UP,
        )
    ]
    for name in timing_names(planes):
        table.append(
            stats_row(f"  mesh.timings {name}", planes, ("mesh_up", "timings_s", name), MEDIAN)
        )
    table.append(stats_row("  down (teardown), same meshes", planes, ("mesh_up", "down_s"), MEDIAN))
    return table


def timing_names(planes: Planes) -> list[str]:
    """The mesh's creation actions (and ready_s) as either plane timed them, in order, so a
    new action in LocalCluster.up shows without a change here."""
    names: dict[str, None] = {}
    for plane in PLANES:
        names.update(dict.fromkeys(lookup(planes.get(plane), ("mesh_up", "timings_s")) or {}))
    return list(names)


def propagation_rows(planes: Planes) -> list[Row]:
    """Figure 2: change -> traffic, p50 / p95, and where the time goes."""
    table: list[Row] = []
    for key, label in SERIES:
        n = max((lookup(planes.get(p), ("propagation", key, "changes")) or 0) for p in PLANES)
        path = ("propagation", key)
        table += [
            stats_row(
                f"change -> traffic: {label} (n={n})",
                planes,
                (*path, "change_to_traffic_s"),
                notes=NOTES_PROPAGATION,
            ),
            stats_row(
                "  of which after the change call returned",
                planes,
                (*path, "after_change_returned_s"),
                notes=NOTES_PROPAGATION,
            ),
            stats_row("  the change call itself", planes, (*path, "change_call_s")),
        ]
    surprises = {plane: unexpected_outcomes(planes.get(plane)) for plane in PLANES}
    table.append(compare("  probes that saw neither state (all series)", planes, surprises, "n"))
    for key, label in (
        ("exec_true_s", "exec `true` in the pod"),
        ("curl_probe_s", "one curl (200)"),
        ("socket_probe_s", "one socket request"),
    ):
        table.append(stats_row(f"probe cost: {label}", planes, ("propagation", "spawn", key)))
    return table


def unexpected_outcomes(results: dict[str, Any] | None) -> list[float]:
    """Probes that saw neither the old state nor the new one, over every series."""
    counts = [lookup(results, ("propagation", key, "unexpected_outcomes")) for key, _ in SERIES]
    if not all(isinstance(count, dict) for count in counts):
        return []
    return [float(sum(sum(count.values()) for count in counts))]


def sync_rows(planes: Planes) -> list[Row]:
    """Figure 3: change -> wait_for_proxy_config returns (the sync signal)."""
    path = ("propagation", "wait_for_proxy_config")
    n = max((lookup(planes.get(p), (*path, "changes")) or 0) for p in PLANES)
    mismatches = {}
    for plane in PLANES:
        found = lookup(planes.get(plane), (*path, "traffic_not_yet_changed_when_applied"))
        mismatches[plane] = [float(len(found))] if isinstance(found, list) else []
    return [
        stats_row(
            f"change -> wait_for_proxy_config returns (n={n})",
            planes,
            (*path, "change_to_applied_s"),
        ),
        stats_row("  the wait call alone", planes, (*path, "wait_call_s")),
        stats_row(
            "  the wait call, nothing pending", planes, (*path, "wait_call_nothing_pending_s")
        ),
        compare("  traffic not yet changed when it returned", planes, mismatches, "n"),
    ]


def memory_rows(planes: Planes) -> list[Row]:
    """Figure 4: VmRSS of the sidecar Envoy and of the control plane, at three points.

    The model has no process: its control plane cell is the bench's own VmRSS growth
    since before its first up, marked in-process, and the ratio divides by that.
    """
    table: list[Row] = []
    for key, label in MEMORY_POINTS:
        path = ("propagation", "memory", key)
        table.append(
            value_row(
                f"sidecar Envoy VmRSS {label}",
                planes,
                (*path, "sidecar", "vmrss_bytes"),
                "B",
                NOTES_MEMORY,
            )
        )
        table.append(control_plane_memory_row(f"control plane VmRSS {label}", planes, path))
    table.append(
        value_row(
            "bench process VmRSS growth since before the first up",
            planes,
            ("propagation", "memory", "end", "bench_process", "growth_bytes"),
            "B",
        )
    )
    table.append(
        value_row(
            "config versions sent to the sidecar since up",
            planes,
            ("propagation", "memory", "end", "config_versions_since_up"),
            "n",
        )
    )
    return table


def control_plane_memory_row(label: str, planes: Planes, path: Sequence[str]) -> Row:
    """istiod's process VmRSS beside the model's in-process share (the bench's growth)."""
    row = value_row(label, planes, (*path, "control_plane", "vmrss_bytes"), "B")
    growth = lookup(planes.get(MODEL), (*path, "bench_process", "growth_bytes"))
    if not isinstance(growth, int):
        return row
    istiod = lookup(planes.get(ISTIOD), (*path, "control_plane", "vmrss_bytes"))
    model_cell = f"in-process (+{growth / 1e6:.1f} MB)"
    ratio = ratio_cell([float(growth)], [float(istiod)]) if isinstance(istiod, int) else "-"
    return (row[0], model_cell, row[2], ratio, row[4])


def outcome_rows(planes: Planes) -> list[Row]:
    """Figure 5, like for like: the notes' own measurement, the six outcomes in sequence."""
    return [
        value_row(
            "six page outcomes in sequence, mesh up to down",
            planes,
            ("six_outcomes", "from_nothing_s"),
            "s",
            NOTES_SIX_OUTCOMES,
        ),
        value_row("  of which mesh up", planes, ("six_outcomes", "up_s"), "s"),
        value_row("  of which the outcomes alone", planes, ("six_outcomes", "outcomes_s"), "s"),
        value_row(
            "  wall / page waits (8 s)",
            planes,
            ("six_outcomes", "ratio_from_nothing_to_waits"),
            "x",
            NOTES_FEATURE_RATIO,
        ),
    ]


def feature_rows(planes: Planes) -> list[Row]:
    """Figure 6, the suite: pytest features/ --control-plane X, per plane."""
    runs = {plane: lookup(planes.get(plane), ("feature_run",)) or {} for plane in PLANES}
    if all(run.get("skipped") for run in runs.values()):
        return [("feature run", "skipped", "skipped", "-", "10.5 s / 8.0 s")]
    outcomes = {}
    for plane, run in runs.items():
        counted = run.get("outcomes")
        kinds = ("passed", "failed", "skipped")
        outcomes[plane] = [float(counted.get(k, 0)) for k in kinds] if counted is not None else []
    return [
        compare("feature run: scenarios passed / failed / skipped", planes, outcomes, "n"),
        value_row("feature run wall time", planes, ("feature_run", "wall_s"), "s"),
        value_row("  page waits counted (see formula)", planes, ("feature_run", "waits_s"), "s"),
        value_row(
            "  wall / waits",
            planes,
            ("feature_run", "ratio_wall_to_waits"),
            "x",
            NOTES_FEATURE_RATIO,
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
