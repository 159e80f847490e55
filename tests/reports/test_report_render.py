"""The page report's layout, on synthetic scenario records: a scenario's unit is the
page's block (its command and output beside what the release printed, the verdict, the
link to its line, the proposed lines), the suite's own calls folded away."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser

from fixtures.records import PLATFORM, ScenarioRecord, StepRecord
from fixtures.reports import page_view, summary_json
from fixtures.reports.outcome import RunOutcome
from fixtures.reports.render import CSS, SCENARIO_CSS, render_html, render_markdown, scenario_html
from fixtures.reports.view import (
    MARKS,
    anchor,
    build_sections,
    dollar_lines,
    page_text,
    scenario_view,
)

GITHUB = "https://github.com/istio/istio.io/blob/abc123/content/egress/index.md"
SECTION = "https://istio.io/v1.1/docs/egress/#envoy-passthrough"
DIRECT = "https://istio.io/v1.1/docs/egress/#direct-access"
POD = "sleep-1: ready, containers sleep, istio-proxy, labels app=sleep, injection automatic"


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


def on_page(step: StepRecord, block: str, line: int, section: str = SECTION) -> StepRecord:
    return replace(
        step, block=block, page_line=line, page_source=f"{GITHUB}#L{line}", page_section=section
    )


SET_UP = StepRecord(
    "Given",
    "the sleep pod is running with a sidecar",
    8,
    status="passed",
    ran="cluster.source_pod()",
    observed=POD,
    duration=0.01,
)
CURL_COMMAND = "kubectl exec -it $SOURCE_POD -c sleep -- curl -I https://www.google.com"
CURL = on_page(
    StepRecord(
        keyword="When",
        text='the source pod runs "curl -I https://www.google.com" [block envoy-passthrough.3]',
        line=9,
        status="passed",
        page_command=CURL_COMMAND,
        page_output="HTTP/2 200",
        ran="in the source pod: curl -I https://www.google.com --no-progress-meter",
        observed="HTTP/2 200\ncontent-type: text/html",
        stdout="HTTP/2 200\ncontent-type: text/html\n",
        stderr="* Connected to www.google.com (203.0.113.11) port 443\n",
        exit_code=0,
        elapsed=0.031,
        attempts=2,
        duration=0.05,
        literal="matched: as the page shows",
        literal_ran=CURL_COMMAND,
        literal_output="HTTP/2 200 \n",
        literal_at=[78, 1],
    ),
    "envoy-passthrough.3",
    78,
)
STATUS_LINE = on_page(
    StepRecord(
        "And",
        'the response status line is "HTTP/2 200" [block envoy-passthrough.3]',
        10,
        status="passed",
        page_command=CURL_COMMAND,
        page_output="HTTP/2 200",
        observed="HTTP/2 200",
        duration=0.0,
    ),
    "envoy-passthrough.3",
    79,
)

# The page's kubectl exec without "--", which kubectl 1.31 refuses: a drift record
# explains it and knows today's form of the command, and what that printed.
OLD_EXEC = "kubectl exec -it $SOURCE_POD -c sleep curl http://httpbin.org/headers"
PAGE_HEADERS = """{
  "headers": {
    "Accept": "*/*",
    "Connection": "close",
    "Host": "httpbin.org"
  }
}"""
PRINTED_HEADERS = '{\n  "headers": {\n    "Accept": "*/*",\n    "Host": "httpbin.org"\n  }\n}\n'
DRIFT = "observed: kubectl exec takes the command after `--` only (since kubectl 1.31)"
REFUSED = on_page(
    StepRecord(
        "And",
        'the source pod runs "curl http://httpbin.org/headers" [block direct-access.1]',
        12,
        status="passed",
        page_command=OLD_EXEC,
        page_output=PAGE_HEADERS,
        ran="in the source pod: curl http://httpbin.org/headers",
        observed="HTTP status 200",
        literal="failed: exit code 1: See 'kubectl exec -h' for help and examples",
        literal_ran=OLD_EXEC,
        literal_output="error: exec [POD] [COMMAND] is not supported anymore\n",
        literal_diff="--- the page\n+++ printed\n@@ -1 +1 @@\n-{\n+error: exec",
        drift=DRIFT,
        literal_at=[378, 1],
        proposed_command="kubectl exec -it $SOURCE_POD -c sleep -- curl http://httpbin.org/headers",
        proposed_output=PRINTED_HEADERS,
        duration=0.2,
    ),
    "direct-access.1",
    378,
    DIRECT,
)
# A step the scenario never reached: no record of its block, but its sentence names it.
UNREACHED = StepRecord("Then", "it prints what the page shows [block direct-access.2]", 13)

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
        steps=[SET_UP, CURL, STATUS_LINE],
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
OUTDATED_RECORD = replace(
    record(
        "exec without --",
        "features/08_direct.feature",
        "doc-direct-access",
        "outdated",
        line=30,
        reason=f"line 378: {DRIFT}",
        steps=[SET_UP, REFUSED, UNREACHED],
    ),
    page={
        "blocks": [{"id": "direct-access.1", "line": 377}, {"id": "direct-access.2", "line": 390}]
    },
)


# A few lines of DOM, enough to ask the page view where an element is.


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def find(self, selector: str) -> list[Node]:
        """Descendants matching ``tag.class`` (either part may be left out)."""
        tag, _, cls = selector.partition(".")
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (not tag or child.tag == tag) and (not cls or cls in child.classes):
                    found.append(child)
                found += child.find(selector)
        return found

    def one(self, selector: str) -> Node:
        (node,) = self.find(selector)
        return node

    def inside(self, tag: str) -> bool:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node is not None


VOID = {"meta", "br", "link", "img", "hr", "input"}


class _Tree(HTMLParser):
    """Builds the DOM, and fails on a tag closed out of order (well-formedness)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#root", {})
        self.at = self.root
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {name: value or "" for name, value in attrs}, parent=self.at)
        self.at.children.append(node)
        self.ids += [value for name, value in attrs if name == "id" and value]
        if tag not in VOID:
            self.at = node

    def handle_endtag(self, tag):
        assert self.at.tag == tag, f"</{tag}> closes <{self.at.tag}>"
        assert self.at.parent is not None
        self.at = self.at.parent

    def handle_data(self, data):
        self.at.children.append(data)


def dom(html: str) -> _Tree:
    tree = _Tree()
    tree.feed(html)
    assert tree.at is tree.root, f"<{tree.at.tag}> is never closed"
    return tree


def scenario_node(html: str, name: str) -> Node:
    sections = dom(html).root.find("section.scenario")
    return next(s for s in sections if name in s.one("h3").text)


def outside_details(markdown: str) -> str:
    return re.sub(r"<details>.*?</details>", "", markdown, flags=re.S)


# Sections and counts


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
    rows = {s.tag: s.summary for s in build_sections([*RECORDS, OUTDATED_RECORD])}
    envoy = rows["doc-envoy-passthrough"]
    assert (envoy.scenarios, envoy.passed, envoy.failed, envoy.outdated) == (2, 1, 0, 1)
    assert rows["doc-blocking-by-default"].failed == 1
    direct = rows["doc-direct-access"]
    assert (direct.skipped_platform, direct.skipped_other, direct.outdated) == (1, 0, 1)


# The scenario's unit: the page's blocks, in the page's order


def test_steps_are_grouped_by_block_in_the_page_order():
    later_first = record(
        "x", "features/02_envoy.feature", "doc-envoy-passthrough", "passed", steps=[]
    )
    later_first.steps = [STATUS_LINE, SET_UP, on_page(CURL, "envoy-passthrough.1", 60), CURL]
    view = scenario_view(later_first)
    assert [(e.block, e.line) for e in view.entries] == [
        ("envoy-passthrough.1", 60),
        ("envoy-passthrough.3", 78),  # its command's line, before its output's (79)
    ]
    assert view.entries[1].steps == [STATUS_LINE, CURL]
    assert view.own_steps == [SET_UP]
    (command,) = view.entries[1].commands  # both steps took the same command
    assert command.literal is CURL and command.page_output == "HTTP/2 200"


def test_a_step_never_reached_is_listed_under_the_block_it_names():
    view = scenario_view(OUTDATED_RECORD)
    assert [(e.block, e.line, e.status) for e in view.entries] == [
        ("direct-access.1", 378, "outdated"),
        ("direct-access.2", 390, "not run"),  # the block's line, from the scenario's page
    ]
    assert view.entries[1].commands == []


def test_a_block_is_failed_by_a_difference_nothing_explains():
    unexplained = replace(REFUSED, drift="unexplained: no drift record of this block explains it")
    failed_later = replace(STATUS_LINE, status="failed", block="direct-access.1")
    outdated = scenario_view(replace(OUTDATED_RECORD, steps=[REFUSED, failed_later]))
    assert outdated.entries[0].status == "outdated"  # the drift explains the later failure
    failed = scenario_view(replace(OUTDATED_RECORD, steps=[unexplained]))
    assert failed.entries[0].status == "failed"


def test_commands_read_as_the_page_writes_them():
    heredoc = "kubectl apply -f - <<EOF\nkind: ServiceEntry\nEOF\nkubectl get se"
    assert dollar_lines(heredoc).splitlines() == [
        "$ kubectl apply -f - <<EOF",
        "kind: ServiceEntry",  # the heredoc's body, and its terminator, as they are
        "EOF",
        "$ kubectl get se",
    ]
    shell = "kubectl exec -it $SOURCE_POD -c sleep sh\ntime curl -o /dev/null http://httpbin.org"
    assert dollar_lines(shell).splitlines() == [f"$ {line}" for line in shell.splitlines()]
    assert dollar_lines("helm template x \\\n  --set a=b") == "$ helm template x \\\n  --set a=b"


def test_the_proposal_is_the_blocks_lines_as_a_small_diff():
    (entry, _) = scenario_view(OUTDATED_RECORD).entries
    (command,) = entry.commands
    assert command.proposal == [
        ("-", f"$ {OLD_EXEC}"),
        ("+", "$ kubectl exec -it $SOURCE_POD -c sleep -- curl http://httpbin.org/headers"),
        (" ", "{"),
        (" ", '  "headers": {'),
        (" ", '    "Accept": "*/*",'),
        ("-", '    "Connection": "close",'),
        (" ", '    "Host": "httpbin.org"'),
        (" ", "  }"),
        (" ", "}"),
    ]
    (matched,) = scenario_view(RECORDS[2]).entries[0].commands
    assert matched.proposal == []  # nothing proposed where the page holds


# Markdown


def test_markdown_keeps_the_header_the_summary_and_the_verdicts():
    text = render_markdown(RECORDS, {"backend": "local"}, "2026-01-01 00:00:00 UTC")
    assert text.index("## Section of features/02_envoy.feature") < text.index(
        "## Section of features/03_blocking.feature"
    )
    link = "[Section of features/02_envoy.feature](#section-of-features02_envoyfeature)"
    assert f"| {link} | 2 | 1 | 0 | 1 | 0 | 0 |" in text
    assert "| **Total** | 5 | 2 | 1 | 1 | 1 | 0 |" in text
    assert "### 🕰️ configmap" in text
    assert "🕰️ outdated: observed: the configmap has no mode line" in text
    assert "> The page claims passthrough." in text
    assert "*The suite's own check; not a section of the page.*" in text
    assert "Mesh under test: backend: local." in text


def test_markdown_shows_a_block_as_the_page_writes_it_beside_what_was_printed():
    text = render_markdown(RECORDS, {}, "now")
    entry = text[text.index("#### ✅ [page line 78]") :]
    assert entry.startswith(
        f"#### ✅ [page line 78]({GITHUB}#L78) · block `envoy-passthrough.3` · "
        f"[#envoy-passthrough]({SECTION})\n"
    )
    assert f"The page:\n\n```console\n$ {CURL_COMMAND}\nHTTP/2 200\n```" in entry
    printed = "```text\nHTTP/2 200 \n```"
    assert f"Run as written: **matched: as the page shows**; it printed:\n\n{printed}" in entry
    steps = (
        '- **When** the source pod runs "curl -I https://www.google.com" — ✅ passed (0.05 s)\n'
        '- **And** the response status line is "HTTP/2 200" — ✅ passed (0.00 s)\n'
    )
    assert steps in entry
    assert entry.index("```console") < entry.index("Run as written") < entry.index(steps)


def test_markdown_folds_the_suites_calls_and_set_up_into_details():
    text = render_markdown(RECORDS, {}, "now")
    summary = "<details><summary>The suite's calls for this block (2 steps)</summary>"
    calls = text[text.index(summary) :]
    calls = calls[: calls.index("</details>")]
    assert "- ran: `in the source pod: curl -I https://www.google.com --no-progress-meter`" in calls
    assert "   - exit code 0, command took 0.03 s, 2 attempts" in calls
    assert "- stderr: `* Connected to www.google.com (203.0.113.11) port 443`" in calls
    assert "stdout" not in calls  # what observed already shows
    own = text[text.index("<details><summary>The suite's own steps, not on the page (1 passed)") :]
    assert own.index(f"- observed: `{POD}`") < own.index("</details>")
    main = outside_details(text)
    assert "cluster.source_pod()" not in main and POD not in main
    assert "in the source pod:" not in main


def test_markdown_shows_an_outdated_block_with_its_drift_and_proposal():
    text = render_markdown([OUTDATED_RECORD], {}, "now")
    assert "### 🕰️ exec without --" in text
    assert f"**Verdict:** 🕰️ outdated: line 378: {DRIFT} (1.50 s)" in text
    entry = text[text.index("#### 🕰️ [page line 378]") :]
    assert "Run as written: **failed: exit code 1: See 'kubectl exec -h'" in entry
    assert "```text\nerror: exec [POD] [COMMAND] is not supported anymore\n```" in entry
    assert f"Drift: {DRIFT}" in entry
    proposal = (
        "Proposed for the page:\n\n```diff\n"
        f"-$ {OLD_EXEC}\n"
        "+$ kubectl exec -it $SOURCE_POD -c sleep -- curl http://httpbin.org/headers\n"
        ' {\n   "headers": {\n     "Accept": "*/*",\n-    "Connection": "close",\n'
    )
    assert proposal in entry
    diff = entry[entry.index("<details><summary>Line by line") :]
    assert diff.index("+error: exec") < diff.index("</details>")
    assert "#### · page line 390 · block `direct-access.2`" in text
    assert "- **Then** it prints what the page shows — · not run" in text


def test_markdown_never_shows_an_unfolded_call_of_the_suite():
    """A record with no page (a run without a page unit): every step is the suite's own."""
    bare = replace(CURL, text='the source pod runs "curl -I https://www.google.com"', block=None)
    text = render_markdown(
        [record("bare", "features/02_envoy.feature", "doc-x", "passed", steps=[bare])], {}, "now"
    )
    assert "####" not in text
    assert "in the source pod: curl" in text
    assert "in the source pod: curl" not in outside_details(text)


# HTML


def test_html_is_well_formed_escaped_and_linked():
    text = render_html([*RECORDS, OUTDATED_RECORD], {"note": "<b>"}, "now")
    tree = dom(text)
    assert tree.root.one("style").text == CSS  # escaping leaves the stylesheet as it is
    assert "&lt;b&gt;" in text and "<b><b>" not in text
    assert anchor("Section of features/02_envoy.feature") in tree.ids
    assert 'href="#section-of-features02_envoyfeature"' in text
    assert "$SOURCE_POD" in text


def test_html_block_entry_has_the_page_beside_the_release_the_verdict_and_the_link():
    entry = scenario_node(render_html(RECORDS, {}, "now"), "passthrough").one("article.block")
    assert "block-passed" in entry.classes
    link = entry.one("h4.block-head").one("a.page-line")
    assert (link.attrs["href"], link.text) == (f"{GITHUB}#L78", "page line 78")
    assert entry.one("a.page-section").attrs["href"] == SECTION
    page_side, release_side = entry.one("div.sides").find("div.side")
    assert "page-side" in page_side.classes and "release-side" in release_side.classes
    assert page_side.one("span.command").text == f"$ {CURL_COMMAND}"
    assert page_side.one("span.page-output").text == "HTTP/2 200"
    assert release_side.one("span.literal").text == "matched: as the page shows"
    assert "literal-matched" in release_side.one("span.literal").classes
    assert release_side.one("pre.printed").text == "HTTP/2 200 \n"
    verdicts = [li.text for li in entry.one("ul.block-steps").find("li")]
    assert verdicts[0].startswith('passed When the source pod runs "curl -I https://www.google')
    assert "[block" not in " ".join(verdicts)  # the entry names the block once


def test_html_folds_the_suites_calls_into_details():
    scenario = scenario_node(render_html(RECORDS, {}, "now"), "passthrough")
    block_calls = scenario.one("article.block").one("details.suite-calls")
    assert block_calls.one("summary").text == "The suite's calls for this block (2 steps)"
    assert "in the source pod: curl -I" in block_calls.text
    assert "exit code 0, command took 0.03 s, 2 attempts" in block_calls.text
    own = [d for d in scenario.find("details.suite-calls") if d is not block_calls]
    (summary,) = [d.one("summary").text for d in own]
    assert summary == "The suite's own steps, not on the page (1 passed)"
    assert POD in own[0].text
    calls = [
        p for p in scenario.find("pre") if "cluster." in p.text or "in the source pod" in p.text
    ]
    assert calls and all(pre.inside("details") for pre in calls)


def test_html_shows_an_outdated_block_with_its_drift_and_proposed_lines():
    scenario = scenario_node(render_html([OUTDATED_RECORD], {}, "now"), "exec without --")
    assert "scenario-outdated" in scenario.classes
    assert scenario.one("h3").one("span.badge").text == "outdated"
    assert f"line 378: {DRIFT}" in scenario.find("p")[0].text
    entry, unreached = scenario.find("article.block")
    assert "block-outdated" in entry.classes
    assert entry.one("p.drift").text == f"Drift: {DRIFT}"
    assert "drift-observed" in entry.one("p.drift").classes
    lines = [(next(iter(s.classes)), s.text) for s in entry.one("pre.patch").find("span")]
    assert lines[:3] == [
        ("del", f"-$ {OLD_EXEC}"),
        ("ins", "+$ kubectl exec -it $SOURCE_POD -c sleep -- curl http://httpbin.org/headers"),
        ("ctx", " {"),
    ]
    assert ("del", '-    "Connection": "close",') in lines
    assert entry.one("details.literal-diff").one("pre").text.startswith("--- the page")
    assert "not reached" in unreached.text and "page line 390" in unreached.text


def test_html_keeps_a_failed_steps_diagnostics_outside_the_fold():
    failing = replace(
        SET_UP,
        status="failed",
        message="the mesh's mode is ALLOW_ANY",
        diagnostics=[["sidecar listeners", "virtualOutbound -> PassthroughCluster"]],
    )
    records = [record("d", "f/03.feature", "doc-x", "failed", steps=[failing])]
    (details,) = dom(render_html(records, {}, "now")).root.find("details.diagnostics")
    assert not details.inside("details")  # it opens on its own, not in the suite's fold
    assert details.one("h4").text == "sidecar listeners"
    markdown = render_markdown(records, {}, "now")
    shown = markdown.index("<details><summary>Diagnostics of the failed step (sidecar listeners)")
    assert markdown.index("virtualOutbound -> PassthroughCluster") > shown
    assert shown < markdown.index("<details><summary>The suite's own steps")


def test_pytest_htmls_block_carries_the_scenario_styles():
    html = scenario_html(RECORDS[2])
    tree = dom(html)
    assert tree.root.one("style").text.startswith(SCENARIO_CSS) and "<body" not in html
    assert ".scenario .sides {" in SCENARIO_CSS and ".scenario .failed" in SCENARIO_CSS
    rules = [line for line in SCENARIO_CSS.splitlines() if "{" in line]
    assert len(rules) > 20 and all(rule.startswith(".scenario ") for rule in rules)
    assert tree.root.one("section.scenario").find("article.block")


def test_html_verdicts_are_badges_with_words_not_emoji() -> None:
    records = [
        record("reach httpbin", "features/04_x.feature", "doc-http-service-entry", "passed"),
        record("a mixer log", "features/04_x.feature", "doc-http-service-entry", "skipped"),
        OUTDATED_RECORD,
    ]
    page = render_html(records, {}, "now")
    assert not any(mark in page for mark in MARKS.values() if mark != "·")
    assert '<span class="badge badge-passed">passed</span>' in page
    assert '<span class="badge badge-skipped">skipped</span>' in page
    assert '<span class="badge badge-outdated">outdated</span>' in page


# What the page says, as Allure attaches it; records; the report files


def test_page_text_lists_only_what_the_page_says():
    assert page_text(StepRecord("Then", "x", 1)) == ""
    text = page_text(CURL)
    assert text.startswith("page: kubectl exec")
    assert "page shows:" in text and "observed" not in text  # the run has its own


def test_records_survive_serialisation():
    assert ScenarioRecord.from_dict(RECORDS[2].to_dict()) == RECORDS[2]
    assert ScenarioRecord.from_dict(OUTDATED_RECORD.to_dict()) == OUTDATED_RECORD


def test_page_report_writes_nothing_without_scenarios(tmp_path):
    assert RunOutcome(tmp_path / "reports").finish() is None
    assert not (tmp_path / "reports").exists()


def test_page_report_keeps_the_last_record_of_a_scenario(tmp_path):
    class Report:
        nodeid = RECORDS[0].nodeid

    outcome = RunOutcome(tmp_path)
    first, second = Report(), Report()
    first.egress_scenario = RECORDS[0].to_dict()
    second.egress_scenario = {**RECORDS[0].to_dict(), "outcome": "error", "reason": "teardown"}
    second.egress_environment = {"backend": "local"}
    outcome.add(first)
    outcome.add(second)
    done = outcome.finish(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    assert done is not None
    written = [*page_view.write(outcome, done), summary_json.write(outcome, done)]
    assert [p.name for p in written] == ["page.md", "page.html", "summary.json"]
    markdown = (tmp_path / "page.md").read_text()
    assert "Generated 2026-01-01 00:00:00 UTC." in markdown
    assert "error: teardown" in markdown


def test_an_incomplete_run_is_never_shown_as_a_plain_pass() -> None:
    from fixtures.reports.outcome import CRASHED, INTERRUPTED, RunCompletion

    missing = ["features/05_external_https_service.feature:50 A host stays blocked"]
    for state in (INTERRUPTED, CRASHED):
        markdown = render_markdown([], {}, "now", RunCompletion(state, missing))
        assert f"Run: {state.upper()}: 1 scenario(s) of the features never ran" in markdown
        assert f"- not run: {missing[0]}" in markdown
        assert 'class="run-incomplete"' in render_html([], {}, "now", RunCompletion(state, missing))
    complete = render_markdown([], {}, "now", RunCompletion())
    assert "Run: complete; every scenario of the features ran." in complete
    selection = render_markdown([], {}, "now", RunCompletion(not_run=missing))
    assert "Run: complete, but a selection: 1 scenario(s)" in selection


def test_the_features_define_the_expected_scenarios() -> None:
    from pathlib import Path

    from fixtures.reports.outcome import scenarios_in

    expected = scenarios_in(Path(__file__).parents[2] / "features")
    assert len(expected) >= 30
    files = {scenario.file for scenario in expected}
    assert expected[0].feature == "Before you begin" and expected[0].line > 1
    assert "features/egress-control/01_before_you_begin.feature" in files
    assert "features/egress-control/10_cleanup.feature" in files
