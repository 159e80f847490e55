"""Steps about requests from the source pod: run the page's curl, check what it printed.

Outcome steps may start with "eventually": the page warns that a configuration change
can take a while to apply and says to wait and retry, so those steps re-run the last
command until the outcome shows or ``--propagation-timeout`` runs out, as istio.io's own
test does. Without "eventually" a step checks the one run it has.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import stamina
from pytest_bdd import given, parsers, then, when

from clusters.protocol import Cluster, ExecResult
from fixtures.journal import Journal
from fixtures.records import excerpt
from steps import curl, page
from steps.state import Exchange, ScenarioState, unescape_quotes

EVENTUALLY = r"(?P<eventually>eventually )?"


def run(cluster: Cluster, command: str, timeout: float, attempts: int = 1) -> Exchange:
    """Run a command of the page in the source pod, marking the sidecar's log first."""
    cursor = cluster.sidecar_log_cursor()
    argv = curl.prepare(command)
    result = cluster.exec_in_source_pod(argv, timeout)
    return Exchange(command=command, argv=argv, result=result, log_cursor=cursor, attempts=attempts)


def summary(result: ExecResult) -> str:
    """What came back, as a reader of the page's terminal would look at it."""
    parts = []
    code = curl.http_code(result.stderr)
    if code is not None:
        parts.append(f"HTTP status {code:03d}" if code else "no HTTP response")
    if result.stdout.strip():
        parts.append(excerpt(result.stdout))
    stderr = curl.without_mark(result.stderr)
    if stderr:
        parts.append(f"stderr: {excerpt(stderr, lines=3)}")
    if result.exit_code:
        parts.append(page.exit_code_message(result.exit_code))
    return "\n".join(parts) or "(no output)"


def _note_exchange(journal: Journal, exchange: Exchange) -> None:
    journal.note(
        ran=f"in the source pod: {shlex.join(exchange.argv)}",
        observed=summary(exchange.result),
        stdout=exchange.result.stdout,
        stderr=curl.without_mark(exchange.result.stderr),  # as curl printed it
        exit_code=exchange.result.exit_code,
        elapsed=exchange.result.elapsed,
    )


@given(parsers.re(r'the source pod runs "(?P<command>.+)"$'))
@when(parsers.re(r'the source pod runs "(?P<command>.+)"$'))
def run_in_source_pod(
    cluster: Cluster,
    journal: Journal,
    scenario_state: ScenarioState,
    exec_timeout: float,
    command: str,
) -> None:
    journal.note(page_command=page.exec_in_source_pod(command))
    exchange = run(cluster, command, exec_timeout)
    scenario_state.exchanges.append(exchange)
    _note_exchange(journal, exchange)


@dataclass(frozen=True)
class Settle:
    """Check the last run; with "eventually", re-run it until the check holds or time's up.

    The bound of the retries is ``--propagation-timeout``: the page's "wait a few seconds
    and retry", made finite the way istio.io's own test makes it.
    """

    cluster: Cluster
    journal: Journal
    state: ScenarioState
    propagation_timeout: float
    exec_timeout: float

    def __call__(self, check: Callable[[ExecResult], None], eventually: str | None) -> ExecResult:
        exchange = self.state.last
        if not eventually:
            check(exchange.result)
            return exchange.result
        retries = stamina.retry_context(
            on=AssertionError,
            attempts=None,
            timeout=self.propagation_timeout,
            wait_initial=0.2,
            wait_max=2.0,
            wait_jitter=0.1,
        )
        try:
            for attempt in retries:
                with attempt:
                    if attempt.num > 1:
                        exchange = run(
                            self.cluster, exchange.command, self.exec_timeout, exchange.attempts + 1
                        )
                        self.state.exchanges[-1] = exchange
                    check(exchange.result)
        finally:
            self.journal.note(attempts=exchange.attempts)
            if exchange.attempts > 1:
                self.journal.note(
                    ran=f"re-ran {exchange.attempts - 1} time(s) while the change propagated"
                )
                _note_exchange(self.journal, exchange)
        return exchange.result


@pytest.fixture
def settle(
    cluster: Cluster,
    journal: Journal,
    scenario_state: ScenarioState,
    propagation_timeout: float,
    exec_timeout: float,
) -> Settle:
    return Settle(cluster, journal, scenario_state, propagation_timeout, exec_timeout)


@then(
    parsers.re(EVENTUALLY + r"the command exits with code (?P<code>\d+)$"), converters={"code": int}
)
def exits_with(
    journal: Journal,
    settle: Settle,
    eventually: str | None,
    code: int,
) -> None:
    def check(result: ExecResult) -> None:
        assert result.exit_code == code, (
            f"the command exited with {result.exit_code}, not {code}: "
            f"{' '.join(summary(result).split())[:200]}"
        )

    journal.note(page_output=page.exit_code_message(code) if code else "(exit code 0)")
    result = settle(check, eventually)
    journal.note(observed=f"exit code {result.exit_code}")


@then(
    parsers.re(EVENTUALLY + r"the HTTP status code is (?P<code>\d{3})$"), converters={"code": int}
)
def http_status_is(
    journal: Journal,
    settle: Settle,
    eventually: str | None,
    code: int,
) -> None:
    def check(result: ExecResult) -> None:
        actual = curl.http_code(result.stderr)
        assert actual is not None, (
            "the command printed no status code (it has its own --write-out: check what it prints)"
        )
        assert actual == code, (
            f"the HTTP status code is {actual:03d}, not {code} "
            f"(exit code {result.exit_code}: {' '.join(summary(result).split())[:160]})"
        )

    result = settle(check, eventually)
    journal.note(observed=f"HTTP status {curl.http_code(result.stderr)}")


@then(parsers.re(EVENTUALLY + r'the response status line is "(?P<line>.+)"$'))
def status_line_is(
    journal: Journal,
    settle: Settle,
    eventually: str | None,
    line: str,
) -> None:
    def check(result: ExecResult) -> None:
        lines = curl.status_lines(result.stdout)
        assert lines == [line], (
            f'grep "HTTP/" finds {lines or "nothing"}, not [{line!r}] '
            f"(exit code {result.exit_code})"
        )

    journal.note(page_command=page.grep_status_line(), page_output=line)
    result = settle(check, eventually)
    journal.note(observed="\n".join(curl.status_lines(result.stdout)))


@then("the response has no status line")
def no_status_line(journal: Journal, scenario_state: ScenarioState) -> None:
    lines = curl.status_lines(scenario_state.last.result.stdout)
    journal.note(
        page_command=page.grep_status_line(),
        page_output="(nothing: only kubectl's message)",
        observed="\n".join(lines) or "(nothing)",
    )
    assert not lines, f'grep "HTTP/" finds {lines}: a response came back'


@then(parsers.re(EVENTUALLY + r'the command prints "(?P<text>.+)"$'))
def prints(
    journal: Journal,
    settle: Settle,
    eventually: str | None,
    text: str,
) -> None:
    expected = unescape_quotes(text)

    def check(result: ExecResult) -> None:
        assert result.stdout.strip() == expected, (
            f"the command printed {result.stdout.strip()[:200]!r}, not {expected!r} "
            f"(exit code {result.exit_code})"
        )

    journal.note(page_output=expected)
    result = settle(check, eventually)
    journal.note(observed=result.stdout.strip())


@then(parsers.parse("it took between {low:g} and {high:g} seconds"))
def took_between(journal: Journal, scenario_state: ScenarioState, low: float, high: float) -> None:
    exchange = scenario_state.last
    elapsed = exchange.result.elapsed
    journal.note(
        page_command=page.time_command(exchange.command),
        ran=f"the command's wall time, against the band {low:g}–{high:g} s",
        observed=f"real    {elapsed:.3f} s",
        elapsed=elapsed,
    )
    assert low <= elapsed <= high, f"it took {elapsed:.2f} s, outside {low:g}–{high:g} s"


@then(parsers.parse('the echoed request headers include "{header}"'))
def echoed_header(journal: Journal, scenario_state: ScenarioState, header: str) -> None:
    name, value = curl.split_header(unescape_quotes(header))
    headers = curl.echoed_headers(scenario_state.last.result.stdout)
    actual = curl.header_value(headers, name)
    journal.note(
        page_output=f'"{name}": "{value}"',
        observed=f'"{name}": "{actual}"'
        if actual is not None
        else f"no {name}; got {', '.join(headers)}",
    )
    assert actual is not None, f"the echoed headers have no {name}: {', '.join(headers)}"
    assert actual == value, f"{name} is {actual!r}, not {value!r}"


def _echoed_starting_with(state: ScenarioState, prefix: str) -> tuple[list[str], list[str]]:
    """The echoed headers whose name starts with ``prefix`` ("Name: value"), and all names."""
    headers = curl.echoed_headers(state.last.result.stdout)
    found = [f"{k}: {v}" for k, v in headers.items() if k.lower().startswith(prefix.lower())]
    return found, list(headers)


@then(parsers.parse('the echoed request headers include no header starting with "{prefix}"'))
def no_echoed_header(journal: Journal, scenario_state: ScenarioState, prefix: str) -> None:
    offenders, names = _echoed_starting_with(scenario_state, prefix)
    journal.note(
        page_output=f"(no {prefix}* header)",
        observed="\n".join(offenders) or f"headers: {', '.join(names)}",
    )
    assert not offenders, f"the request reached the server with {'; '.join(offenders)}"


@then(parsers.parse('the echoed request headers include a header starting with "{prefix}"'))
def some_echoed_header(journal: Journal, scenario_state: ScenarioState, prefix: str) -> None:
    """The request passed a proxy that added its headers (the opposite of the bypass)."""
    found, names = _echoed_starting_with(scenario_state, prefix)
    journal.note(
        page_output=f"(some {prefix}* header)",
        observed="\n".join(found) or f"headers: {', '.join(names)}",
    )
    assert found, f"the request reached the server with no {prefix}* header: {', '.join(names)}"
