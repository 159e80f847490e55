"""The suite's command-line options refuse values that would make every wait fail."""

import argparse

import pytest

from fixtures.options import seconds


def test_seconds_accepts_a_positive_number():
    assert seconds("30") == 30.0
    assert seconds("0.5") == 0.5


@pytest.mark.parametrize("text", ["0", "-1", "abc", "inf", "nan", ""])
def test_seconds_refuses_the_rest_in_one_line(text):
    with pytest.raises(argparse.ArgumentTypeError, match="not a positive number of seconds"):
        seconds(text)


def test_a_missing_prerequisite_stops_a_feature_run_in_one_line(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    """Before xdist starts workers: one line, not an INTERNALERROR per worker."""
    from types import SimpleNamespace

    from clusters.local import prerequisites
    from fixtures import options

    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 1000)
    features = SimpleNamespace(
        getoption=lambda name: "local",
        args=[str(pytestconfig.rootpath / "features")],
        rootpath=pytestconfig.rootpath,
        invocation_params=SimpleNamespace(dir=pytestconfig.rootpath),
    )
    with pytest.raises(pytest.exit.Exception) as stopped:
        options.pytest_configure(features)  # type: ignore[arg-type]
    assert str(stopped.value) == (
        "egress-conformance: local backend: the local backend needs root (network namespaces "
        "and iptables): run it as root (sudo make conformance)"
    )
    unit_tests = SimpleNamespace(**{**vars(features), "args": ["tests/test_options.py"]})
    options.pytest_configure(unit_tests)  # type: ignore[arg-type]  # unit tests still run
