"""Differences between istiod's and the model's outcome of one case, as readable lines.

A case is identical when, at every step, both refused alike (stage and words) or both
admitted, their normalised configs are equal, and every probe observed the same values
for what it records. Each difference is one line: a path into the outcome, then
istiod's value and the model's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

PLANES = ("istiod", "model")


def compare_case(istiod: Mapping[str, Any], model: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every difference, each ``{"step", "aspect", "line"}``; empty when identical.

    ``aspect`` is ``refusal``, ``config``, ``traffic`` or ``error`` (a mesh failed during
    the case), so a report can say what kind of difference a case has.
    """
    out: list[dict[str, str]] = []
    if istiod.get("error") or model.get("error"):
        for plane, outcome in (("istiod", istiod), ("model", model)):
            if outcome.get("error"):
                line = f"{plane}'s mesh failed: {outcome['error']}"
                out.append({"step": "-", "aspect": "error", "line": line})
    for index, (first, second) in enumerate(zip(istiod["steps"], model["steps"], strict=False)):
        step = f"step {index + 1}"

        def add(aspect: str, line: str, step: str = step) -> None:
            out.append({"step": step, "aspect": aspect, "line": f"{step}: {line}"})

        if (first["stage"], first["refusal"]) != (second["stage"], second["refusal"]):
            add(
                "refusal",
                f"apply: istiod {_refusal(first)}; model {_refusal(second)}",
            )
        for line in diff(first["config"], second["config"], "config"):
            add("config", line)
        for probe_a, probe_b in zip(first["probes"], second["probes"], strict=True):
            for key in probe_a["record"]:
                if probe_a.get(key) != probe_b.get(key):
                    add(
                        "traffic",
                        f"`{probe_a['curl']}` {key}: istiod {_show(probe_a.get(key))}, "
                        f"model {_show(probe_b.get(key))}",
                    )
    return out


def _refusal(step: Mapping[str, Any]) -> str:
    if step["refusal"] is None:
        return "admitted"
    return f"refused at {step['stage']} ({step['refusal']})"


def diff(first: Any, second: Any, path: str) -> list[str]:
    """Where two JSON values differ: one line per differing leaf, member or list item."""
    if first == second:
        return []
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        lines = []
        for key in sorted(set(first) | set(second), key=str):
            where = f"{path}[{json.dumps(key)}]"
            if key not in second:
                lines.append(f"{where}: only istiod has it: {_show(first[key])}")
            elif key not in first:
                lines.append(f"{where}: only the model has it: {_show(second[key])}")
            else:
                lines += diff(first[key], second[key], where)
        return lines
    if isinstance(first, list) and isinstance(second, list):
        return _list_diff(first, second, path)
    return [f"{path}: istiod {_show(first)}, model {_show(second)}"]


def _list_diff(first: Sequence[Any], second: Sequence[Any], path: str) -> list[str]:
    """Same length: item by item (routes keep their order). Otherwise what each lacks."""
    if len(first) == len(second) and not all(map(_is_scalar, [*first, *second])):
        lines = []
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            lines += diff(a, b, f"{path}[{index}]")
        return lines
    only_first = [item for item in first if item not in second]
    only_second = [item for item in second if item not in first]
    if not only_first and not only_second:
        return [f"{path}: same items, istiod {_show(first)}, model {_show(second)}"]
    parts = []
    if only_first:
        parts.append(f"only istiod has {_show(only_first)}")
    if only_second:
        parts.append(f"only the model has {_show(only_second)}")
    return [f"{path}: {'; '.join(parts)}"]


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _show(value: Any) -> str:
    """Compact JSON, as short as the value allows."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
