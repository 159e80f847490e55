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


def test_the_cheapest_measured_item_follows_the_slow_ones() -> None:
    """It is the one a worker holds while the slow one waits; unmeasured items keep the
    page's order, and without slow items nothing moves."""
    from fixtures.scheduling import xdist_order

    page = ["a", "b", "slow", "c", "d"]
    durations = {"a": 0.5, "c": 0.02, "d": 0.3}
    order = xdist_order(page, lambda item: item == "slow", str, durations)
    assert order == ["slow", "c", "a", "b", "d"]
    assert xdist_order(page, lambda item: item == "slow", str, {}) == ["slow", "a", "b", "c", "d"]
    assert xdist_order(["a", "b"], lambda item: False, str, durations) == ["a", "b"]


def test_the_next_run_schedules_by_what_this_one_measured(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller keeps the durations in pytest's cache and hands them to the
    workers: the second run puts the quick test behind the slow one, not the first one
    of the page."""
    pytester.makeconftest('pytest_plugins = ["fixtures.scheduling"]\n')
    pytester.makeini("[pytest]\nmarkers =\n    slow: waits\n")
    pytester.makepyfile(
        test_order="""
        import os
        import time
        import pytest

        def log(name):
            with open(os.environ["ORDER_FILE"], "a") as handle:
                handle.write(name + "\\n")

        def test_long():
            time.sleep(0.3)
            log("long")

        @pytest.mark.slow
        def test_waits():
            log("slow")

        def test_quick():
            log("quick")
        """
    )
    order = pytester.path / "order.txt"
    monkeypatch.setenv("ORDER_FILE", str(order))
    pytester.runpytest_subprocess("-n", "1", "-p", "xdist", "-q").assert_outcomes(passed=3)
    assert order.read_text().split() == ["slow", "long", "quick"]
    order.unlink()
    pytester.runpytest_subprocess("-n", "1", "-p", "xdist", "-q").assert_outcomes(passed=3)
    assert order.read_text().split() == ["slow", "quick", "long"]
