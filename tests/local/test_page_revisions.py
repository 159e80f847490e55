"""``pytest features/ --page PATH``: the suite on revisions of the page, as a docs reviewer
runs it on a pull request. Each revision is the seed page edited one way, made here at
test time (never committed: it holds the page's prose), and run on the embedded mesh.

A changed block runs from its new text (a new timeout, host or status line is what gets
tested) and marks its scenario; a new block that nothing binds fails; a gone block fails
the scenario bound to it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.seed_page import ROOT, insert_after, remove_lines, replace_line, seed_text

ADDED_BLOCK = """    {{< text bash >}}
    $ kubectl exec -it $SOURCE_POD -c sleep -- curl -I https://www.google.com/about | grep "HTTP/"
    HTTP/2 200
    {{< /text >}}
"""


@dataclass(frozen=True)
class Edit:
    name: str
    edit: Callable[[str], str]
    select: str  # pytest -k: the scenarios the edit touches (a run of all would take long)


EDITS = [
    Edit(
        "timeout",
        lambda page: replace_line(page, 261, "timeout: 3s", "timeout: 1s"),
        "timeout_of_3_s",
    ),
    Edit(
        "host",
        lambda page: replace_line(page, 136, "- httpbin.org", "- httpbin.example"),
        "reach_httpbinorg_through",
    ),
    Edit(
        "status",
        lambda page: replace_line(page, 208, "HTTP/2 200", "HTTP/1.1 200 OK"),
        "reach_wwwgooglecom_over_https",
    ),
    Edit("added", lambda page: insert_after(page, 210, ADDED_BLOCK), "reach_wwwgooglecom or block"),
    Edit("removed", lambda page: remove_lines(page, 166, 170), "logs_the_request_to_httpbinorg"),
]

pytestmark = pytest.mark.root


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    summary: dict
    junit: ET.Element
    page_md: str

    def scenario(self, name: str) -> dict:
        found = [v for k, v in self.summary["scenarios"].items() if k.endswith(f":: {name}")]
        assert found, f"no scenario {name!r} in summary.json: {list(self.summary['scenarios'])}"
        return found[0]


def run_on(page: Path, select: str, reports: Path) -> Run:
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "features/", "--page", str(page), "-k", select,
            "-p", "no:cacheprovider", "-q", "--page-report-dir", str(reports),
            "--junitxml", str(reports / "junit.xml"), "--html", str(reports / "c.html"),
            "--alluredir", str(reports / "allure-results"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert (reports / "summary.json").exists(), output[-3000:]
    return Run(
        done.returncode,
        output,
        json.loads((reports / "summary.json").read_text()),
        ET.parse(reports / "junit.xml").getroot(),
        (reports / "page.md").read_text(),
    )


@pytest.fixture(scope="module", params=EDITS, ids=lambda edit: edit.name)
def edited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Run]:
    edit: Edit = request.param
    directory = tmp_path_factory.mktemp(f"page-{edit.name}")
    page = directory / "index.md"
    page.write_text(edit.edit(seed_text()), encoding="utf-8")
    return edit.name, run_on(page, edit.select, directory / "reports")


def test_each_edit_gives_its_verdict(edited: tuple[str, Run]) -> None:
    name, run = edited
    tail = run.output[-2500:]
    if name == "timeout":
        verdict = run.scenario("A VirtualService timeout of 3 s cuts a 5 s request short with 504")
        assert verdict["verdict"] == "failed", tail
        assert "outside 2.8–4.4 s" in verdict["reason"], verdict["reason"]  # the 1 s timeout ran
        assert 251 in verdict["page"]["changed"], verdict["page"]
        assert "the page changed here since this scenario was written (line 251)" in run.page_md
    elif name == "host":
        verdict = run.scenario(
            "The ServiceEntry lets the pod reach httpbin.org through the sidecar"
        )
        assert verdict["verdict"] == "failed", tail
        assert "502" in verdict["reason"], verdict["reason"]  # httpbin.org has no ServiceEntry now
        assert 128 in verdict["page"]["changed"]
    elif name == "status":
        verdict = run.scenario("The ServiceEntry lets the pod reach www.google.com over HTTPS")
        assert verdict["verdict"] == "failed", tail
        assert "HTTP/1.1 200 OK" in verdict["reason"], verdict["reason"]
        assert "restatement stale" in run.page_md
        # the page's own command and output beside the step, and the line it is on
        command = "kubectl exec -it $SOURCE_POD -c sleep -- curl -I https://www.google.com"
        assert command in run.page_md
        assert "page line 207" in run.page_md
    elif name == "added":
        assert run.returncode == 1, tail
        verdict = run.scenario("The ServiceEntry lets the pod reach www.google.com over HTTPS")
        assert verdict["verdict"] == "passed", tail  # every other block matched as before
        unbound = run.scenario("The page's block at line 211 is checked by a scenario")
        assert unbound["verdict"] == "failed"
        assert "no scenario checks the page's block at line 211" in unbound["reason"]
        cases = [c.get("name") for c in run.junit.iter("testcase")]
        assert "block at line 211" in cases, cases
        lines = [b["line"] for b in run.summary["page"]["not_executed"]]
        assert 211 in lines, run.summary["page"]
        assert "no scenario checks the page's block at line 211" in run.output
    elif name == "removed":
        verdict = run.scenario("The sidecar logs the request to httpbin.org")
        assert verdict["verdict"] == "failed", tail
        assert "the page no longer has this step" in verdict["reason"], verdict["reason"]
    # Whatever the edit, the run's last line is the page's coverage.
    assert run.output.rstrip().splitlines()[-1].startswith("page blocks: "), tail
