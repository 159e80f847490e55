"""The fidelity report as text: the summary line, each differing case with its
differences, the distinct differences with the cases they occur in, and the flaky ones.

Lines are cut to a width; ``reports/fidelity.json`` has every value in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clusters.fidelity.compare import Difference
from clusters.fidelity.known import Known

SHOWN_LINES = 6  # per differing case on the terminal; the JSON report has all of them
SHOWN_WIDTH = 200


def render(report: Mapping[str, Any], known: Sequence[Known] = ()) -> str:
    sides = report["sides"]
    lines = [report["summary"] + f" (Istio build {report['istio_build']} on both)"]
    for result in report["results"]:
        if result["identical"]:
            continue
        lines.append(f"- {result['name']} ({', '.join(result['aspects'])})")
        shown = result["lines"][:SHOWN_LINES]
        lines += [f"    {_cut(line)}" for line in shown]
        if hidden := len(result["lines"]) - len(shown):
            lines.append(f"    ... {hidden} more in the report")
    for title, key in (("distinct differences", "distinct"), ("flaky", "distinct_flaky")):
        if not report[key]:
            continue
        lines.append(f"{title} ({len(report[key])}):")
        for item in report[key]:
            difference = Difference(
                "-", item["aspect"], item["path"], item["first"], item["second"]
            )
            mark = _known_mark(difference, item["cases"], known) if key == "distinct" else ""
            text = f"{item['path']}: {sides[0]} {item['first']}; {sides[1]} {item['second']}"
            lines.append(f"  {mark}{_cut(text)}")
            lines.append(f"      in {len(item['cases'])}: {', '.join(item['cases'])}")
    return "\n".join(lines)


def _known_mark(difference: Difference, cases: Sequence[str], known: Sequence[Known]) -> str:
    if not known:
        return ""
    covered = all(any(k.covers(case, difference) for k in known) for case in cases)
    return "[known] " if covered else "[NEW] "


def _cut(line: str) -> str:
    return line if len(line) <= SHOWN_WIDTH else line[: SHOWN_WIDTH - 3] + "..."
