"""The sidecar's bootstrap through a named pipe (clusters.local.sourcepod): an Envoy
started before its bootstrap was known gets all of it once it opens the pipe, however
late, and an Envoy that dies first is named instead of waited out."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from clusters.local import sourcepod
from clusters.protocol import ClusterError

BOOTSTRAP = {"node": {"id": "sidecar~198.51.100.10~sleep-0a1b2c3d4e-xyz12.default"}}


def _alive() -> None:
    return None


def test_a_late_reader_gets_the_whole_bootstrap_and_a_file_stays(tmp_path: Path) -> None:
    pipe = sourcepod.bootstrap_pipe(tmp_path)
    read: list[bytes] = []

    def envoy() -> None:  # opens its --config-path only after its own start
        time.sleep(0.1)
        with pipe.open("rb") as config:
            read.append(config.read())

    reader = threading.Thread(target=envoy)
    reader.start()
    sourcepod.send_bootstrap(pipe, BOOTSTRAP, _alive, timeout=10)
    reader.join(10)
    assert json.loads(read[0]) == BOOTSTRAP
    assert pipe.is_file() and json.loads(pipe.read_text()) == BOOTSTRAP  # no pipe left


def test_an_envoy_that_died_before_reading_is_named(tmp_path: Path) -> None:
    pipe = sourcepod.bootstrap_pipe(tmp_path)

    def dead() -> None:
        raise ClusterError("istio-proxy (pid 4242) exited with status 1: bad flag")

    # Named, not waited out: a wait that ran out would say "did not read" instead.
    with pytest.raises(ClusterError, match=r"istio-proxy \(pid 4242\) exited"):
        sourcepod.send_bootstrap(pipe, BOOTSTRAP, dead, timeout=30)


def test_a_reader_that_never_comes_ends_in_one_line(tmp_path: Path) -> None:
    pipe = sourcepod.bootstrap_pipe(tmp_path)
    with pytest.raises(
        ClusterError, match=r"the sidecar did not read its bootstrap .* within 0\.2s"
    ):
        sourcepod.send_bootstrap(pipe, BOOTSTRAP, _alive, timeout=0.2)


def test_a_reader_that_closes_unread_ends_in_one_line(tmp_path: Path) -> None:
    pipe = sourcepod.bootstrap_pipe(tmp_path)
    bootstrap = {"padding": "x" * 200_000}  # more than a pipe holds: the write must wait
    opened = threading.Event()

    def envoy() -> None:
        with pipe.open("rb") as config:
            opened.set()
            config.read(1)  # then it is gone, as an Envoy that died would be

    reader = threading.Thread(target=envoy)
    reader.start()
    with pytest.raises(ClusterError, match=r"closed its bootstrap .* before reading it"):
        sourcepod.send_bootstrap(pipe, bootstrap, _alive, timeout=10)
    reader.join(10)
    assert opened.is_set()
