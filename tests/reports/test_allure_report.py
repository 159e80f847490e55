"""Allure's HTML without what it needs: one line saying what is missing, and no harm done."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures.reports import allure_results


def results_dir(tmp_path: Path) -> Path:
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "0-result.json").write_text('{"uuid": "0", "name": "x", "status": "passed"}')
    return results


def test_without_nodejs_the_run_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allure_results.shutil, "which", lambda name: None)
    with pytest.raises(allure_results.AllureUnavailable) as missing:
        allure_results.generate(results_dir(tmp_path))
    assert str(missing.value) == (
        "allure: Node.js is missing (apt-get install nodejs npm): no Allure report, "
        "the other reports are written"
    )


def test_without_the_allure_package_the_line_names_make_allure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allure_results, "ALLURE", tmp_path / "no" / "bin" / "allure")
    monkeypatch.setattr(allure_results.shutil, "which", lambda name: "/usr/bin/node")
    with pytest.raises(allure_results.AllureUnavailable, match=r"make allure installs it"):
        allure_results.generate(results_dir(tmp_path))


def test_a_directory_that_is_not_a_report_is_never_emptied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not allure_results.ALLURE.exists():
        pytest.fail("allure is missing: make allure installs it")
    output = tmp_path / "mine"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    code = allure_results.main([str(results_dir(tmp_path)), str(output)])
    assert code == 1 and (output / "notes.txt").read_text() == "keep me"
    assert capsys.readouterr().err == (
        f"allure: {output} is not empty and holds no Allure report: "
        "give an empty or new directory\n"
    )


def test_the_cli_names_missing_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert allure_results.main([str(tmp_path / "nothing")]) == 1
    assert capsys.readouterr().err == (
        f"allure: no results in {tmp_path / 'nothing'}: run the features first\n"
    )


def test_each_generation_adds_a_run_to_allures_history(tmp_path: Path) -> None:
    """Allure's Trend needs earlier runs: they are kept beside the results, which a run
    empties, and each report adds one line."""
    if not allure_results.ALLURE.exists():
        pytest.fail("allure is missing: make allure installs it")
    results = results_dir(tmp_path)
    for _ in range(2):
        index = allure_results.generate(results)
    assert index == tmp_path / "allure-report" / "index.html"
    history = allure_results.history_file_for(results)
    assert history == tmp_path / "allure-history.jsonl"
    assert len(history.read_text().splitlines()) == 2


def test_a_writer_that_writes_nothing_ends_and_leaves_no_report(tmp_path: Path) -> None:
    """A run that needs no report (it stopped before any scenario) closes the writer it
    started: Node.js ends at the end of its input, and writes nothing."""
    if not allure_results.ALLURE.exists():
        pytest.fail("allure is missing: make allure installs it")
    results = results_dir(tmp_path)
    writer = allure_results.start_report(results)
    process = writer._process
    assert process is not None and process.poll() is None
    writer.close()
    assert process.returncode == 0
    assert not allure_results.report_dir_for(results).exists()
    writer.close()  # twice is harmless
    with pytest.raises(allure_results.AllureUnavailable, match="already used"):
        allure_results.write_report(writer, results)


def test_a_writer_started_early_writes_the_results_it_is_handed_later(tmp_path: Path) -> None:
    """The writer loads before the results exist: what it reports is what the directory
    holds when write_report hands it over."""
    if not allure_results.ALLURE.exists():
        pytest.fail("allure is missing: make allure installs it")
    results = tmp_path / "allure-results"
    results.mkdir()
    writer = allure_results.start_report(results)
    (results / "0-result.json").write_text(
        '{"uuid": "0", "name": "late", "status": "passed", "start": 1, "stop": 2}'
    )
    index = allure_results.write_report(writer, results, "A page")
    summary = json.loads((index.parent / "summary.json").read_text())
    assert summary["stats"]["total"] == 1


def test_a_writer_that_cannot_load_allure_says_why_in_one_line(tmp_path: Path) -> None:
    from fixtures.reports.allure_node import AllureWriter

    node = allure_results.shutil.which("node")
    if node is None:
        pytest.fail("Node.js is missing (apt-get install nodejs npm)")
    writer = AllureWriter(node, tmp_path / "no-prefix", {}, tmp_path / "report")
    with pytest.raises(allure_results.AllureUnavailable) as failed:
        allure_results.write_report(writer, results_dir(tmp_path))
    assert str(failed.value) == (
        "allure generate failed (exit 1): Cannot find module '@allurereport/core'"
    )


def _controller_session(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[SimpleNamespace, list[Path]]:
    """A controller's session that writes an Allure report into ``results``, begun; the
    list records each writer start (start_report stood in for)."""
    started: list[Path] = []
    monkeypatch.setattr(allure_results, "writes_reports", lambda config: True)
    monkeypatch.setattr(allure_results, "start_report", lambda results: started.append(results))
    config = SimpleNamespace(
        option=SimpleNamespace(allure_report_dir=str(results)),
        pluginmanager=pytest.PytestPluginManager(),
        stash=pytest.Stash(),
    )
    allure_results.pytest_sessionstart(SimpleNamespace(config=config))  # type: ignore[arg-type]
    return config, started


def test_the_writer_starts_with_the_first_report_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not at the session's start, when the workers import and start their meshes: at the
    first report the controller receives, and only once."""
    config, started = _controller_session(tmp_path, monkeypatch)
    assert started == []
    report = pytest.TestReport("x.py::t", ("x.py", 1, "t"), {}, "passed", None, "setup")
    for _ in range(2):
        config.pluginmanager.hook.pytest_runtest_logreport(report=report)
    assert started == [tmp_path]


def test_a_run_without_reports_starts_its_writer_at_the_hand_over_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that ended before any report (interrupted in its set-up) still gets its
    report: the writer starts when the results are handed over, and a report arriving
    after that starts no second one."""
    config, started = _controller_session(tmp_path, monkeypatch)
    monkeypatch.setattr(allure_results, "finished", lambda config: ("outcome", "done"))
    allure_results._submit(SimpleNamespace(config=config))  # type: ignore[arg-type]
    assert started == [tmp_path]
    report = pytest.TestReport("x.py::t", ("x.py", 1, "t"), {}, "passed", None, "teardown")
    config.pluginmanager.hook.pytest_runtest_logreport(report=report)
    assert started == [tmp_path]
