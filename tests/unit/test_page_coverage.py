"""The page's coverage from the scenario records: executed, not executed with a reason
of the closed list, not reached, and unbound (which also fails the run)."""

from __future__ import annotations

from fixtures.coverage import NOT_REACHED, UNBOUND, compute
from fixtures.page import find_units, read, shipped
from fixtures.page_plugin import PageRun, bound_blocks
from fixtures.records import ScenarioRecord, StepRecord
from tests.seed_page import ROOT, insert_after, seed_text

UNIT = find_units(ROOT / "features")[0]
BOUND = bound_blocks(UNIT)


def record(*steps: StepRecord) -> ScenarioRecord:
    return ScenarioRecord(
        "n", "f", "features/egress-control/x.feature", "", "s", "", 1, [], list(steps)
    )


def step(block: str, executed: bool, reason: str | None = None) -> StepRecord:
    return StepRecord("When", "x", 1, block=block, executed=executed, not_executed=reason)


def test_the_shipped_page_has_every_block_bound() -> None:
    assert PageRun(shipped(UNIT), BOUND).unbound() == []


def test_executed_reasons_and_not_reached() -> None:
    page = shipped(UNIT)
    coverage = compute(
        page,
        BOUND,
        [
            record(step("开始之前.1", True)),
            record(step("ibm-cloud-private.1", False, "platform: not IBM Cloud Private")),
            record(step("访问外部-http-服务.4", False, "drift: Mixer was removed")),
            record(step("访问外部-http-服务.4", True)),  # executed once is executed
        ],
    )
    by_line = {block.line: block for block in coverage.blocks}
    assert len(coverage.blocks) == 28 and coverage.executed == 2
    assert by_line[20].executed and by_line[175].executed
    assert by_line[310].reason == by_line[316].reason == "platform: not IBM Cloud Private"
    assert by_line[26].reason == NOT_REACHED  # bound, but this run did not reach it
    assert coverage.line() == "page blocks: 28, executed 2, not executed 26"
    assert coverage.to_dict()["not_executed"][0]["line"] == 26


def test_a_new_block_is_unbound(tmp_path) -> None:
    revision = tmp_path / "index.md"
    block = "{{< text bash >}}\n$ kubectl get se\n{{< /text >}}\n"
    revision.write_text(insert_after(seed_text(), 11, block), encoding="utf-8")
    page = read(UNIT, revision)
    run = PageRun(page, BOUND)
    assert [item.block.line for item in run.unbound()] == [12]
    coverage = compute(page, BOUND, [])
    assert coverage.blocks[0].line == 12 and coverage.blocks[0].reason == UNBOUND
    assert len(coverage.blocks) == 29
