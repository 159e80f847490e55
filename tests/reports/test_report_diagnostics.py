"""A deliberately failing scenario of a small run (tests/small_run.py) shows as failed,
with its diagnostics, in every report: the page view, page.md, pytest-html, JUnit,
summary.json, and Allure's results and HTML report. The browser's view of the page view
and of Allure is in tests/reports/test_report_browser.py."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from tests import small_run as small_run_module
from tests.small_run import FAILED_SCENARIO, FAILED_STEP

TITLES = ("sidecar listeners", "sidecar routes", "sidecar clusters", "interception rules")


def allure_results(reports: Path) -> dict[str, dict[str, Any]]:
    """Allure's results by scenario name (Allure's title is the name after the
    scenario's place in its section: "01 The sleep pod runs ...")."""
    files = (reports / "allure-results").glob("*-result.json")
    results = (json.loads(path.read_text()) for path in files)
    return {re.sub(r"^\d{2} ", "", result["name"]): result for result in results}


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
    assert f"01 {FAILED_SCENARIO}" in {r["name"] for r in not_run}  # titled as it would run
    assert all(not_run_result["start"] == not_run_result["stop"] for not_run_result in not_run)
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
    # Allure has no outdated status: a failure whose message says so (its own category,
    # the first: so that Allure's success rate is not 100% with outdated claims)
    by_allure = {
        Path(r["fullName"]).name: "outdated"
        if r["status"] == "failed"
        and r.get("statusDetails", {}).get("message", "").startswith("outdated: ")
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
        "failed": 2,  # the failure and the outdated claim: not a 100% run
        "skipped": None,
    }


def test_allure_keeps_the_pages_order_and_pytests_time(small_run: Path) -> None:
    """Allure's tree sorts a section's scenarios by title: each title starts with the
    scenario's place in its section. A scenario's time there is pytest's (set-up, call
    and tear-down, as JUnit counts it), so that Allure's duration spans the run."""
    results = list(allure_results(small_run).values())
    by_section: dict[str, list[str]] = {}
    for result in sorted(results, key=lambda r: r["name"]):
        suite = next(label["value"] for label in result["labels"] if label["name"] == "suite")
        by_section.setdefault(suite, []).append(result["name"])
    features = small_run.parent / "features"
    from fixtures.reports.outcome import scenarios_in

    defined = [s.name for s in scenarios_in(features) if "/02_" in s.file]
    (section,) = [names for suite, names in by_section.items() if suite.startswith("02 ")]
    assert section == [f"{place:02d} {name}" for place, name in enumerate(defined, 1)]
    assert len(section) == 2  # so that the order is something to keep
    # pytest's time, not only the call's: a result spans at least what JUnit counts for
    # its test (set-up, call and tear-down), less the two roundings to milliseconds
    from pytest_bdd.scenario import make_python_name

    from fixtures.reports.allure_results import full_name

    junit = {
        case.get("name"): float(case.get("time") or 0)
        for case in ET.parse(small_run / "junit.xml").getroot().iter("testcase")
    }
    # pytest-bdd names the functions of same-named scenarios test_x, test_x_1, … in the
    # features' order: each result is held to its own scenario's JUnit time
    seen: Counter[str] = Counter()
    function_of: dict[str, str] = {}
    for scenario in scenarios_in(features):
        base = f"test_{make_python_name(scenario.name)}"
        function_of[full_name(scenario.file, scenario.name)] = (
            f"{base}_{seen[base]}" if seen[base] else base
        )
        seen[base] += 1
    files = (small_run / "allure-results").glob("*-result.json")
    every = [json.loads(path.read_text()) for path in files]  # same-named ones included
    assert len(set(function_of.values())) == len(every) == len(junit)
    for result in every:
        counted = junit[function_of[result["fullName"]]]
        assert (result["stop"] - result["start"]) / 1000 >= counted - 0.0015, result["name"]


def test_allures_environment_gives_the_runs_wall_time_beside_its_duration(
    small_run: Path,
) -> None:
    """Allure's duration is its results' span (Allure reads nothing else, and cannot count
    the report it is writing); the session's wall time stands in its environment, between
    that span and the time pytest's summary line gives the whole session."""
    environment = small_run / "allure-results" / "environment.properties"
    properties = dict(line.split(" = ", 1) for line in environment.read_text().splitlines())
    assert "run_wall_time" in properties, sorted(properties)
    wall = float(properties["run_wall_time"].split(" s", 1)[0])
    span = json.loads((small_run / "allure-report" / "summary.json").read_text())["duration"]
    summary = re.search(r" in ([\d.]+)s", (small_run.parent / "pytest.out").read_text())
    assert summary, "pytest's summary line has no time"
    # the session starts at configure, a moment before pytest's clock
    assert span / 1000 - 0.001 <= wall <= float(summary.group(1)) + 0.5, (span, wall, summary[0])


def test_allure_results_get_pytests_time_and_outdated_claims_fail(tmp_path: Path) -> None:
    from fixtures.records import OUTDATED, PASSED, ScenarioRecord
    from fixtures.reports.allure_results import complete_results, full_name

    def record(name: str, outcome: str) -> ScenarioRecord:
        return ScenarioRecord(
            nodeid=f"features/test_x.py::{name}", feature="S", feature_file=FILE,
            feature_description="", name=name, description="", line=1, tags=[],
            outcome=outcome, reason="drift: Mixer was removed" if outcome == OUTDATED else None,
        )  # fmt: skip

    records = [record("a claim", PASSED), record("an old claim", OUTDATED)]
    for item, status in zip(records, ("passed", "skipped"), strict=True):
        result = {
            "fullName": full_name(FILE, item.name),
            "status": status,
            "statusDetails": {"message": "Skipped: something"},
            "start": 5000,
            "stop": 6000,
        }
        (tmp_path / f"{item.name}-result.json").write_text(json.dumps(result))
    spans = {records[0].nodeid: (4.0, 6.5)}
    assert complete_results(tmp_path, records, spans) == 2
    passed = json.loads((tmp_path / "a claim-result.json").read_text())
    assert (passed["status"], passed["start"], passed["stop"]) == ("passed", 4000, 6500)
    old = json.loads((tmp_path / "an old claim-result.json").read_text())
    assert old["status"] == "failed"
    assert old["statusDetails"]["message"] == "outdated: drift: Mixer was removed"
    assert complete_results(tmp_path, records, spans) == 0  # once is enough


FILE = "features/egress-control/02_envoy_passthrough.feature"
