"""fixtures/scheduling.py: under xdist the @slow scenarios go first, in the workers too."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_worker_puts_the_slow_scenario_first(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xdist resets a worker's ``numprocesses``; the order its scheduler hands out is the
    workers' collection, so that is where the slow scenario must lead."""
    pytester.makeconftest('pytest_plugins = ["fixtures.scheduling"]\n')
    pytester.makeini("[pytest]\nmarkers =\n    slow: waits\n")
    pytester.makepyfile(
        test_order="""
        import os
        import pytest

        def test_first():
            with open(os.environ["ORDER_FILE"], "a") as handle:
                handle.write("first\\n")

        @pytest.mark.slow
        def test_waits():
            with open(os.environ["ORDER_FILE"], "a") as handle:
                handle.write("slow\\n")

        def test_last():
            with open(os.environ["ORDER_FILE"], "a") as handle:
                handle.write("last\\n")
        """
    )
    order = pytester.path / "order.txt"
    monkeypatch.setenv("ORDER_FILE", str(order))
    result = pytester.runpytest_subprocess("-n", "1", "-p", "xdist", "-q")
    result.assert_outcomes(passed=3)
    assert order.read_text().split() == ["slow", "first", "last"]


def test_without_xdist_the_page_order_is_kept(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["fixtures.scheduling"]\n')
    pytester.makeini("[pytest]\nmarkers =\n    slow: waits\n")
    pytester.makepyfile(
        test_order="""
        import pytest

        def test_first():
            pass

        @pytest.mark.slow
        def test_waits():
            pass
        """
    )
    result = pytester.runpytest("-v", "-p", "no:xdist")
    result.stdout.re_match_lines([r".*test_first PASSED.*", r".*test_waits PASSED.*"])
