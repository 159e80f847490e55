"""The printed table: every figure beside the notes' one and the ratio between them.

Plain text, since rich is not installed; rows are built from the JSON results so the
table and reports/bench.json can never disagree.
"""

from __future__ import annotations

from typing import Any

from bench.stats import NotesFigure, format_value

NOTES_UP = NotesFigure(1.1, 1.5, "s", "Everything from nothing to ready ...: 1.1 to 1.5 s")
NOTES_PROPAGATION = NotesFigure(
    0.002, 0.017, "s", "A change was visible to traffic 2 to 17 ms after the rename"
)
NOTES_MEMORY = NotesFigure(68e6, 68e6, "B", "Sidecar Envoy: about 68 MB resident")
NOTES_FEATURE_RATIO = NotesFigure(
    10.5 / 8.0, 10.5 / 8.0, "x", "All six outcomes of the page in sequence: 10.5 s, of which 8.0 s"
)

Row = tuple[str, str, str, str]
HEADER: Row = ("measure", "here", "notes", "notes / here")


def spread(stats: dict[str, Any], keys: tuple[str, ...], unit: str = "s") -> str:
    """'min 0.48 / median 0.51 / max 0.60 s' with one unit for the whole line."""
    values = [stats[key] for key in keys]
    scale_ms = unit == "s" and max(values) < 0.1
    parts = []
    for key, value in zip(keys, values, strict=True):
        shown = f"{value * 1000:.1f}" if scale_ms else f"{value:.2f}"
        parts.append(f"{key} {shown}")
    return " / ".join(parts) + (" ms" if scale_ms else f" {unit}")


def compared(
    label: str, stats: dict[str, Any], keys: tuple[str, ...], figure: NotesFigure, on: str
) -> Row:
    """A row whose verdict compares the statistic ``on`` with the notes' figure."""
    return (label, spread(stats, keys), figure.describe(), f"{figure.verdict(stats[on])} ({on})")


def plain(label: str, stats: dict[str, Any], keys: tuple[str, ...]) -> Row:
    return (label, spread(stats, keys), "-", "-")


TRAFFIC = ("p50", "p95", "max")
SPREAD = ("min", "median", "max")


def rows(results: dict[str, Any]) -> list[Row]:
    table: list[Row] = []
    up = results.get("mesh_up")
    if up:
        n = up["up_s"]["n"]
        table.append(
            compared(f"mesh up, nothing to ready (n={n})", up["up_s"], SPREAD, NOTES_UP, "median")
        )
        if up["down_s"]["n"]:
            table.append(plain("  down (teardown), same meshes", up["down_s"], SPREAD))
    prop = results.get("propagation")
    if prop:
        series = (
            ("mode_curl", "mode toggle, curl probe"),
            ("mode_socket", "mode toggle, socket probe"),
            ("serviceentry_curl", "ServiceEntry apply/delete, curl"),
        )
        for key, label in series:
            data = prop[key]
            table.append(
                compared(
                    f"change -> traffic: {label} (n={data['changes']})",
                    data["change_to_traffic_s"],
                    TRAFFIC,
                    NOTES_PROPAGATION,
                    "p50",
                )
            )
            table.append(
                compared(
                    "  of which after the files were written",
                    data["after_files_written_s"],
                    TRAFFIC,
                    NOTES_PROPAGATION,
                    "p50",
                )
            )
        wait = prop["wait_for_proxy_config"]
        table.append(
            plain(
                f"change -> applied version (wait_for_proxy_config, n={wait['changes']})",
                wait["change_to_applied_s"],
                TRAFFIC,
            )
        )
        table.append(plain("  the wait call alone", wait["wait_call_s"], TRAFFIC))
        table.append(
            plain("  the wait call, nothing pending", wait["wait_call_nothing_pending_s"], TRAFFIC)
        )
        spawn = prop["spawn"]
        table.append(plain("probe cost: exec `true` in the pod", spawn["exec_true_s"], TRAFFIC))
        table.append(plain("probe cost: one curl (200)", spawn["curl_probe_s"], TRAFFIC))
        table.append(plain("probe cost: one socket request", spawn["socket_probe_s"], TRAFFIC))
        memory = prop["memory"]
        for key, label in (
            ("after_up", "sidecar VmRSS after up"),
            ("after_changes", "sidecar VmRSS after the curl mode series"),
            ("end", "sidecar VmRSS at the end"),
        ):
            rss = memory[key]["vmrss_bytes"]
            versions = memory[key].get("config_versions_since_up")
            suffix = f" ({versions} config versions)" if versions is not None else ""
            table.append(
                (
                    label + suffix,
                    format_value(rss, "B"),
                    NOTES_MEMORY.describe(),
                    NOTES_MEMORY.verdict(rss),
                )
            )
    outcomes = results.get("six_outcomes")
    if outcomes:
        table.extend(outcome_rows(outcomes))
    feature = results.get("feature_run")
    if feature:
        table.extend(feature_rows(feature))
    return table


def outcome_rows(outcomes: dict[str, Any]) -> list[Row]:
    """The notes' own measurement: the six outcomes in sequence, like for like."""
    ratio = outcomes["ratio_from_nothing_to_waits"]
    return [
        (
            "six page outcomes in sequence, mesh up to down",
            format_value(outcomes["from_nothing_s"], "s"),
            "10.5 s",
            NotesFigure(10.5, 10.5, "s", "").verdict(outcomes["from_nothing_s"]),
        ),
        ("  of which the outcomes alone", format_value(outcomes["outcomes_s"], "s"), "-", "-"),
        (
            "  wall / page waits (8 s)",
            format_value(ratio, "x"),
            NOTES_FEATURE_RATIO.describe(),
            NOTES_FEATURE_RATIO.verdict(ratio),
        ),
    ]


def feature_rows(feature: dict[str, Any]) -> list[Row]:
    if feature.get("skipped"):
        return [("feature run", "skipped (--skip-features)", "10.5 s / 8.0 s", "-")]
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(feature["outcomes"].items()))
    table: list[Row] = [
        (
            f"feature run wall time ({outcomes or 'no JUnit XML'})",
            format_value(feature["wall_s"], "s"),
            "10.5 s (six outcomes)",
            "-",
        ),
        ("  page waits counted (see formula)", f"{feature['waits_s']:g} s", "8.0 s", "-"),
    ]
    ratio = feature.get("ratio_wall_to_waits")
    if ratio is None:
        table.append(
            (
                "  wall / waits",
                "unavailable",
                NOTES_FEATURE_RATIO.describe(),
                feature["unavailable"],
            )
        )
    else:
        table.append(
            (
                "  wall / waits",
                format_value(ratio, "x"),
                NOTES_FEATURE_RATIO.describe(),
                NOTES_FEATURE_RATIO.verdict(ratio),
            )
        )
    return table


def render(table: list[Row]) -> str:
    """Columns padded to their widest cell; the verdict column is left ragged."""
    widths = [max(len(row[i]) for row in [HEADER, *table]) for i in range(3)]
    lines = []
    for index, row in enumerate([HEADER, *table]):
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in [*widths, len(HEADER[3])]))
    return "\n".join(lines)
