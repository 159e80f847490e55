"""reports/page.patch from a run's records: the steps' proposals, applied to the --page
revision, as a patch git accepts from the top of the checkout holding the page.

The page is the seed, read at test time and committed into a scratch checkout; the
outputs are recorded from kind (Istio 1.30, kubectl 1.34)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fixtures.page import find_units, read
from fixtures.records import ScenarioRecord, StepRecord
from fixtures.reports import page_patch
from tests.seed_page import CHECKOUT_PAGE as PAGE_PATH
from tests.seed_page import ROOT, seed_checkout

SED_LINE = 107  # the configmap's sed to REGISTRY_ONLY
REPLACED = "configmap/istio replaced\n"


def checkout(tmp_path: Path) -> Path:
    return seed_checkout(tmp_path)


def step(line: int, part: int, *, output: str | None, command: str | None = None) -> StepRecord:
    done = StepRecord("When", "the page's command is run as written", 5, literal="differed: x")
    done.literal_at = [line, part]
    done.proposed_output, done.proposed_command = output, command
    done.drift = "observed: …"
    return done


def scenario(*steps: StepRecord) -> ScenarioRecord:
    return ScenarioRecord("n", "f", "features/x.feature", "", "s", "", 1, [], list(steps))


def test_the_patch_applies_from_the_checkout_top_and_proposes_each_part(tmp_path: Path) -> None:
    top = checkout(tmp_path)
    unit = find_units(ROOT / "features")[0]
    page = read(unit, top / PAGE_PATH)
    istioctl = (
        "istioctl install <the flags you used to install Istio> "
        "--set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY"
    )
    records = [
        scenario(step(SED_LINE, 1, output=REPLACED)),  # after the suite switched the mode
        scenario(step(SED_LINE, 1, output="", command=istioctl)),  # on a fresh install: wins
        scenario(step(SED_LINE, 1, output=REPLACED)),
    ]
    written = page_patch.write(tmp_path / "reports", page, records, tmp_path)
    assert written is not None
    diff = written.read_text()
    assert diff.startswith(f"diff --git a/{PAGE_PATH} b/{PAGE_PATH}\n")
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and line[1:2] != "+"]
    assert added == [f"    $ {istioctl}"]
    check = subprocess.run(
        ["git", "apply", "--check", str(written)], cwd=top, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_no_proposal_removes_an_earlier_patch(tmp_path: Path) -> None:
    top = checkout(tmp_path)
    page = read(find_units(ROOT / "features")[0], top / PAGE_PATH)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / page_patch.PATCH).write_text("an earlier run's\n")
    assert page_patch.write(reports, page, [scenario()], tmp_path) is None
    assert not (reports / page_patch.PATCH).exists()


def test_the_shipped_page_has_no_markdown_to_patch(tmp_path: Path) -> None:
    from fixtures.page import shipped

    page = shipped(find_units(ROOT / "features")[0])
    records = [scenario(step(SED_LINE, 1, output=REPLACED))]
    assert page_patch.write(tmp_path, page, records, tmp_path) is None
