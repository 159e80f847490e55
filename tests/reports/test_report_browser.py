"""The reports as a reviewer sees them: the page view and Allure's HTML report of a small
run (tests/small_run.py), opened in Debian's headless Chromium by Playwright
(tests/browser/reviewer.py, in the tool venv that ``make playwright`` installs).

What a reviewer must see: every section heading of the page, each verdict, and the
failed step's diagnostics, folded at first and opening on a click; in the page view, each
block of the page a scenario acted on, with its page-line link, the page's command and
output beside what the release printed when the command ran as written, and the suite's
own calls hidden until their details are opened. Neither report may fetch anything from
outside. Screenshots land in reports/screenshots/.
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

from fixtures.records import ScenarioRecord, StepRecord
from fixtures.reports.render import render_html
from tests.small_run import FAILED_SCENARIO, FAILED_SECTION, FAILED_STEP, page_sections

ROOT = Path(__file__).resolve().parents[2]
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
    assert {"passed", "failed", "outdated", "not run"} <= set(seen["verdicts"])
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
    # the blocks the scenarios acted on: the first is section 02's curl (the small run's
    # backend has no shell, so nothing is printed as written)
    assert seen["blocks"] >= 3 and seen["blocks_printed"] == 0
    block = seen["block"]
    assert block["visible"] and block["page_line_visible"]
    assert block["page_line"] == "page line 8" and block["page_line_href"] is None  # path:line
    assert block["command"].startswith("$ kubectl exec $SOURCE_POD -c sleep -- curl -sSI")
    assert block["page_output"] == "HTTP/2 200"
    assert (seen["calls_open_before"], seen["calls_visible_before"]) == (False, False)
    assert (seen["calls_open_after"], seen["calls_visible_after"]) == (True, True)
    assert "in the source pod: curl -sSI https://www.google.com" in seen["calls_text"]


# A block whose command ran as written, differed, and has a proposal: the small run's
# backend has no shell, so the page view for this check is rendered from a record.
LINK = "https://github.com/istio/istio.io/blob/abc123/content/egress/index.md#L378"
OLD_EXEC = "kubectl exec -it $SOURCE_POD -c sleep curl http://httpbin.org/headers"
REFUSED = "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND]"
OUTDATED = ScenarioRecord(
    nodeid="features/test_page.py::test_exec",
    feature="Direct access to external services",
    feature_file="features/egress-control/08_direct_access.feature",
    feature_description="",
    name="External requests bypass the sidecar",
    description="",
    line=30,
    tags=["doc-direct-access"],
    outcome="outdated",
    reason="line 378: observed: kubectl exec takes the command after `--` only",
    steps=[
        StepRecord(
            "Given",
            "the sleep pod is running with a sidecar",
            8,
            status="passed",
            ran="cluster.source_pod()",
            observed="sleep-1: ready, containers sleep, istio-proxy",
        ),
        StepRecord(
            "When",
            'the source pod runs "curl http://httpbin.org/headers" [block 访问外部服务.1]',
            9,
            status="passed",
            page_command=OLD_EXEC,
            page_output='{\n  "headers": {\n    "Host": "httpbin.org"\n  }\n}',
            ran="in the source pod: curl http://httpbin.org/headers",
            observed="HTTP status 200",
            literal="failed: exit code 1: See 'kubectl exec -h' for help and examples",
            literal_ran=OLD_EXEC,
            literal_output=f"{REFUSED}\n",
            drift="observed: kubectl exec takes the command after `--` only",
            proposed_command=OLD_EXEC.replace("sleep curl", "sleep -- curl"),
            block="访问外部服务.1",
            page_line=378,
            page_source=LINK,
        ),
    ],
)


def test_the_page_view_shows_a_block_beside_what_the_release_printed(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(render_html([OUTDATED], {}, "now"), encoding="utf-8")
    seen = reviewer("page-view", page.as_uri(), str(tmp_path / "block.png"))
    assert (seen["blocks"], seen["blocks_printed"]) == (1, 1)
    block = seen["block"]
    assert block["visible"] and block["page_line_visible"]
    assert (block["page_line"], block["page_line_href"]) == ("page line 378", LINK)
    assert block["command"] == f"$ {OLD_EXEC}"
    assert block["printed"].strip() == REFUSED
    # beside: the printed output on the right of the page's, side by side on one row
    mine, theirs = block["page_box"], block["release_box"]
    assert theirs["x"] >= mine["x"] + mine["width"] - 1
    assert abs(theirs["y"] - mine["y"]) < 5 and theirs["width"] > 300
    assert block["proposal"][:2] == [f"-$ {OLD_EXEC}", f"+$ {OUTDATED.steps[1].proposed_command}"]
    assert (seen["calls_open_before"], seen["calls_visible_before"]) == (False, False)
    assert (seen["calls_open_after"], seen["calls_visible_after"]) == (True, True)
    assert "in the source pod: curl http://httpbin.org/headers" in seen["calls_text"]
    assert seen["widest_px"] <= 1280
    assert seen["outside"] == [] and seen["script_errors"] == []


def test_allure_shows_every_section_verdict_and_the_diagnostics(small_run: Path) -> None:
    shot = SHOTS / "allure.png"
    index = small_run / "allure-report" / "index.html"
    seen = reviewer(
        "allure", index.as_uri(), str(shot), FAILED_SECTION, FAILED_SCENARIO, FAILED_STEP
    )
    assert seen["title"] == "Control Egress Traffic"
    assert sorted(seen["categories"]) == [
        "Outdated: the page's step no longer holds, and a drift record explains how",
        "The page's claim does not hold",
    ]
    # in the page's order: Allure sorts suites by name, so each carries its section's number
    assert seen["sections"] == [f"{s.file[:2]} {s.title}" for s in page_sections()]
    assert seen["statuses"] == ["failed", "passed"]  # an outdated claim is failed there
    assert seen["result_status"] == "Failed"
    assert (seen["attachments_visible_before"], seen["attachments_visible_after"]) == (False, True)
    assert {"command", "what came back", "diagnostics: sidecar listeners"} <= set(
        seen["attachments"]
    )
    assert seen["attachment_opened"] == "diagnostics: sidecar listeners"
    assert "PassthroughCluster" in seen["attachment_text"]
    assert seen["outside"] == [] and seen["script_errors"] == []
    assert shot.stat().st_size > 10_000
