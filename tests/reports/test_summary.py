"""reports/summary.json and what changed since the previous run."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures import summary
from fixtures.records import (
    FAILED,
    NOT_RUN,
    NOT_SELECTED,
    PASSED,
    DefinedScenario,
    ScenarioRecord,
)

SECTION = "Access an external HTTP service"


def record(name: str, outcome: str, line: int = 8) -> ScenarioRecord:
    return ScenarioRecord(
        nodeid=f"features/test.py::{name}",
        feature=SECTION,
        feature_file="features/04_external_http_service.feature",
        feature_description="",
        name=name,
        description="",
        line=line,
        tags=["doc-http-service-entry"],
        outcome=outcome,
    )


FILE = "features/04_external_http_service.feature"
ENVIRONMENT = {"backend": "local", "control_plane": "istiod", "istio": "1.31-dev"}


def test_every_scenario_of_the_features_is_listed_even_when_it_did_not_run() -> None:
    not_run = [DefinedScenario(FILE, 20, SECTION, "log the request")]
    built = summary.build([record("reach httpbin", PASSED)], not_run, ENVIRONMENT, "t", "complete")
    scenarios = built["scenarios"]
    assert scenarios[summary.scenario_key(FILE, "reach httpbin")]["verdict"] == PASSED
    missing = scenarios[summary.scenario_key(FILE, "log the request")]
    assert missing["verdict"] == NOT_RUN
    assert missing["feature"] == SECTION  # the section's title, as for one that ran
    assert built["control_plane"] == "istiod" and built["istio"] == "1.31-dev"


def test_changes_since_the_previous_run_are_named(tmp_path: Path) -> None:
    first = summary.build([record("reach httpbin", PASSED)], [], ENVIRONMENT, "t1", "complete")
    line = summary.write(tmp_path, first, None)
    assert line.startswith("No previous summary")
    second = summary.build([record("reach httpbin", FAILED)], [], ENVIRONMENT, "t2", "complete")
    line = summary.write(tmp_path, second, None)
    assert line == (
        f"1 claim(s) changed since the previous run (t1): {FILE} :: reach httpbin: passed -> failed"
    )
    assert json.loads((tmp_path / summary.PREVIOUS).read_text())["generated"] == "t1"
    assert summary.write(tmp_path, second, None).startswith("No claim changed")


def test_nightly_ci_compares_with_the_summary_it_passes(tmp_path: Path) -> None:
    last_night = tmp_path / "last-night.json"
    old = summary.build([record("reach httpbin", FAILED)], [], ENVIRONMENT, "n", "complete")
    last_night.write_text(json.dumps(old))
    now = summary.build([record("reach httpbin", PASSED)], [], ENVIRONMENT, "t", "complete")
    reports = tmp_path / "reports"
    reports.mkdir()
    line = summary.write(reports, now, last_night)
    assert "failed -> passed" in line


def test_a_selection_is_no_change_of_claim(tmp_path: Path) -> None:
    """A `-k` run compares only what both runs ran; the rest is named as not compared,
    and the next full run compares with the full run too, not with "not selected"."""
    names = ["reach httpbin", "log the request", "block google"]
    full = summary.build([record(n, PASSED) for n in names], [], ENVIRONMENT, "t1", "complete")
    summary.write(tmp_path, full, None)
    left_out = [DefinedScenario(FILE, 8, SECTION, n) for n in names[1:]]
    picked = summary.build(
        [record(names[0], PASSED)],
        left_out,
        ENVIRONMENT,
        "t2",
        "complete",
        gap=NOT_SELECTED,
        selection="-k httpbin",
    )
    line = summary.write(tmp_path, picked, None)
    assert line.startswith("No claim changed since the previous run (t1)"), line
    assert "2 scenario(s) not compared" in line
    assert picked["scenarios"][summary.scenario_key(FILE, names[1])]["verdict"] == NOT_SELECTED
    assert picked["selection"] == "-k httpbin"
    again = summary.build([record(n, PASSED) for n in names], [], ENVIRONMENT, "t3", "complete")
    assert summary.write(tmp_path, again, None).startswith("No claim changed")


def test_a_run_that_stopped_before_any_scenario_is_not_the_next_runs_previous(
    tmp_path: Path,
) -> None:
    full = summary.build([record("reach httpbin", PASSED)], [], ENVIRONMENT, "t1", "complete")
    summary.write(tmp_path, full, None)
    stopped = summary.build(
        [],
        [DefinedScenario(FILE, 8, SECTION, "reach httpbin")],
        ENVIRONMENT,
        "t2",
        "stopped",
        stop_reason="no scenario was selected (-k nosuch)",
    )
    line = summary.write(tmp_path, stopped, None)
    assert line == "No claim compared with the previous run (t1): this run ran no scenario."
    assert stopped["run_state"] == "stopped" and "nosuch" in stopped["stop_reason"]
    failed = summary.build([record("reach httpbin", FAILED)], [], ENVIRONMENT, "t3", "complete")
    line = summary.write(tmp_path, failed, None)
    assert line.startswith("1 claim(s) changed since the previous run (t1)"), line
    assert json.loads((tmp_path / summary.PREVIOUS).read_text())["generated"] == "t1"
