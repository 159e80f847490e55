"""Reports of a run that stops before any scenario, or that runs a selection, agree.

pytester runs of a small features/ tree on a stand-in mesh, with the real report plugins:
a run that stops says so, and why, in every report it writes (or, when an option is
refused, writes none); a `-k` run's left-out scenarios are "not selected", not a change;
a Scenario Outline is its rows, never its ``<placeholder>`` template.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.reports.test_report_plugin import CONFTEST, PLUGINS

pytest_plugins = ("pytester",)

# The page report tests' stand-in mesh, with JUnit's plugin added on the command line.
JUNIT = ("-p", "fixtures.reports.junit_properties")


FEATURE = """
Feature: A section

  Scenario: The mode is the default
    Then the outbound traffic policy mode is "ALLOW_ANY"

  Scenario Outline: The mode holds after <injection> injection
    Then the outbound traffic policy mode is "ALLOW_ANY"

    Examples:
      | injection |
      | automatic |
      | manual    |
"""

BINDING = """
from pytest_bdd import scenarios

scenarios("a_section.feature")
"""

SECTION = "features/a_section.feature"


def tree(pytester: pytest.Pytester) -> Path:
    pytester.makeconftest(CONFTEST)
    features = pytester.mkdir("features")
    (features / "a_section.feature").write_text(textwrap.dedent(FEATURE))
    (features / "test_binding.py").write_text(BINDING)
    return pytester.path / "out"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "features",
        "-p",
        "no:cacheprovider",
        "--page-report-dir",
        "out",
        "--junitxml",
        "out/junit.xml",
        *JUNIT,
        *args,
    )


def verdicts(out: Path) -> dict[str, str]:
    summary = json.loads((out / "summary.json").read_text())
    return {key: entry["verdict"] for key, entry in summary["scenarios"].items()}


def test_a_run_with_nothing_selected_says_in_every_report_that_it_stopped(
    pytester: pytest.Pytester,
) -> None:
    out = tree(pytester)
    assert run(pytester).ret == 0
    result = run(pytester, "-k", "nosuchscenario")
    reason = "no scenario was selected (-k nosuchscenario)"
    result.stdout.fnmatch_lines(
        [f"egress-conformance: the run stopped before any scenario: {reason}"]
    )
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["run_state"], summary["stop_reason"]) == ("stopped", reason)
    assert set(verdicts(out).values()) == {"not run"}
    assert f"Run: STOPPED before any scenario: {reason}" in (out / "page.md").read_text()
    assert "run-incomplete" in (out / "page.html").read_text()
    junit = (out / "junit.xml").read_text()
    assert 'errors="1"' in junit and reason in junit  # not a green "0 tests"
    # the stopped run is no previous to compare with: the full run before it stays
    assert json.loads((out / "summary.previous.json").read_text())["run_state"] == "complete"


def test_a_selection_is_not_selected_not_a_change_and_an_outline_is_its_rows(
    pytester: pytest.Pytester,
) -> None:
    out = tree(pytester)
    assert run(pytester).ret == 0
    full = verdicts(out)
    assert full == {
        f"{SECTION} :: The mode is the default": "passed",
        f"{SECTION} :: The mode holds after automatic injection": "passed",
        f"{SECTION} :: The mode holds after manual injection": "passed",
    }
    result = run(pytester, "-k", "automatic")
    result.stdout.fnmatch_lines(
        ["No claim changed since the previous run*2 scenario(s) not compared*"]
    )
    picked = verdicts(out)
    assert set(picked) == set(full)  # no "<injection>" template beside its rows
    assert picked[f"{SECTION} :: The mode holds after manual injection"] == "not selected"
    assert (
        "Run: complete, but a selection (-k automatic): 2 scenario(s)"
        in (out / "page.md").read_text()
    )
    again = run(pytester)
    again.stdout.fnmatch_lines(["No claim changed since the previous run*"])
    assert "claim(s) changed" not in again.stdout.str()


@pytest.mark.root  # the local backend's preflight checks root before the options
def test_a_refused_option_stops_in_one_line_and_touches_no_report(
    pytester: pytest.Pytester,
) -> None:
    out = tree(pytester)
    assert run(pytester).ret == 0
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    for option in (["--istio-version", "9.9"], ["--local-sites", "/nonexistent"]):
        result = run(pytester, "--cluster", "local", *option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        errors = [line for line in result.stderr.lines if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("ERROR: egress-conformance: local"), errors
        assert option[1] in errors[0]
        assert "test session starts" not in result.stdout.str()
    after = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    assert after == before


def test_collect_only_is_no_run_and_touches_no_report(pytester: pytest.Pytester) -> None:
    out = tree(pytester)
    assert run(pytester).ret == 0
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    collected = pytester.runpytest_subprocess(
        "features", "-p", "no:cacheprovider", "--page-report-dir", "out", "--collect-only"
    )
    assert collected.ret == 0
    after = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    assert after == before
    assert not (pytester.path / "reports").exists()  # no default report written either


BROKEN_MESH = f"""
from clusters.fake import backend as fake
from clusters.protocol import ClusterError

pytest_plugins = {PLUGINS!r}


def refuse(options):
    raise ClusterError("the mesh could not start: istiod exited (status 1)")


object.__setattr__(fake.BACKEND, "start", refuse)  # the fake backend, broken for this run
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_mesh_that_cannot_start_stops_the_run_in_one_line(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """What the preflight cannot foresee: the first scenario errors with the line, the
    run stops (under xdist too, where a worker's pytest.exit was an INTERNALERROR with
    no line at all), exits 4, and every report says why."""
    out = tree(pytester)
    pytester.makeconftest(BROKEN_MESH)
    result = run(pytester, "--cluster", "fake", *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = "fake backend: the mesh could not start: istiod exited (status 1)"
    result.stdout.fnmatch_lines(
        [f"egress-conformance: the run stopped before any scenario: {line}"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["run_state"], summary["stop_reason"]) == ("stopped", line)
    assert f"Run: STOPPED before any scenario: {line}" in (out / "page.md").read_text()
    junit = (out / "junit.xml").read_text()
    assert 'errors="0"' not in junit and line in junit
