"""An xdist worker starts its backend while it collects and waits for its first
scenarios; the session fixture takes that cluster, or the start's error, and a cluster
nobody took is closed."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from clusters import backends
from clusters.backends import UnknownBackend
from clusters.fake.backend import FakeOptions
from clusters.fake.cluster import FakeCluster
from fixtures import cluster as cluster_fixtures
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


@pytest.mark.parametrize(
    ("worker", "numprocesses", "collect_only", "prepares", "starts"),
    [
        (True, 2, False, True, True),  # an xdist worker: it will run the scenarios
        (False, None, False, True, False),  # no xdist: this process runs them, from the fixture
        (False, 0, False, True, False),  # -n 0
        (False, 2, False, False, False),  # xdist's controller runs none
        (True, 2, True, False, False),  # --collect-only runs nothing
    ],
)
def test_the_process_that_runs_scenarios_prepares_the_backend(
    monkeypatch: pytest.MonkeyPatch,
    worker: bool,
    numprocesses: int | None,
    collect_only: bool,
    prepares: bool,
    starts: bool,
) -> None:
    root = Path(__file__).resolve().parents[2]
    config = SimpleNamespace(
        getoption=lambda name, default=None: numprocesses if name == "numprocesses" else default,
        option=SimpleNamespace(collectonly=collect_only),
        args=[],
        rootpath=root,
        invocation_params=SimpleNamespace(dir=root),
        stash=pytest.Stash(),
    )
    if worker:
        config.workerinput = {"workerid": "gw0"}
    options = SuiteOptions("fake", FakeOptions())
    monkeypatch.setattr(SuiteOptions, "from_config", staticmethod(lambda config: options))
    prepared: list[object] = []
    started: list[str] = []

    def start(backend_options: object) -> FakeCluster:
        started.append("after the preparation" if prepared else "before it")
        return FakeCluster()

    backend = SimpleNamespace(prepare=prepared.append, start=start)
    monkeypatch.setattr(backends, "backend", lambda name: backend)
    cluster_fixtures.pytest_configure(config)  # type: ignore[arg-type]
    cluster_fixtures.pytest_unconfigure(config)  # type: ignore[arg-type]  # joins the start
    assert prepared == ([options.backend] if prepares else [])
    assert started == (["after the preparation"] if starts else [])
