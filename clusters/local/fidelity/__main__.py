"""``python -m clusters.local.fidelity`` (``make fidelity``): the model measured against istiod.

Prints ``model vs istiod: N/M identical`` and a short diff per differing case, and writes
every detail (both planes' outcomes, normalised configs, probe results) to
``reports/fidelity.json``. Exits 0 whatever the count: differences are the measurement,
not a failure; a mesh that cannot start is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clusters.local.fidelity.corpus import CORPUS_DIR, CorpusError, load_corpus
from clusters.local.fidelity.measure import measure
from clusters.protocol import ClusterError, PrerequisiteMissing

DEFAULT_REPORT = Path("reports/fidelity.json")
SHOWN_LINES = 6  # per differing case on the terminal; the JSON report has all of them
SHOWN_WIDTH = 240


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusters.local.fidelity", description=__doc__)
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="the cases' directory")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="the JSON report")
    parser.add_argument("--istio-version", help="istiod's pinned build (default: the default)")
    parser.add_argument(
        "--sequential", action="store_true", help="one plane at a time (slower; for debugging)"
    )
    args = parser.parse_args(argv)
    try:
        cases = load_corpus(args.corpus, args.case)
        report = measure(
            cases,
            istio_version=args.istio_version,
            parallel=not args.sequential,
            progress=_progress,
        )
    except (CorpusError, ClusterError, PrerequisiteMissing) as error:
        print(f"fidelity: {error}", file=sys.stderr)
        return 2
    print()
    print(render(report))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(f"details: {args.report} ({report['elapsed_s']:.1f} s)")
    return 0


def _progress(name: str, differences: list[dict[str, str]]) -> None:
    """A dot per identical case, D per differing one, the name of one whose mesh failed."""
    if any(d["aspect"] == "error" for d in differences):
        print(f"E({name})", end="", flush=True)
    else:
        print("." if not differences else "D", end="", flush=True)


def render(report: dict[str, Any]) -> str:
    """The summary line, then each differing case with its first few difference lines."""
    lines = [report["summary"]]
    for result in report["results"]:
        if result["identical"]:
            continue
        lines.append(f"- {result['name']} ({', '.join(result['aspects'])})")
        differences = result["differences"]
        if "refusal" in result["aspects"]:  # config and traffic then differ as a consequence
            differences = [line for line in differences if ": apply: " in line]
        shown = differences[:SHOWN_LINES]
        lines += [f"    {_cut(line)}" for line in shown]
        hidden = len(result["differences"]) - len(shown)
        if hidden:
            lines.append(f"    ... {hidden} more in the report")
    return "\n".join(lines)


def _cut(line: str) -> str:
    return line if len(line) <= SHOWN_WIDTH else line[: SHOWN_WIDTH - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
