"""`make bench`: the embedded mesh (istiod) figure by figure beside the figures of the
local-mesh notes, and a kind cluster with Istio action by action.

One run measures the mesh phase by phase and prints a table (local | notes); then kind
(bench/kind.py); then every headline figure beside its goal, its floor and the previous
run's, and writes reports/bench.json. Nothing here passes or fails on a figure (the machines are
shared and noisy): the exit status is 1 only when something could not be measured or a
mesh left something behind. bench/README.md explains each figure and how it is taken.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (`python bench/run.py`)
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    compare,
    machine_speed,
    table,
)
from bench.features import page_waits, run_features  # noqa: E402
from bench.harness_floor import harness_floor  # noqa: E402
from bench.kind import kind_figures  # noqa: E402
from bench.mesh import (  # noqa: E402
    BenchError,
    load_average,
    measure_up,
    propagation,
    run_root,
    still_running,
)
from bench.outcomes import six_outcomes  # noqa: E402
from bench.stats import NotesFigure, format_value  # noqa: E402
from clusters.protocol import ClusterError  # noqa: E402
from clusters.shared.processes import ProcessRecord  # noqa: E402

FAILURES = (BenchError, ClusterError, OSError, subprocess.SubprocessError)
DEFAULTS = {"repetitions": 5, "changes": 60, "samples": 20}
QUICK = {"repetitions": 2, "changes": 20, "samples": 10}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the local backend (istiod) against docs/local-mesh-facts.md, "
        "and the kind backend against its goals."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer repetitions ({QUICK['repetitions']} ups, {QUICK['changes']} changes a series)",
    )
    parser.add_argument(
        "--skip-features",
        action="store_true",
        help="do not run pytest features/ (figure 6)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "reports" / "bench.json",
        metavar="PATH",
        help="where the results go (default: reports/bench.json)",
    )
    parser.add_argument(
        "--backends",
        default="local,kind",
        metavar="LIST",
        help="which backends to measure, comma-separated: local, kind (default: both; kind "
        "builds the offline kit first when it is not cached, about 21 min on two cores)",
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
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown or not args.backends:
        parser.error(
            f"--backends {','.join(unknown) or '(none)'}: choose among {', '.join(BACKENDS)}"
        )
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
    """The numeric ratios behind the notes' verdicts (figure / measured)."""
    return {
        key: figure.to_json(measured) for key, (figure, measured) in notes_figures(results).items()
    }


def notes_figures(results: dict[str, Any]) -> dict[str, tuple[NotesFigure, float]]:
    """Each measured figure that the notes give a figure for, with that figure."""
    out: dict[str, tuple[NotesFigure, float]] = {}
    if "mesh_up" in results:
        out["mesh_up_median"] = (table.NOTES_UP, results["mesh_up"]["up_s"]["median"])
    prop = results.get("propagation") or {}
    for key in ("mode_curl", "mode_socket", "serviceentry_curl"):
        for field in ("change_to_traffic_s", "after_change_returned_s"):
            if key in prop:
                out[f"{key}.{field}.p50"] = (table.NOTES_PROPAGATION, prop[key][field]["p50"])
    for key, data in (prop.get("memory") or {}).items():
        out[f"sidecar_vmrss.{key}"] = (table.NOTES_MEMORY, data["sidecar"]["vmrss_bytes"])
    outcomes = results.get("six_outcomes")
    if outcomes:
        ratio = outcomes["ratio_from_nothing_to_waits"]
        out["six_outcomes_wall_to_waits"] = (table.NOTES_FEATURE_RATIO, ratio)
    feature = results.get("feature_run") or {}
    if feature.get("ratio_wall_to_waits") is not None:
        ratio = feature["ratio_wall_to_waits"]
        out["feature_wall_to_waits"] = (table.NOTES_FEATURE_RATIO, ratio)
    return out


Phase = Callable[[argparse.Namespace, dict[str, Any], list[str]], None]


def mesh_phase(args: argparse.Namespace, results: dict[str, Any], leftovers: list[str]) -> None:
    """Figures 1 to 4 (ready, change -> traffic, sync signal, memory) on meshes of our own."""
    records: list[ProcessRecord] = []
    try:
        with run_root("mesh", leftovers) as root:
            up, mesh = measure_up(root, args.repetitions, records)
            try:
                results["mesh_up"] = up.to_json()
                info = mesh.describe()
                build = info.get("envoy", "?")  # hash/1.40.0/Clean/RELEASE/BoringSSL
                results["envoy"] = build.split("/")[1] if build.count("/") >= 2 else build
                results["istio"] = info.get("istio", "?")
                print(f"mesh up x{args.repetitions} done; {args.changes} changes a series")
                results["propagation"] = {}  # filled as the series go, kept if one fails
                propagation(
                    mesh, args.changes, args.samples, up.bench_rss_before, results["propagation"]
                )
            finally:
                mesh.close()
    finally:  # a failed run must still not leave processes behind unreported
        leftovers.extend(f"process still running after down(): {p}" for p in still_running(records))


def outcomes_phase(args: argparse.Namespace, results: dict[str, Any], leftovers: list[str]) -> None:
    """Figure 5, like for like: the page's six outcomes on a fresh mesh."""
    print("the page's six outcomes in sequence")
    with run_root("outcomes", leftovers) as root:
        results["six_outcomes"] = six_outcomes(root)


def features_phase(args: argparse.Namespace, results: dict[str, Any], leftovers: list[str]) -> None:
    """Figure 6, the suite: pytest features/."""
    if args.skip_features:
        results["feature_run"] = {"skipped": True}
        return
    print("pytest features/")
    with run_root("features", leftovers) as root:
        run = run_features(ROOT, ROOT / "features", root)
    print("  its floor: the same pytest, xdist and report plugins around the longest waits")
    run["harness_floor"] = harness_floor(page_waits(ROOT / "features"), run.get("waits_s"))
    results["feature_run"] = run


def kind_phase(args: argparse.Namespace, results: dict[str, Any], leftovers: list[str]) -> None:
    """The kind backend: ready action by action, one scenario's API costs, the page."""
    print("kind: a cluster with Istio, as --cluster kind makes it")
    results["kind"] = kind_figures(ROOT, args.samples, not args.skip_features)


PHASES: dict[str, tuple[Phase, ...]] = {
    "local": (mesh_phase, outcomes_phase, features_phase),
    "kind": (kind_phase,),
}
BACKENDS = tuple(PHASES)


def measure(args: argparse.Namespace, leftovers: list[str]) -> dict[str, Any]:
    """Every phase in turn.

    A phase that fails keeps its error (and the figures it took before failing); the
    later phases, on fresh meshes, still run, so one failure does not cost every other
    figure.
    """
    results: dict[str, Any] = {}
    for phase in (phase for backend in args.backends for phase in PHASES[backend]):
        try:
            phase(args, results, leftovers)
        except FAILURES as failure:
            error = f"{phase.__name__}: {type(failure).__name__}: {failure}"
            results["error"] = "; ".join(filter(None, [results.get("error"), error]))
            results.setdefault("tracebacks", []).append(traceback.format_exc())
            print(f"ERROR {error}")
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backends": args.backends,
        "machine": machine(),
        "options": {
            "quick": args.quick,
            "repetitions": args.repetitions,
            "changes_per_series": args.changes,
            "samples_per_cost": args.samples,
            "skip_features": args.skip_features,
            "backends": args.backends,
        },
    }
    leftovers: list[str] = []
    started = time.perf_counter()
    speed_before, counters_before = machine_speed.sample(), machine_speed.cpu_times()
    measured = measure(args, leftovers)
    steal = machine_speed.steal_share(counters_before, machine_speed.cpu_times())
    measured["machine_speed"] = machine_speed.summarise(speed_before, machine_speed.sample(), steal)
    results["wall_s"] = time.perf_counter() - started
    results["machine"]["load_average_after"] = load_average()
    results["mesh"] = measured
    results["vs_notes"] = comparisons(measured)
    results["error"] = measured.get("error")
    results["leftovers"] = leftovers
    rows = table.rows(measured)
    results["table"] = [dict(zip(table.HEADER, row, strict=True)) for row in rows]
    previous = compare.previous_results(args.json)
    against = compare.compare(measured, previous)
    results["against_previous"] = {
        "previous": str(args.json) if previous is not None else None,
        "figures": [c.to_json() for c in against],
        "regressed": [c.figure.name for c in against if c.regressed],
    }

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(report_text(results, rows, args.json))
    print()
    print(compare.render(against, "the bench.json replaced" if previous else "none"))
    for comparison in against:
        if comparison.regressed:
            print(f"REGRESSED: {comparison.figure.name}")
    return 1 if results["error"] or leftovers else 0


def report_text(results: dict[str, Any], rows: list[table.Row], json_path: Path) -> str:
    """The table with the context needed to read it, and what went wrong if anything."""
    info = results["machine"]
    measured = results["mesh"]
    load = " / ".join(
        f"{info[key][0]:.2f}" for key in ("load_average_before", "load_average_after")
    )
    versions = f"Istio {measured.get('istio', '?')}, Envoy {measured.get('envoy', '?')}"
    steal = (measured.get("machine_speed") or {}).get("steal_share")
    stolen = f"CPU steal {steal:.1%}, " if steal is not None else ""
    lines = [
        "",
        f"egress-conformance bench, {', '.join(results['backends'])} ({versions}; "
        f"{info['cpus']} CPUs, "
        f"1-min load before/after {load}, {stolen}commit {info['git_head']}, "
        f"bench wall time {format_value(results['wall_s'], 's')})",
        "",
        table.render(rows),
        "",
        "'a / b' cells are p50 / p95.",
        "curl probes spawn ip netns exec + setpriv + curl, so their change -> traffic times "
        "include about one probe's cost; the socket probe shows the propagation without it.",
        "the notes' verdicts (notes / here) are in the JSON under vs_notes.",
    ]
    changes = results["options"]["changes_per_series"]
    if changes < 50:
        lines.append(f"only {changes} changes a series (--quick/--changes): p95 is rough.")
    lines.extend(feature_notes(measured))
    for leftover in results["leftovers"]:
        lines.append(f"LEFTOVER: {leftover}")
    if results["error"]:
        lines.append(f"ERROR: {results['error']}")
    lines.append(f"results: {json_path}")
    return "\n".join(lines)


def feature_notes(measured: dict[str, Any]) -> list[str]:
    """How the feature run's waits were counted, its skips, and why a ratio is missing."""
    run = measured.get("feature_run")
    if not run or run.get("skipped"):
        return []
    lines = [
        f"page waits = {run['waits_formula']} ({run['waits_s']:g} s); the suite runs "
        f"{run['testcases']} scenarios (with per-scenario resets), the notes' 10.5 s "
        "covered six outcomes."
    ]
    for reason, count in sorted(run.get("skip_reasons", {}).items()):
        lines.append(f"skipped x{count}: {reason[:150]}")
    if run.get("unavailable"):
        lines.append(f"feature ratio unavailable: {run['unavailable']}")
        lines.extend(f"  | {line}" for line in run.get("tail", []))
    return lines


if __name__ == "__main__":
    sys.exit(main())
