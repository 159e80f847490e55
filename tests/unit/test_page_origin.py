"""Where a verdict links to: the page's line on GitHub at the commit that has it, or
``path:line``; and the section's URL where that revision is published."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from fixtures.page import find_units, read, shipped
from tests.seed_page import ROOT, insert_after, seed_text

UNIT = find_units(ROOT / "features")[0]
BUNDLE = "content/zh/docs/tasks/traffic-management/egress/egress-control"
LATEST = "https://istio.io/latest/zh/docs/tasks/traffic-management/egress/egress-control/"
NEW_BLOCK = "{{< text bash >}}\n$ kubectl get se\n{{< /text >}}\n"


def git(top: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(top), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str, str]:
    """A checkout of istio.io with the seed page, then a commit that adds a block at the top."""
    top = tmp_path / "istio.io"
    page = top / BUNDLE / "index.md"
    page.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q", str(top))
    git(top, "config", "user.email", "reviewer@example.com")
    git(top, "config", "user.name", "reviewer")
    git(top, "remote", "add", "origin", "https://github.com/someone/istio.io.git")
    git(top, "remote", "add", "upstream", "git@github.com:istio/istio.io.git")
    page.write_text(seed_text(), encoding="utf-8")
    git(top, "add", ".")
    git(top, "commit", "-qm", "the seed")
    first = git(top, "rev-parse", "HEAD")
    page.write_text(insert_after(seed_text(), 11, NEW_BLOCK), encoding="utf-8")
    git(top, "commit", "-qam", "a block more")
    return top, first, git(top, "rev-parse", "HEAD")


def test_the_shipped_index_links_to_istio_io_at_its_commit() -> None:
    page = shipped(UNIT)
    assert page.origin.source(128) == (
        "https://github.com/istio/istio.io/blob/11edc8effb899aed77681c7d5da7d38e57186348/"
        "content_zh/docs/tasks/traffic-management/egress/index.md#L128"
    )
    assert page.section_url("开始之前") == (
        "https://istio.io/v1.1/zh/docs/tasks/traffic-management/egress/#开始之前"
    )
    # a unit whose revision's commit is not known names the file and line
    assert shipped(dataclasses.replace(UNIT, commit="")).origin.source(128) == (f"{UNIT.path}:128")


def test_a_checkout_links_to_its_commit_and_to_latest(checkout: tuple[Path, str, str]) -> None:
    top, _, head = checkout
    page = read(UNIT, top / BUNDLE)  # the bundle's directory: its index.md
    assert page.origin.display == f"{BUNDLE}/index.md"
    # istio/istio.io is preferred to a fork: a pull request's commits are reachable there
    assert page.origin.source(20) == (
        f"https://github.com/istio/istio.io/blob/{head}/{BUNDLE}/index.md#L20"
    )
    assert page.section_url("开始之前") == f"{LATEST}#开始之前"
    new = [m for m in page.matches if m.shipped is None]
    assert [m.revised.line for m in new if m.revised] == [12]


def test_page_rev_reads_the_page_at_that_revision(checkout: tuple[Path, str, str]) -> None:
    top, first, _ = checkout
    page = read(UNIT, top / BUNDLE / "index.md", "HEAD~1")
    assert page.origin.commit == first
    assert all(m.shipped is not None and not m.changed for m in page.matches)
    assert page.origin.source(128).endswith(f"/blob/{first}/{BUNDLE}/index.md#L128")


def test_uncommitted_lines_link_to_the_file(checkout: tuple[Path, str, str]) -> None:
    """No commit has the lines of a file with changes not committed: path:line then."""
    top, _, _ = checkout
    index = top / BUNDLE / "index.md"
    index.write_text(index.read_text() + "\n", encoding="utf-8")
    page = read(UNIT, index)
    assert page.origin.link(20) is None
    assert page.origin.source(20) == f"{BUNDLE}/index.md:20"


def test_a_file_outside_git_is_path_and_line(tmp_path: Path) -> None:
    page_file = tmp_path / "page.md"
    page_file.write_text(seed_text(), encoding="utf-8")
    page = read(UNIT, page_file)
    assert page.origin.source(20) == f"{page_file}:20"
    assert page.section_url("开始之前") == f"{UNIT.published_url}#开始之前"


def test_an_unknown_revision_is_one_line(checkout: tuple[Path, str, str]) -> None:
    top, _, _ = checkout
    from fixtures.page import PageUnreadable

    with pytest.raises(PageUnreadable, match="--page-rev nosuchrev: no such revision"):
        read(UNIT, top / BUNDLE, "nosuchrev")
