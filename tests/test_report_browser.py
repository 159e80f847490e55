"""The reports as a reviewer sees them: the page view and Allure's HTML report of a small
run (tests/small_run.py), opened in Debian's headless Chromium by Playwright
(tests/browser/reviewer.py, in the tool venv that ``make playwright`` installs).

What a reviewer must see: every section heading of the page, each verdict, and the
failed step's diagnostics, folded at first and opening on a click. Neither report may
fetch anything from outside. Screenshots land in reports/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.small_run import FAILED_SCENARIO, FAILED_SECTION, FAILED_STEP, page_sections

ROOT = Path(__file__).resolve().parent.parent
PLAYWRIGHT_PYTHON = ROOT / ".tools" / "playwright" / "bin" / "python"
REVIEWER = ROOT / "tests" / "browser" / "reviewer.py"
SHOTS = ROOT / "reports" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def reviewer(*args: str) -> dict[str, Any]:
    """Run the reviewer's browser; its findings as a dict."""
    if not PLAYWRIGHT_PYTHON.exists():
        venv = PLAYWRIGHT_PYTHON.parents[1]
        pytest.fail(f"Playwright is missing: make playwright installs it into {venv}")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install chromium (make setup does it)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Its own process group: on a timeout Playwright's driver and chromium go too.
    browser = subprocess.Popen(
        [str(PLAYWRIGHT_PYTHON), str(REVIEWER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EGRESS_CHROMIUM": CHROMIUM},
        start_new_session=True,
    )
    try:
        stdout, stderr = browser.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.communicate()
        pytest.fail("the reviewer's browser did not finish within 180 s")
    assert browser.returncode == 0, stderr[-3000:]
    return json.loads(stdout)


def test_the_page_view_shows_every_section_verdict_and_the_diagnostics(small_run: Path) -> None:
    shot = SHOTS / "page-view.png"
    seen = reviewer("page-view", (small_run / "page.html").as_uri(), str(shot))
    assert seen["headings"] == [section.title for section in page_sections()]
    assert {"passed", "failed", "skipped", "not run"} <= set(seen["verdicts"])
    assert seen["diagnostics_count"] == 1  # the one failed step
    assert (seen["diagnostics_open_before"], seen["diagnostics_visible_before"]) == (False, False)
    assert (seen["diagnostics_open_after"], seen["diagnostics_visible_after"]) == (True, True)
    assert "virtualOutbound" in seen["diagnostics_text"]
    assert "PassthroughCluster" in seen["diagnostics_text"]  # why the claim failed
    assert seen["link_to_page"] >= 1  # the page on istio.io
    assert seen["page_lines"] >= 3  # the verdicts point at the page's lines
    assert seen["widest_px"] <= 1280  # fits a 1280 px screen
    assert seen["outside"] == [] and seen["script_errors"] == []
    assert shot.stat().st_size > 10_000


def test_allure_shows_every_section_verdict_and_the_diagnostics(small_run: Path) -> None:
    shot = SHOTS / "allure.png"
    index = small_run / "allure-report" / "index.html"
    seen = reviewer(
        "allure", index.as_uri(), str(shot), FAILED_SECTION, FAILED_SCENARIO, FAILED_STEP
    )
    assert seen["title"] == "Control Egress Traffic"
    assert sorted(seen["categories"]) == [
        "Drift: the page uses what this Istio no longer has",
        "The page's claim does not hold",
    ]
    # in the page's order: Allure sorts suites by name, so each carries its section's number
    assert seen["sections"] == [f"{s.file[:2]} {s.title}" for s in page_sections()]
    assert seen["statuses"] == ["failed", "passed", "skipped"]
    assert seen["result_status"] == "Failed"
    assert (seen["attachments_visible_before"], seen["attachments_visible_after"]) == (False, True)
    assert {"command", "what came back", "diagnostics: sidecar listeners"} <= set(
        seen["attachments"]
    )
    assert seen["attachment_opened"] == "diagnostics: sidecar listeners"
    assert "PassthroughCluster" in seen["attachment_text"]
    assert seen["outside"] == [] and seen["script_errors"] == []
    assert shot.stat().st_size > 10_000
