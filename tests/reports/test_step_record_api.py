"""The step-record API is light: the journal, and every step module that uses it, load
without the reports (Allure, pytest-html, the page view) and without the literal runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_LOADED = ("allure", "allure_commons", "pytest_html", "fixtures.reports", "fixtures.literal")


def loaded_by(modules: list[str]) -> list[str]:
    """The modules of NOT_LOADED that importing ``modules`` in a fresh interpreter loads."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {NOT_LOADED!r}"
        f" or any(m == n or m.startswith(n + '.') for n in {NOT_LOADED!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_the_journal_loads_no_report_and_no_runner() -> None:
    assert loaded_by(["fixtures.journal"]) == []


def test_the_steps_load_no_report_and_no_runner() -> None:
    steps = sorted(f"steps.{path.stem}" for path in (ROOT / "steps").glob("[a-z]*.py"))
    assert len(steps) > 5
    assert loaded_by(steps) == []
