"""The page report's layout, on synthetic scenario records."""

import datetime
from html.parser import HTMLParser

from fixtures.records import PLATFORM, ScenarioRecord, StepRecord
from fixtures.render import anchor, build_sections, page_text, render_html, render_markdown
from fixtures.report import PageReport


def record(name, feature_file, tag, outcome, *, line=1, skip_kind=None, reason=None, steps=()):
    return ScenarioRecord(
        nodeid=f"features/test_egress_control.py::{name}",
        feature=f"Section of {feature_file}",
        feature_file=feature_file,
        feature_description="What the page says here.",
        name=name,
        description=f"The page claims {name}.",
        line=line,
        tags=[tag],
        steps=list(steps),
        outcome=outcome,
        reason=reason,
        skip_kind=skip_kind,
        duration=1.5,
    )


CURL = StepRecord(
    keyword="When",
    text='the source pod runs "curl -I https://www.google.com"',
    line=9,
    status="passed",
    page_command="kubectl exec -it $SOURCE_POD -c sleep -- curl -I https://www.google.com",
    page_output="HTTP/2 200",
    ran="in the source pod: curl -I https://www.google.com --no-progress-meter",
    observed="HTTP/2 200\ncontent-type: text/html",
    exit_code=0,
    elapsed=0.031,
    duration=0.05,
)

RECORDS = [
    record(
        "blocked",
        "features/03_blocking.feature",
        "doc-blocking-by-default",
        "failed",
        reason="the command exited with 0, not 35",
    ),
    record("suite", "features/90_validation.feature", "suite-validation", "passed"),
    record(
        "passthrough",
        "features/02_envoy.feature",
        "doc-envoy-passthrough",
        "passed",
        line=20,
        steps=[CURL, StepRecord("Then", "never reached", 10)],
    ),
    record(
        "configmap",
        "features/02_envoy.feature",
        "doc-envoy-passthrough",
        "outdated",
        line=10,
        reason="observed: the configmap has no mode line",
    ),
    record(
        "icp",
        "features/08_direct.feature",
        "doc-direct-access",
        "skipped",
        skip_kind=PLATFORM,
        reason="this mesh is not an IBM Cloud Private cluster",
    ),
]


def test_sections_follow_the_page_then_the_suite():
    sections = build_sections(RECORDS)
    assert [s.tag for s in sections] == [
        "doc-envoy-passthrough",
        "doc-blocking-by-default",
        "doc-direct-access",
        "suite-validation",
    ]
    assert [r.name for r in sections[0].scenarios] == ["configmap", "passthrough"]


def test_summary_counts_each_kind_of_outcome():
    rows = {s.tag: s.summary for s in build_sections(RECORDS)}
    envoy = rows["doc-envoy-passthrough"]
    assert (envoy.scenarios, envoy.passed, envoy.failed, envoy.outdated) == (2, 1, 0, 1)
    assert rows["doc-blocking-by-default"].failed == 1
    assert rows["doc-direct-access"].skipped_platform == 1
    assert rows["doc-direct-access"].skipped_other == 0


def test_markdown_shows_page_command_run_and_verdicts():
    text = render_markdown(RECORDS, {"backend": "local"}, "2026-01-01 00:00:00 UTC")
    assert text.index("## Section of features/02_envoy.feature") < text.index(
        "## Section of features/03_blocking.feature"
    )
    link = "[Section of features/02_envoy.feature](#section-of-features02_envoyfeature)"
    assert f"| {link} | 2 | 1 | 0 | 1 | 0 | 0 |" in text
    assert "| **Total** | 5 | 2 | 1 | 1 | 1 | 0 |" in text
    assert "page: `kubectl exec -it $SOURCE_POD -c sleep -- curl -I https://www.google.com`" in text
    assert "ran: `in the source pod: curl -I https://www.google.com --no-progress-meter`" in text
    assert "   - exit code 0, command took 0.03 s" in text
    assert "**Then** never reached — · not run" in text
    assert "🕰️ outdated: observed: the configmap has no mode line" in text
    assert "> The page claims passthrough." in text
    assert "*The suite's own check; not a section of the page.*" in text
    assert "Mesh under test: backend: local." in text


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "br"):
            self.open.append(tag)
        self.ids += [value for name, value in attrs if name == "id"]

    def handle_endtag(self, tag):
        assert self.open.pop() == tag


def test_html_is_well_formed_escaped_and_linked():
    text = render_html(RECORDS, {"note": "<b>"}, "now")
    parser = _Collector()
    parser.feed(text)
    assert parser.open == []
    assert "&lt;b&gt;" in text and "<b><b>" not in text
    assert anchor("Section of features/02_envoy.feature") in parser.ids
    assert 'href="#section-of-features02_envoyfeature"' in text
    assert "$SOURCE_POD" in text


def test_page_text_lists_only_what_the_page_says():
    assert page_text(StepRecord("Then", "x", 1)) == ""
    text = page_text(CURL)
    assert text.startswith("page: kubectl exec")
    assert "page shows:" in text and "observed" not in text  # the run has its own


def test_records_survive_serialisation():
    assert ScenarioRecord.from_dict(RECORDS[2].to_dict()) == RECORDS[2]


def test_page_report_writes_nothing_without_scenarios(tmp_path):
    assert PageReport(tmp_path / "reports").write() == []
    assert not (tmp_path / "reports").exists()


def test_page_report_keeps_the_last_record_of_a_scenario(tmp_path):
    class Report:
        nodeid = RECORDS[0].nodeid

    report = PageReport(tmp_path)
    first, second = Report(), Report()
    first.egress_scenario = RECORDS[0].to_dict()
    second.egress_scenario = {**RECORDS[0].to_dict(), "outcome": "error", "reason": "teardown"}
    second.egress_environment = {"backend": "local"}
    report.add(first)
    report.add(second)
    written = report.write(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    assert [p.name for p in written] == ["page.md", "page.html", "summary.json"]
    markdown = (tmp_path / "page.md").read_text()
    assert "Generated 2026-01-01 00:00:00 UTC." in markdown
    assert "error: teardown" in markdown


def test_an_incomplete_run_is_never_shown_as_a_plain_pass() -> None:
    from fixtures.render import render_html, render_markdown
    from fixtures.report import CRASHED, INTERRUPTED, RunState

    missing = ["features/05_external_https_service.feature:50 A host stays blocked"]
    for state in (INTERRUPTED, CRASHED):
        markdown = render_markdown([], {}, "now", RunState(state, missing))
        assert f"Run: {state.upper()}: 1 scenario(s) of the features never ran" in markdown
        assert f"- not run: {missing[0]}" in markdown
        assert 'class="run-incomplete"' in render_html([], {}, "now", RunState(state, missing))
    complete = render_markdown([], {}, "now", RunState())
    assert "Run: complete; every scenario of the features ran." in complete
    selection = render_markdown([], {}, "now", RunState(not_run=missing))
    assert "Run: complete, but a selection: 1 scenario(s)" in selection


def test_the_features_define_the_expected_scenarios() -> None:
    from pathlib import Path

    from fixtures.report import scenarios_in

    expected = scenarios_in(Path(__file__).parent.parent / "features")
    assert len(expected) >= 30
    files = {scenario.file for scenario in expected}
    assert expected[0].feature == "Before you begin" and expected[0].line > 1
    assert "features/egress-control/01_before_you_begin.feature" in files
    assert "features/egress-control/10_cleanup.feature" in files


def test_html_verdicts_are_badges_with_words_not_emoji() -> None:
    from fixtures.render import MARKS, render_html

    records = [
        record("reach httpbin", "features/04_x.feature", "doc-http-service-entry", "passed"),
        record("a mixer log", "features/04_x.feature", "doc-http-service-entry", "skipped"),
    ]
    page = render_html(records, {}, "now")
    assert not any(mark in page for mark in MARKS.values() if mark != "·")
    assert '<span class="badge badge-passed">passed</span>' in page
    assert '<span class="badge badge-skipped">skipped</span>' in page
