"""Binds this page's feature files to pytest, so that `pytest features/` runs the page.

pytest-bdd's ``scenarios(".")`` would order features by name; binding one file at a
time keeps the page's order (the numeric prefixes) in the run and in its reports. Paths
are given relative to ``bdd_features_base_dir`` (features/), as the reports name them.
"""

from pathlib import Path

from pytest_bdd import scenarios

_HERE = Path(__file__).parent
for _feature in sorted(_HERE.glob("*.feature")):
    scenarios(str(_feature.relative_to(_HERE.parent)))
