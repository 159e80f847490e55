"""The features restate the page: each bound step's docstring (the YAML it applies, the
log line it expects) is the text of the block it names, on the shipped page. The step
runs from the block's text, so a docstring that drifted would mislead only the reader:
this catches it before a run does."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd.feature import get_features

from fixtures.page import find_units, parts, shipped
from fixtures.page.manifests import page_manifest
from fixtures.page.refs import split_ref

ROOT = Path(__file__).resolve().parents[2]
UNIT = find_units(ROOT / "features")[0]
PAGE = shipped(UNIT)


def bound_docstrings() -> list[tuple[str, str, str]]:
    """(where, block part text, docstring) for every bound step with a docstring."""
    found = []
    for feature in get_features([str(UNIT.directory)]):
        steps = list(feature.background.steps) if feature.background else []
        steps += [step for scenario in feature.scenarios.values() for step in scenario._steps]
        for step in steps:
            ref = split_ref(step.name)[1]
            if ref is None or not step.docstring:
                continue
            match = PAGE.match(ref.id)
            assert match is not None and match.revised is not None, f"{ref} names no block"
            block = match.revised.block
            every = parts(block, PAGE.output_of(block))
            part = every[(ref.part or len(every)) - 1]
            command = next(c for c in block.commands if c.line == part.line)
            expected = command.heredoc if command.heredoc is not None else part.output
            found.append(
                (f"{Path(feature.filename).name}:{step.line_number}", expected, step.docstring)
            )
    return found


CASES = bound_docstrings()


def test_there_are_docstrings_to_check() -> None:
    assert len(CASES) >= 8, CASES  # three ServiceEntries, VirtualServices, two log lines


@pytest.mark.parametrize(("where", "expected", "docstring"), CASES, ids=[c[0] for c in CASES])
def test_a_bound_docstring_is_the_pages_text(where: str, expected: str, docstring: str) -> None:
    assert docstring.strip() == expected.strip(), f"{where} restates the page's block otherwise"


def test_the_pages_manifests_are_found_by_resource() -> None:
    text = page_manifest("ServiceEntry", "httpbin-ext")
    assert "- httpbin.org" in text and text.endswith("MESH_EXTERNAL\n")
    with pytest.raises(LookupError, match="the page applies no ServiceEntry 'nope'"):
        page_manifest("ServiceEntry", "nope")
