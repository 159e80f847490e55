"""The page patch, end to end on kind: a run on the page writes reports/page.patch, git
applies it from the top of the checkout holding the page, and a run on the patched page
matches every block the patch changed.

Two conformance runs on kind (each creates and removes its cluster), so it runs only
when asked: ``make page-patch-kind`` (EGRESS_KIND_E2E=1), which CI runs. The page is the
seed, committed at test time into a scratch checkout laid out as istio.io's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.seed_page import CHECKOUT_PAGE, ROOT, seed_checkout

pytestmark = pytest.mark.kit

RUN_TIMEOUT_S = 40 * 60


def git(top: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *argv],
        cwd=top, capture_output=True, text=True, check=False,
    )  # fmt: skip


def conformance(page: Path, reports: Path) -> dict[str, object]:
    """One run of the features on kind with --page, its reports in ``reports``."""
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "features/", "--cluster", "kind",
            "--page", str(page), "--page-report-dir", str(reports),
            "--junitxml", str(reports / "junit.xml"), "--html", str(reports / "c.html"),
            "--alluredir", str(reports / "allure-results"), "-p", "no:cacheprovider", "-q",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return json.loads((reports / "summary.json").read_text())


def by_block(summary: dict[str, object]) -> dict[str, list[str]]:
    """Each block's commands' verdicts, in the page's order."""
    verdicts: dict[str, list[str]] = {}
    for entry in summary["commands"].values():  # type: ignore[attr-defined]
        verdicts.setdefault(entry["block"], []).append(entry["verdict"])
    return verdicts


def test_the_patched_page_matches_where_the_patch_changed_it(tmp_path: Path) -> None:
    top = seed_checkout(tmp_path)
    page = top / CHECKOUT_PAGE

    first = conformance(page, tmp_path / "first")
    patch = tmp_path / "first" / "page.patch"
    assert patch.is_file(), "the run on the seed proposed no patch"
    check = git(top, "apply", "--check", str(patch))
    assert check.returncode == 0, check.stderr
    assert git(top, "apply", str(patch)).returncode == 0

    second = conformance(page, tmp_path / "second")
    before, after = by_block(first), by_block(second)
    changed = [block for block, verdicts in before.items() if set(verdicts) != {"matched"}]
    assert changed, "the first run found nothing to patch"
    still = {
        block: after.get(block) for block in changed if set(after.get(block, [])) != {"matched"}
    }
    assert not still, f"blocks the patch changed that still do not match: {still}"
