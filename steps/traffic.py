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
from fixtures.page import PageUnderTest
from fixtures.page.refs import BlockRef
from fixtures.records import excerpt
from steps import curl
from steps import page_commands as pc
from steps.from_page import Taken, agree, bound, read_part, settled, take
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
        parts.append(f"command terminated with exit code {result.exit_code}")  # as kubectl says
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


@given(bound(parsers.re(r'the source pod runs "(?P<command>.+)"$')))
@when(bound(parsers.re(r'the source pod runs "(?P<command>.+)"$')))
def run_in_source_pod(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    exec_timeout: float,
    page_command_alongside: Callable[[Taken], None],
    command: str,
    block: BlockRef | None = None,
) -> None:
    """The page's command in the pod (``kubectl exec … -- CMD``, or typed in the pod's
    shell); what the page pipes its output through is the Then steps' business. A request
    changes nothing in the cluster, so the page's command as written runs beside it."""
    if block is not None:
        taken = take(journal, page, block)
        asked = pc.pod_command(taken.part, taken.inside_shell)
        restated = asked if pc.same_command(command, asked) else command  # quoting aside
        command = agree(journal, taken, "the command in the pod", restated, asked)
        page_command_alongside(taken)
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
    bound(parsers.re(EVENTUALLY + r"the command exits with code (?P<code>\d+)$")),
    converters={"code": int},
)
def exits_with(
    journal: Journal,
    page: PageUnderTest | None,
    settle: Settle,
    eventually: str | None,
    code: int,
    block: BlockRef | None = None,
) -> None:
    """kubectl's "command terminated with exit code N", as the page shows it (no such
    line: exit code 0)."""
    code = settled(
        journal, page, block, "the exit code", code, read_part(pc.exit_code), checks_output=True
    )

    def check(result: ExecResult) -> None:
        assert result.exit_code == code, (
            f"the command exited with {result.exit_code}, not {code}: "
            f"{' '.join(summary(result).split())[:200]}"
        )

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


@then(bound(parsers.re(EVENTUALLY + r'the response status line is "(?P<line>.+)"$')))
def status_line_is(
    journal: Journal,
    page: PageUnderTest | None,
    settle: Settle,
    eventually: str | None,
    line: str,
    block: BlockRef | None = None,
) -> None:
    """The page's ``| grep "HTTP/"``: the one status line it shows."""
    line = settled(
        journal, page, block, "the status line", line, read_part(pc.status_line), checks_output=True
    )

    def check(result: ExecResult) -> None:
        lines = curl.status_lines(result.stdout)
        assert lines == [line], (
            f'grep "HTTP/" finds {lines or "nothing"}, not [{line!r}] '
            f"(exit code {result.exit_code})"
        )

    result = settle(check, eventually)
    journal.note(observed="\n".join(curl.status_lines(result.stdout)))


@then(bound(parsers.re(r"the response has no status line$")))
def no_status_line(
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    block: BlockRef | None = None,
) -> None:
    """``| grep "HTTP/"`` finds nothing: the page shows only kubectl's message."""
    settled(
        journal,
        page,
        block,
        "the status lines",
        [],
        lambda t: [line for line in t.part.output.splitlines() if "HTTP/" in line],
        checks_output=True,
    )
    lines = curl.status_lines(scenario_state.last.result.stdout)
    journal.note(observed="\n".join(lines) or "(nothing)")
    assert not lines, f'grep "HTTP/" finds {lines}: a response came back'


@then(bound(parsers.re(EVENTUALLY + r'the command prints "(?P<text>.+)"$')))
def prints(
    journal: Journal,
    page: PageUnderTest | None,
    settle: Settle,
    eventually: str | None,
    text: str,
    block: BlockRef | None = None,
) -> None:
    expected = settled(
        journal,
        page,
        block,
        "the output",
        unescape_quotes(text),
        read_part(pc.printed),
        checks_output=True,
    )

    def check(result: ExecResult) -> None:
        assert result.stdout.strip() == expected, (
            f"the command printed {result.stdout.strip()[:200]!r}, not {expected!r} "
            f"(exit code {result.exit_code})"
        )

    result = settle(check, eventually)
    journal.note(observed=result.stdout.strip())


@then(bound("it took between {low:g} and {high:g} seconds"))
def took_between(
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    low: float,
    high: float,
    block: BlockRef | None = None,
) -> None:
    """The command's wall time, in a band around the page's ``real`` (page_commands.BAND)."""
    low, high = settled(
        journal,
        page,
        block,
        "the time band",
        (low, high),
        read_part(pc.time_band),
        checks_output=True,
    )
    exchange = scenario_state.last
    elapsed = exchange.result.elapsed
    journal.note(
        ran=f"the command's wall time, against the band {low:g}–{high:g} s",
        observed=f"real    {elapsed:.3f} s",
        elapsed=elapsed,
    )
    assert low <= elapsed <= high, f"it took {elapsed:.2f} s, outside {low:g}–{high:g} s"


@then(bound('the echoed request headers include "{header}"'))
def echoed_header(
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    header: str,
    block: BlockRef | None = None,
) -> None:
    """A header the page shows httpbin echoing; the sentence names it, the page its value."""
    name, value = curl.split_header(unescape_quotes(header))
    value = settled(
        journal,
        page,
        block,
        name,
        value,
        lambda t: pc.header_shown(t.part, name),
        checks_output=True,
    )
    headers = curl.echoed_headers(scenario_state.last.result.stdout)
    actual = curl.header_value(headers, name)
    journal.note(
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


@then(bound('the echoed request headers include {which} header starting with "{prefix}"'))
def echoed_header_starting_with(
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    which: str,
    prefix: str,
    block: BlockRef | None = None,
) -> None:
    """ "no" header with the prefix (the request bypassed the sidecar), or "a" header with
    it (the request passed a proxy that added its headers), as the page's output shows."""
    if which not in ("no", "a"):
        raise ValueError(f'say "include no header" or "include a header", not {which!r}')
    present = which == "a"
    present = settled(
        journal,
        page,
        block,
        f"a {prefix}* header shown",
        present,
        lambda t: any(n.lower().startswith(prefix.lower()) for n in pc.shown_headers(t.part)),
        checks_output=True,
    )
    found, names = _echoed_starting_with(scenario_state, prefix)
    journal.note(observed="\n".join(found) or f"headers: {', '.join(names)}")
    if present:
        assert found, f"the request reached the server with no {prefix}* header: {', '.join(names)}"
    else:
        assert not found, f"the request reached the server with {'; '.join(found)}"
