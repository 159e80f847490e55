"""Differences between two sides' outcomes of one case, and across the corpus.

A case is identical when, at every step, both sides refused alike (stage and words) or
both admitted, their normalised configs are equal, and every probe observed the same
values for what it records. Each difference is a record: the step, the aspect
(``refusal``, ``config``, ``traffic``, ``error``), a path into the outcome and each
side's value, compact JSON. :func:`distinct` groups the records of many cases by what
differs, so a difference that every case shares reads once, with the cases it occurs in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

SIDES = ("local", "kind")
ABSENT = "(absent)"


@dataclass(frozen=True)
class Difference:
    """One place where the sides differ; ``first``/``second`` are compact JSON or
    :data:`ABSENT` (the member is only on the other side)."""

    step: str  # "step 1", or "-" for the whole case
    aspect: str  # refusal, config, traffic, error
    path: str  # config["listeners"]["0.0.0.0_80"]..., or `curl ...` http_code
    first: str
    second: str

    def line(self, sides: Sequence[str] = SIDES) -> str:
        return f"{self.step}: {self.path}: {sides[0]} {self.first}; {sides[1]} {self.second}"

    def key(self) -> tuple[str, str, str, str]:
        """What a difference is, whichever case it occurs in."""
        return (self.aspect, self.path, self.first, self.second)

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def compare_case(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[Difference]:
    """Every difference between two outcomes of one case; empty when identical."""
    out: list[Difference] = []
    if first.get("error") or second.get("error"):
        out.append(
            Difference("-", "error", "error", _show(first.get("error")), _show(second.get("error")))
        )
    for index, (a, b) in enumerate(zip(first["steps"], second["steps"], strict=False)):
        step = f"step {index + 1}"
        if (a["stage"], a["refusal"]) != (b["stage"], b["refusal"]):
            out.append(Difference(step, "refusal", "apply", _refusal(a), _refusal(b)))
        out += [
            Difference(step, "config", path, x, y) for path, x, y in diff(a["config"], b["config"])
        ]
        for probe_a, probe_b in zip(a["probes"], b["probes"], strict=True):
            for key in probe_a["record"]:
                if probe_a.get(key) != probe_b.get(key):
                    out.append(
                        Difference(
                            step,
                            "traffic",
                            f"`{probe_a['curl']}` {key}",
                            _show(probe_a.get(key)),
                            _show(probe_b.get(key)),
                        )
                    )
    return out


def _refusal(step: Mapping[str, Any]) -> str:
    if step["refusal"] is None:
        return "admitted"
    return f"refused at {step['stage']} ({step['refusal']})"


def diff(first: Any, second: Any, path: str = "config") -> list[tuple[str, str, str]]:
    """Where two JSON values differ: ``(path, first, second)`` per differing leaf, member
    or list item; a member only one side has is :data:`ABSENT` on the other."""
    if first == second:
        return []
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        out = []
        for key in sorted(set(first) | set(second), key=str):
            where = f"{path}[{json.dumps(key)}]"
            if key not in second:
                out.append((where, _show(first[key]), ABSENT))
            elif key not in first:
                out.append((where, ABSENT, _show(second[key])))
            else:
                out += diff(first[key], second[key], where)
        return out
    if isinstance(first, list) and isinstance(second, list):
        return _list_diff(first, second, path)
    return [(path, _show(first), _show(second))]


def _list_diff(
    first: Sequence[Any], second: Sequence[Any], path: str
) -> list[tuple[str, str, str]]:
    """Same length: item by item (routes keep their order). Otherwise what each lacks."""
    if len(first) == len(second) and not all(map(_is_scalar, [*first, *second])):
        out = []
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            out += diff(a, b, f"{path}[{index}]")
        return out
    only_first = [item for item in first if item not in second]
    only_second = [item for item in second if item not in first]
    if not only_first and not only_second:  # the same items, in another order or count
        return [(path, _show(first), _show(second))]
    return [(f"{path}[only]", _show(only_first), _show(only_second))]


def distinct(differences: Mapping[str, Iterable[Difference]]) -> list[dict[str, Any]]:
    """Each distinct difference once, with the cases it occurs in; the most shared first."""
    cases: dict[tuple[str, str, str, str], list[str]] = {}
    for case, found in differences.items():
        for difference in found:
            where = cases.setdefault(difference.key(), [])
            if case not in where:
                where.append(case)
    out = [
        {"aspect": aspect, "path": path, "first": a, "second": b, "cases": sorted(names)}
        for (aspect, path, a, b), names in cases.items()
    ]
    return sorted(out, key=lambda item: (-len(item["cases"]), item["aspect"], item["path"]))


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _show(value: Any) -> str:
    """Compact JSON, as short as the value allows."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
