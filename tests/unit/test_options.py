"""The suite's command-line options refuse values that would make every wait fail."""

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from clusters import backends
from clusters.plugin import Common
from fixtures import options
from fixtures.options import seconds
from fixtures.reports import outcome


def test_seconds_accepts_a_positive_number():
    assert seconds("30") == 30.0
    assert seconds("0.5") == 0.5


@pytest.mark.parametrize("text", ["0", "-1", "abc", "inf", "nan", ""])
def test_seconds_refuses_the_rest_in_one_line(text):
    with pytest.raises(argparse.ArgumentTypeError, match="not a positive number of seconds"):
        seconds(text)


def feature_run(config: pytest.Config, **given: object) -> SimpleNamespace:
    """A pytest config of ``pytest features/`` as options.pytest_configure reads it."""
    values = {**FLAGS, **REPORT_FLAGS, **given}
    return SimpleNamespace(
        getoption=lambda name, default=None: values.get(name, default),
        args=[str(config.rootpath / "features")],
        rootpath=config.rootpath,
        invocation_params=SimpleNamespace(dir=config.rootpath),
        pluginmanager=None,
    )


def test_a_missing_prerequisite_stops_a_feature_run_in_one_line(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    """Before xdist starts workers: one line, not an INTERNALERROR per worker."""
    from clusters.local import prerequisites

    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 1000)
    features = feature_run(pytestconfig)
    with pytest.raises(pytest.UsageError) as stopped:
        options.pytest_configure(features)  # type: ignore[arg-type]
    assert str(stopped.value) == (
        "egress-conformance: local backend: the local backend needs root (network namespaces "
        "and iptables): run it as root (sudo make conformance)"
    )
    unit_tests = SimpleNamespace(**{**vars(features), "args": ["tests/unit/test_options.py"]})
    options.pytest_configure(unit_tests)  # type: ignore[arg-type]  # unit tests still run


@pytest.mark.parametrize(
    ("given", "line"),
    [
        ({"istio_version": "9.9"}, "--istio-version 9.9: not pinned; choose one of"),
        ({"local_sites": Path("/nonexistent")}, "sites file /nonexistent: No such file"),
    ],
)
def test_an_option_the_backend_refuses_stops_a_feature_run_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config, given: dict, line: str
) -> None:
    from clusters.local import backend

    monkeypatch.setattr(backend, "check_prerequisites", lambda: None)  # root or not
    with pytest.raises(pytest.UsageError, match=f"^egress-conformance: local backend: {line}"):
        options.pytest_configure(feature_run(pytestconfig, **given))  # type: ignore[arg-type]


# The options come from the registered backends -------------------------------------------
FLAGS = {  # every flag the suite had before backends declared their own, with its default
    "cluster": "local",
    "propagation_timeout": None,
    "exec_timeout": None,
    "local_sites": None,
    "istio_version": None,
    "kubeconfig": None,
    "kube_context": None,
    "images": "kit",
    "external": "fake",
    "reuse_cluster": None,
    "keep_cluster": False,
}
REPORT_FLAGS = {"previous_summary": None, "page_report_dir": None}  # fixtures/reports/outcome


def test_every_flag_keeps_its_name_and_default() -> None:
    """Parsed afresh (this run's own options may be set), each flag as it always was."""
    parser = pytest.Parser(_ispytest=True)
    options.pytest_addoption(parser)
    outcome.pytest_addoption(parser)
    parsed = parser.parse([])
    assert {name: getattr(parsed, name) for name in FLAGS} == FLAGS
    assert {name: getattr(parsed, name) for name in REPORT_FLAGS} == REPORT_FLAGS
    assert not hasattr(parsed, "control_plane")  # the model of istiod is retired


def test_the_cluster_choices_are_the_registry() -> None:
    parser = pytest.Parser(_ispytest=True)
    options.pytest_addoption(parser)
    (cluster,) = [o for o in parser.getgroup("egress-conformance").options if o.dest == "cluster"]
    assert tuple(cluster.attrs()["choices"]) == backends.names()
    assert "fake" in backends.names()
    with pytest.raises(pytest.UsageError, match="invalid choice: 'nope'"):
        parser.parse(["--cluster", "nope"])


@pytest.mark.parametrize("name", backends.names())
def test_suite_options_hold_the_chosen_backends_own(name: str, tmp_path: Path) -> None:
    """The chosen backend's dataclass, with the user's bounds put into its waits."""
    parser = pytest.Parser(_ispytest=True)
    options.pytest_addoption(parser)
    outcome.pytest_addoption(parser)
    parsed = parser.parse(["--cluster", name, "--exec-timeout", "7"])
    config = SimpleNamespace(
        getoption=lambda dest, default=None: getattr(parsed, dest, default),
        rootpath=tmp_path,
        workerinput={"workerid": "gw3"},
    )
    suite = options.SuiteOptions.from_config(config)  # type: ignore[arg-type]
    chosen = backends.backend(name)
    assert suite.cluster == name and isinstance(suite.backend, chosen.options_type)
    assert suite.exec_timeout == 7.0
    assert suite.propagation_timeout == chosen.waits.propagation
    assert suite.waits.ready == chosen.waits.ready


def test_the_worker_and_report_dir_reach_the_backends_that_use_them(tmp_path: Path) -> None:
    from clusters.kind.backend import BACKEND as KIND
    from clusters.kube.backend import BACKEND as EXISTING
    from clusters.local.backend import BACKEND as LOCAL

    common = Common(worker="gw1", report_dir=tmp_path, propagation_timeout=3.0)
    assert LOCAL.options_from({}, common).owner == "pytest:gw1"
    assert EXISTING.options_from({"kube_context": "ctx"}, common).worker == "gw1"
    kind = KIND.options_from({"images": "pull"}, common)
    assert kind.logs_dir == tmp_path / "kind-logs" and kind.images == "pull"
    assert kind.waits.propagation == 3.0 and kind.waits.ready == KIND.waits.ready


def test_an_option_the_chosen_backend_does_not_read_is_named() -> None:
    from fixtures.options import unused_options

    assert unused_options("local", {"--kube-context": "prod"}) == [
        "egress-conformance: --kube-context is ignored: only the existing backend uses it, "
        "not --cluster local"
    ]
    assert unused_options("existing", {"--kube-context": "prod"}) == []
    assert unused_options("existing", {"--istio-version": "1.30-dev"}) == [
        "egress-conformance: --istio-version is ignored: only the local and kind backends "
        "use it, not --cluster existing"
    ]
    assert unused_options("local", {"--images": "kit", "--keep-cluster": False}) == []
