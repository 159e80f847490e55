"""A deliberately failing scenario of a small run (tests/small_run.py) shows as failed,
with its diagnostics, in every report: the page view, page.md, pytest-html, JUnit,
summary.json, and Allure's results and HTML report. The browser's view of the page view
and of Allure is in tests/reports/test_report_browser.py."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests import small_run as small_run_module
from tests.small_run import FAILED_SCENARIO, FAILED_STEP

TITLES = ("sidecar listeners", "sidecar routes", "sidecar clusters", "interception rules")


def allure_results(reports: Path) -> dict[str, dict[str, Any]]:
    files = (reports / "allure-results").glob("*-result.json")
    results = (json.loads(path.read_text()) for path in files)
    return {result["name"]: result for result in results}


def attachments(step: dict[str, Any]) -> dict[str, str]:
    return {a["name"]: a["source"] for a in step.get("attachments", [])}


def test_every_report_shows_the_failure_with_its_diagnostics(small_run: Path) -> None:
    page = (small_run / "page.html").read_text()
    assert page.count('<details class="diagnostics">') == 1 and "virtualOutbound" in page
    assert all(f"<h4>{title}</h4>" in page for title in TITLES)
    markdown = (small_run / "page.md").read_text()
    assert "<details><summary>Diagnostics of the failed step" in markdown
    assert "PassthroughCluster" in markdown  # what the proxy really does: ALLOW_ANY
    assert "Diagnostics of the failed step" in (small_run / "conformance.html").read_text()

    junit = ET.parse(small_run / "junit.xml").getroot()
    (case,) = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    names = {p.get("name") for p in case.iter("property")}
    assert {f"diagnostics: {title}" for title in TITLES} <= names

    summary = json.loads((small_run / "summary.json").read_text())
    (scenario,) = [s for s in summary["scenarios"].values() if s["verdict"] == "failed"]
    assert scenario["failed_step"] == FAILED_STEP
    assert set(TITLES) <= set(scenario["diagnostics"])

    result = allure_results(small_run)[FAILED_SCENARIO]
    assert result["status"] == "failed"
    (step,) = result["steps"]
    assert step["name"] == FAILED_STEP and step["status"] == "failed"
    assert {f"diagnostics: {title}" for title in TITLES} <= set(attachments(step))


def test_each_allure_step_carries_the_facts_of_its_command(small_run: Path) -> None:
    """A step that ran curl in the pod has its command, stdout, stderr, exit code and
    elapsed time; a step that applied YAML has it; fixtures are not step parameters."""
    results = allure_results(small_run)
    curl = next(
        step
        for step in results["An HTTPS request to an unknown host succeeds under ALLOW_ANY"]["steps"]
        if step["name"].startswith("When the source pod runs")
    )
    attached = attachments(curl)
    assert {"command", "stdout", "stderr", "exit code", "elapsed"} <= set(attached)
    folder = small_run / "allure-results"
    assert (folder / attached["stdout"]).read_text().startswith("HTTP/2 200")
    assert (folder / attached["stderr"]).read_text().startswith("* Connected to the site")
    assert (folder / attached["exit code"]).read_text() == "0"
    assert "curl -sSI https://www.google.com" in (folder / attached["command"]).read_text()
    assert [p["name"] for p in curl["parameters"]] == ["command"]  # not cluster, journal…

    apply = results["A ServiceEntry lets httpbin.org through"]["steps"][0]
    applied = attachments(apply)["applied YAML"]
    assert applied.endswith(".yaml") and "kind: ServiceEntry" in (folder / applied).read_text()


def test_allure_knows_the_mesh_the_state_and_the_categories(small_run: Path) -> None:
    folder = small_run / "allure-results"
    environment = (folder / "environment.properties").read_text()
    assert "backend = fake" in environment and "run_state = complete" in environment
    categories = {c["name"] for c in json.loads((folder / "categories.json").read_text())}
    assert (
        "Outdated: the page's step no longer holds, and a drift record explains how" in categories
    )
    index = small_run / "allure-report" / "index.html"
    assert index.stat().st_size > 100_000  # one self-contained file
    assert "googletagmanager" not in index.read_text()  # nothing fetched from outside


def test_an_interrupted_run_is_not_green_in_allure(tmp_path: Path) -> None:
    """Ctrl-C in the second scenario: Allure gets a result for every scenario that never
    ran ("unknown", naming the state), and its environment says the run was interrupted."""
    done = small_run_module.run(tmp_path, interrupt=True)
    assert done.returncode == 2, done.stdout[-2000:]
    reports = tmp_path / "reports"
    files = (reports / "allure-results").glob("*-result.json")
    results = [json.loads(path.read_text()) for path in files]
    not_run = [r for r in results if r["status"] == "unknown"]
    # 11 scenarios: one passed; the one Ctrl-C stopped never finished, so it is not run too
    assert len(not_run) == 10
    assert {r["statusDetails"]["message"] for r in not_run} == {
        "not run: the run was interrupted before it"
    }
    assert FAILED_SCENARIO in {r["name"] for r in not_run}
    assert {r["status"] for r in results} - {"unknown"} == {"passed"}  # nothing else green
    environment = (reports / "allure-results" / "environment.properties").read_text()
    assert "run_state = interrupted, 10 scenarios not run" in environment
    assert (reports / "allure-report" / "index.html").exists()


def test_the_reports_agree_on_every_verdict(small_run: Path) -> None:
    """Six reports of one run, one story: the same scenarios with the same verdicts."""
    summary = json.loads((small_run / "summary.json").read_text())["scenarios"]
    # a scenario by its feature file's name and its own: summary.json names the file as
    # the page unit does, Allure as pytest-bdd does (its folder and name)
    by_summary = {Path(key.replace(" :: ", ":")).name: s["verdict"] for key, s in summary.items()}
    files = (small_run / "allure-results").glob("*-result.json")
    results = map(json.loads, map(Path.read_text, files))
    # Allure has no outdated status: a skip whose message says so (its "Outdated" category)
    by_allure = {
        Path(r["fullName"]).name: "outdated"
        if r["status"] == "skipped"
        and r.get("statusDetails", {})
        .get("message", "")
        .startswith(("outdated:", "Skipped: outdated:"))
        else r["status"]
        for r in results
    }
    assert by_allure == by_summary
    counts = {v: list(by_summary.values()).count(v) for v in ("passed", "failed", "outdated")}
    assert counts == {"passed": 9, "failed": 1, "outdated": 1}

    suite = ET.parse(small_run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("11", "1", "1")
    assert [s.get("type") for s in suite.iter("skipped")] == ["outdated"]
    total = "| **Total** | 11 | 9 | 1 | 1 | 0 | 0 |"  # scenarios, passed, failed, outdated…
    assert total in (small_run / "page.md").read_text()
    html = (small_run / "conformance.html").read_text()
    assert all(f"{n} {word}" in html for n, word in ((9, "Passed"), (1, "Failed"), (1, "Skipped")))
    allure_summary = json.loads((small_run / "allure-report" / "summary.json").read_text())
    stats = allure_summary["stats"]  # also "new": 11, none of them in Allure's history yet
    assert {k: stats.get(k) for k in ("total", "passed", "failed", "skipped")} == {
        "total": 11,
        "passed": 9,
        "failed": 1,
        "skipped": 1,
    }
