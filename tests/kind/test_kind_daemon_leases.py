"""The project's Docker daemon is shared by leases: a run never stops it under another."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clusters.kind import docker


@pytest.fixture(autouse=True)
def leases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(docker, "LEASES", tmp_path / "leases")
    monkeypatch.setattr(docker, "RUN_DIR", tmp_path)
    return tmp_path / "leases"


def test_a_live_runs_lease_keeps_the_daemon_and_a_dead_ones_goes(leases: Path) -> None:
    mine = docker.take_lease()
    assert mine.name.startswith(f"{os.getpid()}-")
    dead = leases / "999999999-12345"
    dead.touch()
    assert docker.live_leases() == [f"pid {os.getpid()}"]
    assert not dead.exists()


def test_stop_leaves_a_daemon_another_run_uses(
    leases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[bool] = []
    monkeypatch.setattr(
        docker.DockerDaemon, "_stop_locked", lambda self: stopped.append(True) or []
    )
    docker.take_lease(docker.MANUAL_LEASE)  # someone's daemon-up
    handle = docker.DockerDaemon("unix:///x", owned=True, pid=1, lease=docker.take_lease())
    assert handle.stop() == [] and not stopped
    (leases / docker.MANUAL_LEASE).unlink()
    again = docker.DockerDaemon("unix:///x", owned=True, pid=1, lease=docker.take_lease())
    again.stop()
    assert stopped == [True]


def test_a_daemon_up_lease_goes_with_its_daemon(
    leases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon-up lease whose daemon is gone does not keep the next daemon up."""
    docker.take_lease(docker.MANUAL_LEASE)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(docker, "answers", lambda host: False)
    started = docker.DockerDaemon("unix:///x", owned=True, pid=1)
    monkeypatch.setattr(docker, "_start", lambda: started)
    assert docker.DockerDaemon.ensure() is started
    assert docker.live_leases() == [f"pid {os.getpid()}"]


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        (True, ["stop the project's Docker daemon"]),  # no cluster ran before this run
        (False, ["give back the lease on the project's Docker daemon"]),  # the reused one
    ],
)
def test_a_reused_clusters_run_stops_only_a_daemon_it_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, started: bool, expected: list[str]
) -> None:
    """`--reuse-cluster NAME` on a daemon that ran before leaves it (the cluster lives
    there); on one the run itself started, even for a name no cluster has, the daemon
    goes again at the end, as for a run's own cluster."""
    from clusters.kind.cluster import KindRun
    from clusters.kind.options import KindOptions

    daemon = docker.DockerDaemon("unix:///x", owned=True, pid=1, started=started)
    monkeypatch.setattr(docker.DockerDaemon, "ensure", classmethod(lambda cls: daemon))
    run = KindRun(KindOptions(reuse_cluster="nosuch"), "nosuch", tmp_path)
    run.start_daemon()
    assert run.cleanup.names() == expected
    kept = KindRun(KindOptions(keep_cluster=True), "kept", tmp_path)
    kept.start_daemon()
    assert kept.cleanup.names() == []  # --keep-cluster leaves the daemon up


def test_a_kept_cluster_holds_the_daemon_while_its_node_runs(
    leases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later run's stop would otherwise end the daemon, and the kept cluster with it."""
    running = {"egress-kept": True}
    monkeypatch.setattr(docker, "node_running", lambda cluster: running.get(cluster, False))
    docker.keep_for("egress-kept")
    docker.keep_for("egress-deleted")  # `kind delete cluster` by hand: no node any more
    assert docker.live_leases() == ["kept cluster egress-kept"]
    assert not (leases / "cluster-egress-deleted").exists()
    running["egress-kept"] = False
    assert docker.live_leases() == []
