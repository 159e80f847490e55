"""Timing samples, their summaries and their comparison with the notes' figures.

Percentiles use the nearest-rank method so every figure printed is a sample that was
actually observed, not an interpolation between two of them.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def wall_times(function: Callable[[], object], samples: int) -> list[float]:
    """``function``'s wall time, called ``samples`` times in a row."""
    seconds = []
    for _ in range(samples):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """min/median/p50/p95/max and the raw samples, ready for the JSON report."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "min": min(samples),
        "median": statistics.median(samples),
        "p50": percentile(samples, 0.50),
        "p95": percentile(samples, 0.95),
        "max": max(samples),
        "samples": list(samples),
    }


@dataclass(frozen=True)
class NotesFigure:
    """A figure from docs/local-mesh-facts.md: one value or a low-high range.

    Every figure compared here is better when smaller (seconds, bytes, overhead ratio).
    """

    low: float
    high: float
    unit: str  # "s" or "B" or "x"
    source: str  # the notes' own words, so a reader can find the line

    def ratio(self, measured: float) -> tuple[float, float]:
        """figure / measured for both ends of the range: above 1 means better than the notes."""
        if measured <= 0:
            return (math.inf, math.inf)
        return (self.low / measured, self.high / measured)

    def verdict(self, measured: float) -> str:
        """'2.3x better', '1.5-2.0x worse' or 'within the notes' range (0.8-1.2x)'."""
        low, high = self.ratio(measured)
        if low >= 1:
            return f"{_span(low, high)}x better"
        if high <= 1:
            return f"{_span(1 / high, 1 / low)}x worse"
        return f"within the notes' range ({_span(low, high)}x)"

    def describe(self) -> str:
        high = format_value(self.high, self.unit)
        if self.low == self.high:
            return high
        low = format_value(self.low, self.unit)
        if low.split()[-1] == high.split()[-1] and " " in low:  # one unit for both ends
            low = low.split()[0]
        return f"{low}-{high}"

    def to_json(self, measured: float | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
            "source": self.source,
        }
        if measured is not None:
            low, high = self.ratio(measured)
            data.update(
                measured=measured,
                ratio_low=low,
                ratio_high=high,
                verdict=self.verdict(measured),
            )
        return data


def _ratio(value: float) -> str:
    """Two decimals near 1, where 1.0x would hide a 2 % difference; one above."""
    return f"{value:.2f}" if value < 2 else f"{value:.1f}"


def _span(low: float, high: float) -> str:
    low_text, high_text = _ratio(low), _ratio(high)
    return low_text if low_text == high_text else f"{low_text}-{high_text}"


def format_value(value: float, unit: str) -> str:
    """Seconds as ms below one second, bytes as MB, ratios as 1.31x."""
    if unit == "s":
        if value < 1:
            text, suffix = f"{value * 1000:.1f}".removesuffix(".0"), "ms"
        else:
            text, suffix = f"{value:.2f}".rstrip("0").rstrip("."), "s"
    elif unit == "B":
        text, suffix = f"{value / 1e6:.1f}", "MB"
    else:
        text, suffix = f"{value:.2f}", "x"
    return f"{text}{suffix}" if unit == "x" else f"{text} {suffix}"
