"""An xdist worker starts its backend while it waits for its first scenarios; the session
fixture takes that cluster, or the start's error, and a cluster nobody took is closed."""

from __future__ import annotations

import threading

import pytest

from clusters.backends import UnknownBackend
from clusters.fake.backend import FakeOptions
from clusters.fake.cluster import FakeCluster
from fixtures.cluster import EarlyStart
from fixtures.options import SuiteOptions


def test_the_started_cluster_is_handed_to_the_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    started_in: list[str] = []
    original = FakeCluster.__init__

    def recording(self: FakeCluster, *args: object, **kwargs: object) -> None:
        started_in.append(threading.current_thread().name)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(FakeCluster, "__init__", recording)
    early = EarlyStart(SuiteOptions("fake", FakeOptions()))
    early.begin()
    cluster = early.take()
    assert isinstance(cluster, FakeCluster)
    assert started_in == ["early-start"]  # not in the fixture's thread
    closed: list[bool] = []
    monkeypatch.setattr(FakeCluster, "close", lambda self: closed.append(True))
    early.abandon()
    assert closed == []  # the fixture owns it now: it closes it


def test_a_cluster_nobody_took_is_closed_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []
    monkeypatch.setattr(FakeCluster, "close", lambda self: closed.append(True))
    early = EarlyStart(SuiteOptions("fake", FakeOptions()))
    early.begin()
    early.abandon()  # an interrupted session: no scenario ran
    assert closed == [True]


def test_the_starts_error_is_raised_where_the_cluster_is_taken() -> None:
    early = EarlyStart(SuiteOptions("no-such-backend", FakeOptions()))
    early.begin()
    with pytest.raises(UnknownBackend, match="invalid choice: 'no-such-backend'"):
        early.take()
    early.abandon()


def test_a_start_never_begun_leaves_nothing_to_do() -> None:
    EarlyStart(SuiteOptions("fake", FakeOptions())).abandon()
