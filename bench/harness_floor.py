"""The floor under ``pytest features/``: pytest, pytest-xdist and the report plugins the
run loads, around nothing but the page's waits.

A run cannot end before its longest scenario's waits (the 504 scenario's 5 s request,
then its 3 s timeout, one after the other), and it cannot start them before pytest has
imported its plugins, xdist has started its workers and they have collected, nor end
before the reports are written and the workers have exited. This run measures that
harness on this machine: the same interpreter, command line and installed plugins
(pytest-bdd, pytest-html, allure-pytest-bdd, JUnit XML) as the feature run, in an empty
directory holding one test that sleeps the longest scenario's waits and one that does
nothing (so that the second worker runs a test too), and an empty pytest.ini that makes
that directory the rootdir (no ini file above it can change the run). No mesh, no page
and none of the project's own plugins: what is left above this floor is the project's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.features import PageWait

RUN_TIMEOUT_S = 300.0  # bounds a hung run only
TESTS = '''"""The page's longest serial wait, and a test for the second worker to run."""
import time


def test_the_longest_scenarios_waits():
    time.sleep({seconds!r})


def test_nothing():
    pass
'''


def longest_serial_wait(waits: Sequence[PageWait]) -> float:
    """The largest sum of waits within one scenario: they run one after the other."""
    per_scenario: dict[str, float] = defaultdict(float)
    for wait in waits:
        per_scenario[wait.test_name] += wait.seconds
    return max(per_scenario.values(), default=0.0)


def harness_floor(
    waits: Sequence[PageWait], waits_s: float | None = None, workers: str = "auto"
) -> dict[str, Any]:
    """The wall time of the harness around the longest scenario's waits, as the feature
    run's command line runs it (``-n auto --dist worksteal``, a pytest cache of its own,
    and the installed plugins' reports: JUnit XML, HTML, Allure results), and its ratio
    to ``waits_s``, the waits the feature run counted, as that run's ratio is."""
    seconds = longest_serial_wait(waits)
    with tempfile.TemporaryDirectory(prefix="egc-bench-floor-") as scratch:
        where = Path(scratch)
        (where / "test_floor.py").write_text(TESTS.format(seconds=seconds))
        (where / "pytest.ini").write_text("[pytest]\n")
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "test_floor.py",
            "-q",
            "-o",
            f"cache_dir={where / 'pytest-cache'}",  # loaded, as in the feature run
            "-n",
            workers,
            *(["--dist", "worksteal"] if workers != "0" else []),
            f"--junitxml={where / 'junit.xml'}",
            f"--html={where / 'report.html'}",
            "--self-contained-html",
            f"--alluredir={where / 'allure-results'}",
        ]
        started = time.perf_counter()
        done = subprocess.run(
            argv,
            cwd=where,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        wall = time.perf_counter() - started
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    ok = done.returncode == 0
    return {
        "command": " ".join(argv[3:]),
        "longest_serial_wait_s": seconds,
        "wall_s": wall if ok else None,
        "overhead_s": wall - seconds if ok else None,
        "ratio_wall_to_waits": wall / waits_s if ok and waits_s else None,
        "unavailable": None if ok else f"exit {done.returncode}: {_why(lines)}",
    }


def _why(lines: list[str]) -> str:
    """pytest's error line (a usage error ends with the rootdir, not the error), or its last."""
    errors = [line.strip() for line in lines if "error:" in line.lower()]
    return (errors or lines or ["no output"])[-1].strip()
