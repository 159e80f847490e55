"""When a run gets the default report files."""

from pathlib import Path

import pytest

from fixtures.outputs import runs_features

ROOT = Path("/repo")


@pytest.mark.parametrize(
    "args, invoked_in, expected",
    [
        (["/repo"], ROOT, True),
        (["features/"], ROOT, True),
        (["features/01_before_you_begin.feature"], ROOT, True),
        (["features/test_egress_control.py::test_x"], ROOT, True),
        (["tests/"], ROOT, False),
        (["tests/test_steps_curl.py"], ROOT, False),
        (["tests/", "features/"], ROOT, True),
        (["."], ROOT / "features", True),
        (["../tests"], ROOT / "features", False),
        ([], ROOT, True),
    ],
)
def test_runs_features(args, invoked_in, expected):
    assert runs_features(args, ROOT, invoked_in) is expected
