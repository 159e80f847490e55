"""httpbin loaded before the mesh asks for it: the preloaded process serves where it is
told, with the logs a spawned one has; one that no mesh takes ends, even when the
process that preloaded it is killed; and one that died while loading says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.local import httpbin_preload, network
from clusters.shared import processes

pytestmark = pytest.mark.root


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"egc-preload-{uuid.uuid4().hex[:8]}"
    network.create(name)
    try:
        yield name
    finally:
        network.delete(name)


@pytest.fixture(autouse=True)
def own_waiting_list(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test has the module's list of waiting servers to itself (a run that also
    collects the features has preloaded one for them), and ends what it left there."""
    monkeypatch.setattr(httpbin_preload, "_waiting", [])
    yield
    httpbin_preload.release()


def _get(namespace: str, url: str) -> bytes:
    def fetch() -> bytes:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    return bytes(response.read())
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"nothing answered {url} in {namespace}")

    return network.call_in(namespace, fetch)


def _gone_within(pid: int, ticks: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if processes.start_ticks(pid) != ticks:
            return True
        time.sleep(0.02)
    return False


def test_a_preloaded_httpbin_serves_in_the_namespace_it_is_told(
    namespace: str, tmp_path: Path
) -> None:
    httpbin_preload.preload(1)
    (waiting,) = httpbin_preload.waiting()
    assert waiting.wait_loaded(30.0)
    server = httpbin_preload.take()
    assert server is waiting  # the loaded one, not a new start
    assert httpbin_preload.waiting() == []
    stdout, stderr = tmp_path / "httpbin.log", tmp_path / "httpbin.err"
    try:
        server.serve(network.NETNS_RUN_DIR / namespace, ["--listen=127.0.0.1:8080"], stdout, stderr)
        body = _get(namespace, "http://127.0.0.1:8080/get")
        assert b'"url": "http://127.0.0.1:8080/get"' in body
        # only inside the namespace: the host's loopback has no such server
        with pytest.raises(OSError):
            urllib.request.urlopen("http://127.0.0.1:8080/get", timeout=1)
    finally:
        server.process.terminate()
        server.process.wait(10)
    log = stderr.read_text()
    # what it printed while loading comes first, then waitress's own line
    assert log.index("flasgger is not installed") < log.index("Serving on http://127.0.0.1:8080")


def test_take_without_a_preload_starts_one_on_the_same_path(namespace: str, tmp_path: Path) -> None:
    assert httpbin_preload.waiting() == []
    server = httpbin_preload.take()
    try:
        server.serve(
            network.NETNS_RUN_DIR / namespace,
            ["--listen=127.0.0.1:8081"],
            tmp_path / "out",
            tmp_path / "err",
        )
        assert b'"origin": "127.0.0.1"' in _get(namespace, "http://127.0.0.1:8081/ip")
    finally:
        server.process.terminate()
        server.process.wait(10)


@pytest.mark.parametrize("ending", ["exits", "is killed"])
def test_a_preload_no_mesh_takes_ends_with_its_starter(ending: str) -> None:
    starter = textwrap.dedent(
        f"""
        import os, signal, sys
        from clusters.local import httpbin_preload
        httpbin_preload.preload(1)
        (server,) = httpbin_preload.waiting()
        print(server.process.pid, flush=True)
        if {ending == "is killed"!r}:  # no atexit: only the closed pipe tells it
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60, check=False
    )
    pid = int(done.stdout.split()[0])
    ticks = processes.start_ticks(pid)
    if ticks is None:  # already gone
        return
    try:
        assert _gone_within(pid, ticks, 15.0), f"the preloaded httpbin (pid {pid}) outlived it"
    finally:
        if processes.start_ticks(pid) == ticks:
            os.kill(pid, signal.SIGKILL)


def test_one_that_died_loading_leaves_its_reason_in_the_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "broken_server.py"
    broken.write_text("import sys\nsys.exit('ModuleNotFoundError: No module named httpbin')\n")
    monkeypatch.setattr(httpbin_preload, "PROGRAM", broken)
    server = httpbin_preload.take()
    server.process.wait(30)
    stderr = tmp_path / "httpbin.err"
    server.serve(Path("/run/netns/unused"), [], tmp_path / "httpbin.log", stderr)
    assert stderr.read_text().strip() == "ModuleNotFoundError: No module named httpbin"
