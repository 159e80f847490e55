"""One cleanup stack for every backend, in the manner of Istio's test framework (its
``scope``): whatever a backend creates registers its closer, under a name, right when it
creates it; :meth:`CleanupStack.done` closes everything in reverse order.

Closing runs every closer even when some fail, and then raises one
:class:`CleanupFailed` naming each failure (rather than returning the list: a teardown
that failed must not pass for one that worked). An interrupt (Ctrl-C, SIGTERM made
one) in the middle of closing still closes the rest, then goes on as an interrupt.
Closing twice is harmless: a closer runs once, even if it failed. Registering is safe
from several threads (creation steps that run together).

What must be undone after a crash (a process, a network namespace) is registered as a
*record* as well: plain data that a later process can replay with the same closers
(``replay``), written out by ``on_record`` before the thing is created. The local mesh
keeps its records in its run directory, so the next run's sweep replays a crashed run.
A record leaves that list only after its closer ran, so a crash while closing replays
it again: a closer must accept that what it closes may be gone already.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from clusters.protocol import ClusterError

Closer = Callable[[], object]
# How a recorded closer of a kind is replayed from its data (in this process or a later one).
Replay = Callable[[Mapping[str, Any]], object]


@dataclass(frozen=True)
class CleanupRecord:
    """A closer as data: ``kind`` names the replay, ``name`` what it closes."""

    kind: str
    name: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "data": dict(self.data)}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> CleanupRecord:
        return cls(str(item["kind"]), str(item["name"]), dict(item.get("data") or {}))


class CleanupFailed(ClusterError):
    """Some closers failed; ``failures`` holds (name, error) for each, in closing order."""

    def __init__(self, failures: list[tuple[str, BaseException]]) -> None:
        self.failures = failures
        named = "; ".join(f"{name}: {_one_line(error)}" for name, error in failures)
        super().__init__(f"cleanup failed for {len(failures)} of what was created: {named}")


@dataclass
class _Entry:
    name: str
    closer: Closer
    record: CleanupRecord | None


class CleanupStack:
    """Closers by name, closed last-registered first.

    ``replay`` maps a record's kind to how it is closed; ``on_record`` receives every
    record in registration order each time that list changes (to persist it);
    ``records`` are closers registered before, by this process or another, replayed.
    """

    def __init__(
        self,
        *,
        replay: Mapping[str, Replay] | None = None,
        on_record: Callable[[list[CleanupRecord]], None] | None = None,
        records: Iterable[CleanupRecord] = (),
    ) -> None:
        self._replay = dict(replay or {})
        self._on_record = on_record
        self._entries: list[_Entry] = [self._replayed(record) for record in records]
        self._lock = threading.RLock()  # registrations may come from several threads

    # Registering -------------------------------------------------------------------
    def push(self, name: str, closer: Closer) -> str:
        """Register ``closer`` for what was just created; returns its name (unique)."""
        with self._lock:
            self._check_new(name)
            self._entries.append(_Entry(name, closer, None))
        return name

    def record(
        self, kind: str, name: str, data: Mapping[str, Any], closer: Closer | None = None
    ) -> str:
        """Register a closer that a later process can replay: the record is passed to
        ``on_record`` before this returns, so call it before creating the thing.
        ``closer`` (default: the replay of ``kind``) is what this process runs."""
        record = CleanupRecord(kind, name, dict(data))
        with self._lock:
            self._check_new(name)
            entry = self._replayed(record)
            if closer is not None:
                entry.closer = closer
            self._entries.append(entry)
            self._records_changed()
        return name

    def follow(self, records: Iterable[CleanupRecord]) -> None:
        """Take over the records another process of the run wrote: what it created is
        ours to close too, what it closed is gone (dropped without closing again)."""
        wanted = list(records)
        names = {record.name for record in wanted}
        with self._lock:
            kept = [e for e in self._entries if e.record is None or e.record.name in names]
            present = {e.name for e in kept}
            kept += [self._replayed(r) for r in wanted if r.name not in present]
            self._entries = kept

    # Reading -----------------------------------------------------------------------
    def names(self) -> list[str]:
        """What is registered, in registration order."""
        return [entry.name for entry in self._entries]

    def records(self) -> list[CleanupRecord]:
        """The recorded closers, in registration order."""
        return [entry.record for entry in self._entries if entry.record is not None]

    def __contains__(self, name: object) -> bool:
        return any(entry.name == name for entry in self._entries)

    # Closing -----------------------------------------------------------------------
    def close(self, name: str) -> object:
        """Close one thing now (it goes away before the rest: a pod re-created) and
        return what its closer returned; its error propagates as it is. Unknown: None."""
        entry = next((e for e in self._entries if e.name == name), None)
        if entry is None:
            return None
        self._entries.remove(entry)
        try:
            return entry.closer()
        finally:  # recorded as gone once it was tried: a closer runs once
            if entry.record is not None:
                self._records_changed()

    def forget(self, name: str) -> None:
        """Drop a closer without running it: what it closes went away otherwise."""
        entry = next((e for e in self._entries if e.name == name), None)
        if entry is not None:
            self._remove(entry)

    def done(self) -> None:
        """Close everything, last registered first; raise CleanupFailed naming every
        failure, or the first interrupt once everything else is closed."""
        failures: list[tuple[str, BaseException]] = []
        interrupt: BaseException | None = None
        while self._entries:
            entry = self._entries.pop()
            for step in (entry.closer, self._records_changed if entry.record else None):
                if step is None:
                    continue
                try:
                    step()
                except (KeyboardInterrupt, SystemExit) as stopped:
                    interrupt = interrupt or stopped
                except Exception as error:
                    failures.append((entry.name, error))
        if interrupt is not None:
            if failures:
                interrupt.add_note(str(CleanupFailed(failures)))
            raise interrupt
        if failures:
            raise CleanupFailed(failures)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.done()
        except CleanupFailed as failed:
            if error is None:
                raise
            error.add_note(str(failed))  # the block's own error is the one to see

    # Internals ---------------------------------------------------------------------
    def _check_new(self, name: str) -> None:
        if name in self:
            raise ValueError(f"{name!r} is registered already: closers are named uniquely")

    def _replayed(self, record: CleanupRecord) -> _Entry:
        replay = self._replay.get(record.kind)
        if replay is None:
            raise ValueError(
                f"no way to close a {record.kind!r} record ({record.name}): "
                f"known kinds are {', '.join(sorted(self._replay)) or 'none'}"
            )
        return _Entry(record.name, lambda: replay(record.data), record)

    def _remove(self, entry: _Entry) -> None:
        with self._lock:
            self._entries.remove(entry)
            if entry.record is not None:
                self._records_changed()

    def _records_changed(self) -> None:
        if self._on_record is not None:
            self._on_record(self.records())


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
