"""Crash recovery spares live neighbours: after a whole `pytest -n` process group is
SIGKILLed, two feature runs started at once on the same run root both pass.

Before the sweep only removed what dead runs recorded, the next runs deleted each
other's freshly made namespaces (`Cannot open network namespace`, dnsmasq killed) in 3
of 4 tries. EGRESS_CONCURRENT_REPEAT=5 repeats the whole sequence (the issue's measure).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from clusters.local import network, runstate

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]
SECTIONS = "doc-envoy-passthrough or doc-blocking-by-default or doc-http-service-entry"


def feature_run(run_root: Path, reports: Path, *extra: str) -> subprocess.Popen[str]:
    """`pytest features/` on a subset of the page, its own reports, a shared run root."""
    argv = [sys.executable, "-m", "pytest", "features/", "-q", "-p", "no:cacheprovider"]
    argv += ["-m", SECTIONS, "--page-report-dir", str(reports), "--junitxml"]
    argv += [str(reports / "junit.xml"), "--html", str(reports / "r.html")]
    argv += ["--alluredir", str(reports / "allure"), *extra]
    env = {**os.environ, "EGRESS_MESH_RUN_ROOT": str(run_root)}
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so it can be killed whole
    )


def test_two_runs_right_after_a_group_kill_both_pass(tmp_path: Path) -> None:
    run_root = Path(tempfile.mkdtemp(prefix="egc-concurrent-", dir="/run"))
    run_root.chmod(0o755)
    try:
        for attempt in range(int(os.environ.get("EGRESS_CONCURRENT_REPEAT", "1"))):
            crashed = feature_run(run_root, tmp_path / f"crash{attempt}", "-n", "2")
            deadline = time.monotonic() + 60
            while not list(run_root.glob("p*/pods")) and time.monotonic() < deadline:
                time.sleep(0.1)  # until a mesh has its pod: the crash leaves real leftovers
            os.killpg(crashed.pid, signal.SIGKILL)
            crashed.communicate()
            runs = [feature_run(run_root, tmp_path / f"run{attempt}-{n}") for n in (1, 2)]
            outputs = [run.communicate(timeout=300)[0] for run in runs]
            for run, output in zip(runs, outputs, strict=True):
                # pytest's count, before the page's coverage line that ends the run
                summary = next(
                    line
                    for line in reversed(output.strip().splitlines())
                    if " in " in line and ("passed" in line or "failed" in line)
                )
                assert run.returncode == 0, output[-2000:]
                assert "passed" in summary and "failed" not in summary, output[-2000:]
                assert "error" not in summary and "INTERNALERROR" not in output, output[-2000:]
    finally:
        runstate.remove_private_root(run_root)
    assert not network.list_namespaces(runstate.namespace_prefix(run_root))
