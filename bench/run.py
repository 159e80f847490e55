"""`make bench`: the embedded mesh's figures beside those of the local-mesh notes.

Prints a table and writes reports/bench.json. Nothing here passes or fails on a
figure (the machines are shared and noisy): the exit status is 1 only when something
could not be measured or a mesh left something behind. bench/README.md explains each
figure and how it is taken.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (`python bench/run.py`)
    sys.path.insert(0, str(ROOT))

from bench import table  # noqa: E402
from bench.features import run_features  # noqa: E402
from bench.mesh import (  # noqa: E402
    BenchError,
    load_average,
    measure_up,
    propagation,
    run_root,
    still_running,
)
from bench.outcomes import six_outcomes  # noqa: E402
from clusters.protocol import ClusterError  # noqa: E402

DEFAULTS = {"repetitions": 5, "changes": 60, "samples": 20}
QUICK = {"repetitions": 2, "changes": 20, "samples": 10}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the local backend against shared/notes/local-mesh-notes.md."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer repetitions ({QUICK['repetitions']} ups, {QUICK['changes']} changes a series)",
    )
    parser.add_argument(
        "--skip-features", action="store_true", help="do not run pytest features/ (figure 3)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "reports" / "bench.json",
        metavar="PATH",
        help="where the results go (default: reports/bench.json)",
    )
    parser.add_argument("--repetitions", type=int, metavar="N", help="mesh ups (default 5)")
    parser.add_argument(
        "--changes", type=int, metavar="N", help="config changes per series (default 60)"
    )
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    args.repetitions = args.repetitions or preset["repetitions"]
    args.changes = args.changes or preset["changes"]
    args.samples = preset["samples"]
    if args.repetitions < 1 or args.changes < 2:
        parser.error("--repetitions must be at least 1 and --changes at least 2")
    return args


def machine() -> dict[str, Any]:
    """Enough context to read the figures: the machine is shared, its load varies."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:  # no git on this machine: the figures stand without the commit
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_head": commit or None,
        "load_average_before": load_average(),
    }


def comparisons(results: dict[str, Any]) -> dict[str, Any]:
    """The numeric ratios behind the table's verdicts (figure / measured)."""
    out: dict[str, Any] = {}
    if "mesh_up" in results:
        out["mesh_up_median"] = table.NOTES_UP.to_json(results["mesh_up"]["up_s"]["median"])
    prop = results.get("propagation")
    if prop:
        for key in ("mode_curl", "mode_socket", "serviceentry_curl"):
            for field in ("change_to_traffic_s", "after_files_written_s"):
                out[f"{key}.{field}.p50"] = table.NOTES_PROPAGATION.to_json(prop[key][field]["p50"])
        for key, data in prop["memory"].items():
            out[f"sidecar_vmrss.{key}"] = table.NOTES_MEMORY.to_json(data["vmrss_bytes"])
    outcomes = results.get("six_outcomes")
    if outcomes:
        out["six_outcomes_wall_to_waits"] = table.NOTES_FEATURE_RATIO.to_json(
            outcomes["ratio_from_nothing_to_waits"]
        )
    feature = results.get("feature_run") or {}
    if feature.get("ratio_wall_to_waits") is not None:
        out["feature_wall_to_waits"] = table.NOTES_FEATURE_RATIO.to_json(
            feature["ratio_wall_to_waits"]
        )
    return out


def measure(args: argparse.Namespace, results: dict[str, Any], leftovers: list[str]) -> None:
    """Figures 1, 2 and 4 on meshes of the bench's own, then figure 3 in a subprocess."""
    records: list[Any] = []
    with run_root("mesh", leftovers) as root:
        up, mesh = measure_up(root, args.repetitions, records)
        try:
            results["mesh_up"] = up.to_json()
            build = mesh.describe().get("envoy", "?")  # hash/1.40.0/Clean/RELEASE/BoringSSL
            results["machine"]["envoy"] = build.split("/")[1] if build.count("/") >= 2 else build
            print(f"mesh up x{args.repetitions}: done; {args.changes} changes per series ...")
            results["propagation"] = propagation(mesh, args.changes, args.samples)
        finally:
            mesh.down()
    leftovers.extend(f"process still running after down(): {p}" for p in still_running(records))
    print("the page's six outcomes in sequence ...")
    with run_root("outcomes", leftovers) as root:
        results["six_outcomes"] = six_outcomes(root)
    if args.skip_features:
        results["feature_run"] = {"skipped": True}
        return
    print("pytest features/ ...")
    with run_root("features", leftovers) as root:
        results["feature_run"] = run_features(ROOT, ROOT / "features", root)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": "local",
        "machine": machine(),
        "options": {
            "quick": args.quick,
            "repetitions": args.repetitions,
            "changes_per_series": args.changes,
            "samples_per_cost": args.samples,
            "skip_features": args.skip_features,
        },
    }
    leftovers: list[str] = []
    error = None
    try:
        measure(args, results, leftovers)
    except (BenchError, ClusterError, OSError, subprocess.SubprocessError) as failure:
        error = f"{type(failure).__name__}: {failure}"
        results["traceback"] = traceback.format_exc()
    results["machine"]["load_average_after"] = load_average()
    results["vs_notes"] = comparisons(results)
    results["error"] = error
    results["leftovers"] = leftovers
    rows = table.rows(results)
    results["table"] = [dict(zip(table.HEADER, row, strict=True)) for row in rows]

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(report_text(results, rows, args.json))
    return 1 if error or leftovers else 0


def report_text(results: dict[str, Any], rows: list[table.Row], json_path: Path) -> str:
    info = results["machine"]
    load = " / ".join(
        f"{info[key][0]:.2f}" for key in ("load_average_before", "load_average_after")
    )
    lines = [
        "",
        f"egress-conformance bench, local backend (Envoy {info.get('envoy', '?')}, "
        f"{info['cpus']} CPUs, 1-min load before/after {load}, commit {info['git_head']})",
        "",
        table.render(rows),
        "",
        "ratio = notes' figure / here: above 1 is better (faster, smaller) than the notes.",
        "curl probes spawn ip netns exec + setpriv + curl, so their change -> traffic times "
        "include about one probe's cost; the socket probe shows the propagation without it.",
    ]
    changes = results["options"]["changes_per_series"]
    if changes < 50:
        lines.append(f"only {changes} changes a series (--quick/--changes): p95 is rough.")
    feature = results.get("feature_run") or {}
    if feature and not feature.get("skipped"):
        lines.append(
            f"page waits = {feature['waits_formula']} = {feature['waits_s']:g} s; the suite runs "
            f"{feature['testcases']} scenarios (with per-scenario resets), the notes' 10.5 s "
            "covered six outcomes."
        )
        for reason, count in sorted(feature.get("skip_reasons", {}).items()):
            lines.append(f"skipped x{count}: {reason[:160]}")
        if feature.get("unavailable"):
            lines.append(f"feature ratio unavailable: {feature['unavailable']}")
            lines.extend(f"  | {line}" for line in feature.get("tail", []))
    for leftover in results["leftovers"]:
        lines.append(f"LEFTOVER: {leftover}")
    if results["error"]:
        lines.append(f"ERROR: {results['error']}")
    lines.append(f"results: {json_path}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
