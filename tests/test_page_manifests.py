"""The page's manifests exist twice: quoted in the features' docstrings (what the page
shows) and in clusters.istio.page_manifests (for the bench and the integration tests).
They must stay the same text, or the bench would measure YAML the page does not have."""

from pathlib import Path

import pytest
from pytest_bdd.parser import FeatureParser

from clusters.istio import page_manifests

FEATURES = Path(__file__).resolve().parent.parent / "features"
MANIFESTS = ("HTTPBIN_SERVICE_ENTRY", "GOOGLE_SERVICE_ENTRY", "HTTPBIN_TIMEOUT_VIRTUAL_SERVICE")


def feature_docstrings() -> set[str]:
    found = set()
    for path in sorted(FEATURES.glob("*.feature")):
        feature = FeatureParser(str(FEATURES), path.name).parse()
        steps = [step for scenario in feature.scenarios.values() for step in scenario.steps]
        if feature.background is not None:
            steps += feature.background.steps
        found.update(step.docstring.strip() + "\n" for step in steps if step.docstring)
    return found


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_quoted_verbatim_by_a_feature(name: str) -> None:
    assert getattr(page_manifests, name) in feature_docstrings(), (
        f"clusters/istio/page_manifests.py {name} differs from every docstring in features/"
    )
