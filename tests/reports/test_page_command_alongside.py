"""A request from the source pod and the page's command as written run together, and
the command's verdict still lands on its step and in the reports (literal_plugin's
``page_command_alongside``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import small_run

PYTEST = (sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider", "-q")
# The page's `kubectl exec $SOURCE_POD -c sleep -- curl -sSI https://www.google.com`: it
# takes a second, logs when, and answers what the page shows (grep keeps the status line).
KUBECTL = """#!/bin/sh
echo "kubectl start $(date +%s.%N)" >> "$SMALL_RUN_CURL_LOG"
sleep 1
echo "kubectl end $(date +%s.%N)" >> "$SMALL_RUN_CURL_LOG"
printf 'HTTP/2 200\\r\\ncontent-type: text/html\\r\\n'
"""


def test_the_pages_request_runs_beside_the_steps_own_and_is_judged(tmp_path: Path) -> None:
    small_run.write_project(tmp_path)
    small_run.with_shell(tmp_path, {"kubectl": KUBECTL})
    log = tmp_path / "requests.log"
    done = subprocess.run(
        [*PYTEST, "-k", "unknown_host", "--literal"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SMALL_RUN_CURL_LOG": str(log)},
    )
    assert "1 passed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    times = {
        " ".join(line.split()[:2]): float(line.split()[2]) for line in log.read_text().splitlines()
    }
    # each waits a second: together they overlap; one after the other they would not
    assert times["kubectl start"] < times["exec end"] and times["exec start"] < times["kubectl end"]
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    (command,) = [c for c in summary["commands"].values() if c["block"] == "envoy-passthrough.1"]
    assert command["verdict"] == "matched", command
