"""A scenario made outdated by the page's command, whose later step then failed, is
reported as outdated with both reasons, and pytest never builds the traceback of that
failure (fixtures.literal_plugin makes the call's report from the one-line error: the
verdict replaces it, and a traceback parses every frame's source file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests import small_run

PYTEST = (sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider", "-q")
SCENARIO = "The istio configmap shows the mode line"
FEATURE = f"""Feature: Envoy passthrough to external services

  @doc-envoy-passthrough @drift
  Scenario: {SCENARIO}
    When the page's command is run as written [block envoy-passthrough.2]
    Then it prints what the page shows [block envoy-passthrough.2]
"""
# A kubectl whose istio ConfigMap has no mode line, as on Istio 1.3 and later: the page's
# grep finds nothing, which its drift record explains, and the Then step fails on it.
KUBECTL = """#!/bin/sh
printf 'apiVersion: v1\\nkind: ConfigMap\\ndata:\\n  mesh: |-\\n    accessLogFile: /dev/stdout\\n'
"""
RECORD_TRACEBACKS = '''

import _pytest._code.code as _code

_getrepr = _code.ExceptionInfo.getrepr


def _recorded_getrepr(self, *args, **kwargs):
    """Every traceback pytest builds, by its exception's line."""
    with open(os.environ["GETREPR_LOG"], "a") as log:
        log.write(self.exconly().splitlines()[0] + "\\n")
    return _getrepr(self, *args, **kwargs)


_code.ExceptionInfo.getrepr = _recorded_getrepr

'''


def test_an_outdated_scenario_whose_step_failed_keeps_both_reasons_and_no_traceback(
    tmp_path: Path,
) -> None:
    small_run.write_project(tmp_path)
    (tmp_path / "features" / "small-page" / "02_envoy_passthrough.feature").write_text(FEATURE)
    small_run.with_shell(tmp_path, {"kubectl": KUBECTL})
    with (tmp_path / "conftest.py").open("a") as conftest:
        conftest.write(RECORD_TRACEBACKS)
    log = tmp_path / "tracebacks.log"
    done = subprocess.run(
        [*PYTEST, "-k", "mode_line", "--literal", "--junitxml", "junit.xml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GETREPR_LOG": str(log)},
    )
    assert "1 outdated" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    (entry,) = [e for key, e in summary["scenarios"].items() if key.endswith(SCENARIO)]
    assert entry["verdict"] == "outdated"
    outdated, _, then = entry["reason"].partition("; then: ")
    assert "observed: a default install's istio configmap has no" in outdated
    assert then.startswith("the page's command at line 13: failed: exit code 1")
    (case,) = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    (skipped,) = case.iter("skipped")
    assert skipped.get("type") == "outdated"
    assert skipped.get("message") == f"outdated: {entry['reason']}"
    assert not log.exists(), log.read_text()  # no traceback was built for the failed step
