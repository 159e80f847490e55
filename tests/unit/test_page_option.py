"""``--page`` and ``--page-rev`` that name no page stop the run before any backend starts,
in one line, with pytest's usage error (4)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.seed_page import ROOT


def _not_a_page(directory: Path) -> Path:
    (directory / "notes.md").write_text("just text\n")
    return directory / "notes.md"


def _not_utf8(directory: Path) -> Path:
    (directory / "x.md").write_bytes(b"\xff\xfe---\n")
    return directory / "x.md"


def _bundle_without_index(directory: Path) -> Path:
    (directory / "bundle").mkdir()
    return directory / "bundle"


def _unclosed_block(directory: Path) -> Path:
    (directory / "index.md").write_text("---\ntitle: t\n---\n\n{{< text bash >}}\n$ ls\n")
    return directory / "index.md"


def stops(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "features/", *args, "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-1000:] + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, done.stderr
    return errors


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.md", "no such file"),
        (_bundle_without_index, "without index.md"),
        (_not_a_page, "no front matter"),
        (_not_utf8, "not UTF-8"),
        (_unclosed_block, "line 5: the text block is never closed"),
    ],
    ids=["missing", "bundle-without-index", "not-a-page", "not-utf8", "unclosed-block"],
)
def test_a_file_that_is_not_such_a_page_stops_the_run(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    (error,) = stops("--page", str(make(tmp_path)))
    assert error.startswith("ERROR: --page "), error
    assert message in error, error


def test_page_rev_needs_page() -> None:
    (error,) = stops("--page-rev", "HEAD")
    assert "--page-rev REV reads a revision of --page PATH" in error


def test_page_rev_outside_git(tmp_path: Path) -> None:
    page = tmp_path / "index.md"
    page.write_text("---\ntitle: t\n---\n")
    (error,) = stops("--page", str(page), "--page-rev", "HEAD")
    assert "is not in a git checkout" in error, error
