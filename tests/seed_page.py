"""The seed page, read at test time from ``../shared/seed/`` beside the checkout.

The project holds the page's facts, never its prose, so tests that need the page's text
(the shipped index against a fresh parse, edited revisions) read the seed; without it they
fail in one line rather than skip, since a skipped check would read as a passed one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seed" / "egress-control.zh.md"


def seed_text() -> str:
    if not SEED.is_file():
        pytest.fail(
            f"the seed page {SEED} is missing: these tests read the page from ../shared/seed/",
            pytrace=False,
        )
    return SEED.read_text(encoding="utf-8")


def replace_line(text: str, number: int, old: str, new: str) -> str:
    """The page with one line (1-based) changed; the line must hold ``old``."""
    lines = text.split("\n")
    assert old in lines[number - 1], (
        f"line {number} of the seed is not {old!r}: {lines[number - 1]!r}"
    )
    lines[number - 1] = lines[number - 1].replace(old, new)
    return "\n".join(lines)


def insert_after(text: str, number: int, added: str) -> str:
    lines = text.split("\n")
    return "\n".join([*lines[:number], *added.split("\n"), *lines[number:]])


def remove_lines(text: str, first: int, last: int) -> str:
    lines = text.split("\n")
    return "\n".join([*lines[: first - 1], *lines[last:]])


# Where istio.io held the Chinese page at the seed's revision (content_zh/ then).
CHECKOUT_PAGE = "content_zh/docs/tasks/traffic-management/egress/index.md"


def seed_checkout(directory: Path) -> Path:
    """A scratch git checkout laid out as istio.io's, the seed committed at its page's
    path; returns the checkout's top."""
    top = directory / "istio.io"
    page = top / CHECKOUT_PAGE
    page.parent.mkdir(parents=True)
    page.write_text(seed_text(), encoding="utf-8")
    for argv in (["init", "-q"], ["add", "."], ["commit", "-qm", "the seed"]):
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *argv],
            cwd=top, check=True, capture_output=True,
        )  # fmt: skip
    return top
