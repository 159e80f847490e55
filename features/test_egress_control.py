"""Binds the page's feature files to pytest, so that `pytest features/` runs the page.

pytest-bdd's ``scenarios(".")`` would order features by name; binding one file at a
time keeps the page's order (the numeric prefixes) in the run and in its reports.
"""

from pathlib import Path

from pytest_bdd import scenarios

for _feature in sorted(Path(__file__).parent.glob("*.feature")):
    scenarios(_feature.name)
