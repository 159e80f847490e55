"""The whole feature run against the page's own waits.

The page makes two deliberately slow requests (``/delay/5``: 5 s, then 3 s when the
VirtualService timeout cuts it short); nothing can make those faster, so the run's
wall time is divided by them. The waits are counted from the feature files with
pytest-bdd's own parser (Background steps and Scenario Outline rows included) rather
than assumed, and only scenarios that passed in the run's JUnit XML count.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_bdd.parser import FeatureParser
from pytest_bdd.scenario import make_python_name

from clusters import local
from fixtures.scheduling import DURATIONS_KEY

DELAY = re.compile(r"/delay/(\d+(?:\.\d+)?)")
VS_TIMEOUT = re.compile(r"^\s*-?\s*timeout:\s*[\"']?(\d+(?:\.\d+)?)s[\"']?\s*$", re.MULTILINE)
RUN_TIMEOUT_S = 1800.0  # bounds a hung run only


@dataclass(frozen=True)
class PageWait:
    """One slow request a scenario makes, and how long the page says it waits."""

    feature: str
    scenario: str
    test_name: str  # pytest-bdd's function name, to find the scenario in JUnit XML
    seconds: float  # the delay, or the VirtualService timeout in force if shorter
    step: str


def page_waits(features_dir: Path) -> list[PageWait]:
    """Every ``/delay/N`` request the feature files make, in order.

    The wait of a request is N, or the ``timeout: Ts`` of a VirtualService applied
    earlier in the same scenario when that is shorter (the 504 case).
    """
    waits = []
    for path in sorted(features_dir.rglob("*.feature")):  # a directory per page
        feature = FeatureParser(str(path.parent), path.name).parse()
        for template in feature.scenarios.values():
            contexts: list[dict[str, Any]] = [{}]
            if template.templated:
                contexts = [c for ex in template.examples for c in ex.as_contexts()]
            for context in contexts:
                scenario = template.render(context)
                timeout: float | None = None
                for step in scenario.steps:
                    docstring = step.docstring or ""
                    if "kind: VirtualService" in docstring:
                        match = VS_TIMEOUT.search(docstring)
                        timeout = float(match.group(1)) if match else None
                    elif re.search(r"delete (virtualservice|vs)\b", step.name, re.IGNORECASE):
                        timeout = None
                    delay = DELAY.search(step.name)
                    if delay and "runs" in step.name:
                        seconds = float(delay.group(1))
                        waits.append(
                            PageWait(
                                feature=path.name,
                                scenario=template.name,
                                test_name=f"test_{make_python_name(template.name)}",
                                seconds=min(seconds, timeout) if timeout else seconds,
                                step=step.name,
                            )
                        )
    return waits


def junit_outcomes(junit: Path) -> tuple[dict[str, tuple[str, float]], dict[str, int]]:
    """testcase name -> (passed/failed/error/skipped, seconds), and skip reasons counted."""
    outcomes, skips = {}, {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
            if child.tag == "skipped":
                reason = child.get("message", "?")
                skips[reason] = skips.get(reason, 0) + 1
        outcomes[case.get("name", "?")] = (outcome, float(case.get("time", 0.0)))
    return outcomes, skips


def _cases_of(name: str, outcomes: dict[str, tuple[str, float]]) -> list[tuple[str, float]]:
    return [v for k, v in outcomes.items() if k == name or k.startswith(f"{name}[")]


def run_features(
    root: Path,
    features_dir: Path,
    run_root: Path,
    *,
    backend_args: Sequence[str] = (),
    workers: str = "auto",  # as `make conformance` runs it ("0": no xdist)
) -> dict[str, Any]:
    """``pytest features/`` in a subprocess, its reports and meshes kept out of the way.

    Reports go to a temporary directory (--junitxml, --html, --alluredir and the page
    report's --page-report-dir all override the reports/ defaults of the report plugins,
    fixtures/reports/),
    and EGRESS_MESH_RUN_ROOT puts its mesh under the bench's own run root.
    """
    waits = page_waits(features_dir)
    with tempfile.TemporaryDirectory(prefix="egc-bench-reports-") as reports:
        out = Path(reports)
        argv = [
            sys.executable,
            "-m",
            "pytest",
            str(features_dir.relative_to(root)),
            "-q",
            "-o",
            f"cache_dir={_seeded_cache(root, out)}",
            "-n",
            workers,
            *(["--dist", "worksteal"] if workers != "0" else []),  # as `make conformance`
            *backend_args,
            f"--junitxml={out / 'junit.xml'}",
            f"--html={out / 'conformance.html'}",
            "--self-contained-html",
            f"--alluredir={out / 'allure-results'}",
            f"--page-report-dir={out}",
        ]
        env = {**os.environ, "EGRESS_MESH_RUN_ROOT": str(run_root)}
        started = time.perf_counter()
        with (out / "pytest.log").open("w+") as log:
            child = subprocess.Popen(
                argv,
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                returncode = child.wait(timeout=RUN_TIMEOUT_S)
            except BaseException:
                _stop(child)
                local.sweep(run_root)  # its owner is gone: the sweep removes its mesh
                raise
            wall = time.perf_counter() - started
            log.seek(0)
            lines = [line.rstrip() for line in log if line.strip()]
        junit = out / "junit.xml"
        outcomes, skips = junit_outcomes(junit) if junit.exists() else ({}, {})
        written = sorted(p.name for p in out.iterdir())
    result = _result(argv, returncode, wall, lines, waits, outcomes, written)
    result["skip_reasons"] = skips
    result["testcase_times_s"] = [seconds for _, seconds in outcomes.values()]  # run order
    result["slowest_testcases_s"] = sorted(
        ((name, seconds) for name, (_, seconds) in outcomes.items()), key=lambda n: -n[1]
    )[:10]
    return result


def _seeded_cache(root: Path, out: Path) -> Path:
    """A cache of the bench's own, holding only the scenario durations the project's
    last run kept (fixtures/scheduling.py orders an xdist run by them), so the run is
    scheduled as ``make conformance`` schedules it and the project's cache is untouched.
    """
    cache = out / "pytest-cache"
    kept = root / ".pytest_cache" / "v" / DURATIONS_KEY
    if kept.is_file():
        seeded = cache / "v" / DURATIONS_KEY
        seeded.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, seeded)
    return cache


def _stop(child: subprocess.Popen[bytes]) -> None:
    """End the pytest we started, by its PID; SIGTERM lets it tear its mesh down first."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _result(
    argv: list[str],
    returncode: int,
    wall: float,
    lines: list[str],
    waits: list[PageWait],
    outcomes: dict[str, tuple[str, float]],
    written: list[str],
) -> dict[str, Any]:
    summary_line = lines[-1] if lines else "no output"
    counted = []
    unavailable = None
    for wait in waits:
        cases = _cases_of(wait.test_name, outcomes)
        if cases and all(outcome == "passed" for outcome, _ in cases):
            counted.extend([wait.seconds] * len(cases))
        elif unavailable is None:
            states = ", ".join(outcome for outcome, _ in cases) or "not in the JUnit XML"
            unavailable = f"the scenario {wait.scenario!r} making the page's waits: {states}"
    if returncode != 0:
        unavailable = f"pytest features/ exited {returncode}: {summary_line}"
    elif not waits:
        unavailable = "no /delay/N request found in the feature files"
    waits_s = sum(counted)
    wait_cases = {w.test_name: _cases_of(w.test_name, outcomes) for w in waits}
    return {
        "command": " ".join(argv),
        "returncode": returncode,
        "summary": summary_line,
        "wall_s": wall,
        "testcases": len(outcomes),
        "outcomes": _count(outcomes),
        "sum_of_testcase_times_s": sum(seconds for _, seconds in outcomes.values()),
        "page_waits": [asdict(w) for w in waits],
        "wait_scenarios_junit": {k: [list(c) for c in v] for k, v in wait_cases.items()},
        "waits_formula": "sum over the /delay/N requests of passed scenarios of "
        "min(N, timeout of a VirtualService applied earlier in the scenario)",
        "waits_s": waits_s,
        "ratio_wall_to_waits": wall / waits_s if waits_s and unavailable is None else None,
        "unavailable": unavailable,
        "reports_written_to_temporary_directory": written,
        "tail": lines[-15:] if returncode != 0 else [],
    }


def _count(outcomes: dict[str, tuple[str, float]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome, _ in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
