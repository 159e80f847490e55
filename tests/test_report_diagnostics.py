"""A deliberately failing scenario, run on the in-memory backend, shows as failed with
its diagnostics in every report: the page view (folded, opening on a click in headless
Chromium), page.md, pytest-html, Allure's results, JUnit and summary.json."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.test_report_browser import CHROMIUM, ROOT, chromium

pytest_plugins = ("pytester",)

PLUGINS = [
    "fixtures.options",
    "fixtures.journal",
    "fixtures.cluster",
    "fixtures.report",
    "fixtures.outputs",
    "steps.state",
    "steps.config",
]

CONFTEST = f"""
import pytest

from clusters.fake import FakeCluster

pytest_plugins = {PLUGINS!r}


@pytest.fixture(scope="session")
def cluster():
    return FakeCluster()  # ALLOW_ANY: the scenario below claims REGISTRY_ONLY and fails
"""

FEATURE = """
Feature: Envoy passthrough to external services
  @doc-envoy-passthrough
  Scenario: The mesh blocks unknown hosts
    Then the outbound traffic policy mode is "REGISTRY_ONLY"
"""

BINDING = 'from pytest_bdd import scenarios\n\nscenarios("passthrough.feature")\n'
TITLES = ("sidecar listeners", "sidecar routes", "sidecar clusters", "interception rules")


@pytest.fixture
def failed_run(pytester: pytest.Pytester) -> Path:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".feature", passthrough=textwrap.dedent(FEATURE))
    pytester.makepyfile(test_binding=BINDING)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--page-report-dir", "out", "--junitxml", "out/junit.xml",
        "--html", "out/report.html", "--self-contained-html", "--alluredir", "out/allure",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    return pytester.path / "out"


def test_every_report_shows_the_failure_with_its_diagnostics(failed_run: Path) -> None:
    page = (failed_run / "page.html").read_text()
    assert '<details class="diagnostics">' in page and "virtualOutbound" in page
    assert all(f"<h4>{title}</h4>" in page for title in TITLES)
    markdown = (failed_run / "page.md").read_text()
    assert "<details><summary>Diagnostics of the failed step" in markdown
    assert "PassthroughCluster" in markdown  # what the proxy really does: ALLOW_ANY
    assert "Diagnostics of the failed step" in (failed_run / "report.html").read_text()

    junit = ET.parse(failed_run / "junit.xml").getroot()
    case = next(junit.iter("testcase"))
    assert case.find("failure") is not None
    names = {p.get("name") for p in case.iter("property")}
    assert {f"diagnostics: {title}" for title in TITLES} <= names

    summary = json.loads((failed_run / "summary.json").read_text())
    (scenario,) = summary["scenarios"].values()
    assert scenario["verdict"] == "failed"
    assert scenario["failed_step"].startswith("Then the outbound traffic policy mode")
    assert set(TITLES) <= set(scenario["diagnostics"])

    results = [json.loads(p.read_text()) for p in (failed_run / "allure").glob("*-result.json")]
    (result,) = results
    assert result["status"] == "failed"
    attached = {a["name"] for step in result["steps"] for a in step.get("attachments", [])}
    assert {f"diagnostics: {title}" for title in TITLES} <= attached


HARNESS = """<!DOCTYPE html><html><body>
<iframe id="report" src="{page}" style="width:1260px;height:1300px"></iframe>
<script>
document.getElementById("report").onload = function () {{
  var doc = this.contentDocument;
  var details = doc.querySelector("details.diagnostics");
  var before = details.open;
  details.querySelector("summary").click();
  document.title = "before=" + before + " after=" + details.open
    + " visible=" + (doc.querySelector("details.diagnostics h4").offsetHeight > 0);
  details.scrollIntoView();
}};
</script></body></html>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is missing (make setup installs it)")
def test_the_diagnostics_open_on_a_click(failed_run: Path) -> None:
    """A real click in headless Chromium: folded first, shown after."""
    harness = failed_run / "harness.html"
    harness.write_text(HARNESS.format(page=(failed_run / "page.html").as_uri()))
    flags = ["--allow-file-access-from-files", "--virtual-time-budget=5000"]
    dom = chromium(*flags, "--dump-dom", harness.as_uri())
    assert "<title>before=false after=true visible=true</title>" in dom
    shots = ROOT / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    chromium(*flags, "--window-size=1280,1400", f"--screenshot={shots / 'diagnostics.png'}",
             harness.as_uri())  # fmt: skip
    assert (shots / "diagnostics.png").stat().st_size > 10_000
