"""A container's log after a mark, read over the API as ``kubectl logs --timestamps
--since-time`` reads it, instead of the whole log every time.

The sidecar's log only grows during a run (its pod is kept from scenario to scenario),
and the steps read it before and after every request; so a mark is the newest line's
timestamp, and a read after it asks the kubelet for lines from that second on
(``sinceTime`` has a second's precision) and drops those at or before the mark here,
where each line's own timestamp has the nanoseconds. Lines that share the mark's very
timestamp are counted in the mark, so one written in the same instant is not lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MARK_TAIL_LINES = 20  # enough to count every line that shares the newest timestamp


@dataclass(frozen=True, order=True)
class Stamp:
    """A kubelet log timestamp (RFC3339Nano, UTC), comparable: RFC3339Nano drops the
    fraction's trailing zeros, so the text alone does not sort."""

    seconds: str  # 2026-12-04T18:00:00
    nanos: int

    @classmethod
    def parse(cls, text: str) -> Stamp:
        body = text.removesuffix("Z")
        seconds, _, fraction = body.partition(".")
        if len(seconds) != 19 or (fraction and not fraction.isdigit()):
            raise ValueError(f"not a kubelet log timestamp: {text!r}")
        return cls(seconds, int(fraction.ljust(9, "0")[:9]) if fraction else 0)

    @property
    def since_time(self) -> str:
        """``sinceTime`` for the kubelet: this stamp's second (lines from it on)."""
        return f"{self.seconds}Z"


def stamped_lines(text: str) -> list[tuple[str, str]]:
    """``--timestamps`` output's complete lines as (timestamp, line)."""
    lines = []
    for line in text[: text.rfind("\n") + 1].splitlines():
        stamp, _, rest = line.partition(" ")
        lines.append((stamp, rest))
    return lines


def mark(lines: Sequence[tuple[str, str]]) -> tuple[str, int] | None:
    """The newest timestamp and how many lines carry it; None for an empty log."""
    if not lines:
        return None
    newest = lines[-1][0]
    return newest, sum(1 for stamp, _ in lines if stamp == newest)


def after(lines: Sequence[tuple[str, str]], since: str, at_mark: int) -> list[str]:
    """The lines written after the mark: later timestamps, and those sharing the mark's
    beyond the ``at_mark`` it counted."""
    mark_stamp = Stamp.parse(since)
    found, seen_at_mark = [], 0
    for stamp, line in lines:
        when = Stamp.parse(stamp)
        if when < mark_stamp:
            continue
        if when == mark_stamp and seen_at_mark < at_mark:
            seen_at_mark += 1
            continue
        found.append(line)
    return found
