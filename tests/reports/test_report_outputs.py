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
        (["tests/unit/test_steps_curl.py"], ROOT, False),
        (["tests/", "features/"], ROOT, True),
        (["."], ROOT / "features", True),
        (["../tests"], ROOT / "features", False),
        ([], ROOT, True),
    ],
)
def test_runs_features(args, invoked_in, expected):
    assert runs_features(args, ROOT, invoked_in) is expected


def test_xdist_workers_record_allure_results_without_wiping(tmp_path) -> None:
    """Under `make conformance` (-n auto) the results come from the workers: each one
    records into reports/allure-results, and only the controller empties it first."""
    from types import SimpleNamespace

    from fixtures.reports import allure_results

    def config(worker: bool) -> SimpleNamespace:
        fake = SimpleNamespace(
            args=["features/"],
            rootpath=tmp_path,
            invocation_params=SimpleNamespace(dir=tmp_path),
            option=SimpleNamespace(),
        )
        (tmp_path / "features").mkdir(exist_ok=True)
        if worker:
            fake.workerinput = {"workerid": "gw0"}
        return fake

    worker = config(worker=True)
    allure_results.pytest_configure(worker)  # type: ignore[arg-type]
    assert worker.option.allure_report_dir == str(tmp_path / "reports" / "allure-results")
    assert worker.option.clean_alluredir is False
    controller = config(worker=False)
    allure_results.pytest_configure(controller)  # type: ignore[arg-type]
    assert controller.option.clean_alluredir is True


def test_pytest_html_shows_a_skip_as_a_sentence() -> None:
    import html as html_module
    from types import SimpleNamespace

    from fixtures.reports.html_extras import pytest_html_results_table_html

    longrepr = ("/work/steps/drift.py", 30, "Skipped: drift: Mixer was removed in Istio 1.8")
    report = SimpleNamespace(skipped=True, longrepr=longrepr)
    worker = "[gw1] linux -- Python 3.11.7 /work/main/.venv/bin/python\n"
    data = [worker + html_module.escape(str(longrepr)) + "\n", "captured log"]
    pytest_html_results_table_html(report, data)  # type: ignore[arg-type]
    assert data == [
        worker + "Skipped: drift: Mixer was removed in Istio 1.8 (drift.py:30)\n",
        "captured log",
    ]
