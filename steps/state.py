"""What a scenario remembers between its steps: the last request, the log entry in view.

One small object per scenario (the ``scenario_state`` fixture) instead of injected
fixtures, so that a Then before any When fails with a sentence, not a fixture lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from clusters.protocol import AccessLogEntry, ExecResult, LogCursor


@dataclass(frozen=True)
class Exchange:
    """One command of the page run in the source pod, and the log mark taken before it."""

    command: str  # as the feature (and the page) writes it
    argv: tuple[str, ...]  # what was run
    result: ExecResult
    log_cursor: LogCursor
    attempts: int = 1


@dataclass
class ScenarioState:
    exchanges: list[Exchange] = field(default_factory=list)
    log_entry: AccessLogEntry | None = None
    source_pod_name: str | None = None
    internal_ranges: Sequence[str] | None = None
    manifest: str | None = None

    @property
    def last(self) -> Exchange:
        if not self.exchanges:
            raise AssertionError("no command has been run in the source pod yet in this scenario")
        return self.exchanges[-1]

    @property
    def entry(self) -> AccessLogEntry:
        if self.log_entry is None:
            raise AssertionError("no sidecar log entry has been found yet in this scenario")
        return self.log_entry


@pytest.fixture
def scenario_state() -> ScenarioState:
    return ScenarioState()


def unescape_quotes(text: str) -> str:
    r"""A quoted step argument may write an inner quote as ``\"``."""
    return text.replace('\\"', '"')
