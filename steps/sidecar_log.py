"""Steps about the sidecar's access log: the new line a request left, or its absence.

Every request step marks the log first (``Exchange.log_cursor``), so "new" means
"written after the last command started". Lines are read in Istio's default text format
by clusters.istio.accesslog (Istio's knowledge, shared by every backend); fields are
compared as the log prints them, so an empty field reads ``-``.
"""

from __future__ import annotations

from dataclasses import fields

from pytest_bdd import parsers, then

from clusters.istio.accesslog import parse_access_log
from clusters.protocol import AccessLogEntry, Cluster
from fixtures.journal import Journal
from fixtures.page import PageUnderTest
from fixtures.page.refs import BlockRef
from steps import page_commands as pc
from steps.from_page import agree, bound, settled, take
from steps.logwatch import logged_before_barrier, watch
from steps.state import ScenarioState

FIELDS = tuple(f.name for f in fields(AccessLogEntry) if f.name != "raw")


def field_name(phrase: str) -> str:
    """``upstream cluster`` -> ``upstream_cluster``: the entry's attribute a sentence names."""
    name = "_".join(phrase.strip().lower().split())
    if name not in FIELDS:
        raise ValueError(f"the access log has no field {phrase!r}: one of {', '.join(FIELDS)}")
    return name


def as_logged(entry: AccessLogEntry, name: str) -> str:
    """A field as the log line prints it: ``-`` when empty."""
    value = getattr(entry, name)
    return "-" if value is None else str(value)


def _from_page(
    journal: Journal, page: PageUnderTest | None, block: BlockRef | None, name: str, value: str
) -> str:
    """The field's value in the log line the page shows (``kubectl logs … | tail``)."""
    return settled(
        journal, page, block, name, value, lambda t: as_logged(pc.log_entry(t.part), name),
        checks_output=True,
    )  # fmt: skip


@then(bound('the sidecar\'s log has a new entry whose {field} is "{value}"'))
@then(bound('the sidecar\'s log has a new entry whose {field} is "{value}":'))
def new_entry(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    propagation_timeout: float,
    field: str,
    value: str,
    docstring: str | None = None,
    block: BlockRef | None = None,
) -> None:
    """Wait (bounded) for the proxy to flush the line; the docstring restates the page's."""
    name = field_name(field)
    if block is not None:
        taken = take(journal, page, block, checks_output=True)
        shown = pc.log_entry(taken.part)
        value = agree(journal, taken, name, value, as_logged(shown, name))
        if docstring is not None:
            agree(journal, taken, "the log line", docstring.strip(), taken.part.output.strip())
    cursor = scenario_state.last.log_cursor
    journal.note(ran="cluster.sidecar_log(since=<mark taken before the request>), parsed")
    matches, lines = watch(
        cluster,
        cursor,
        propagation_timeout,
        lambda new: [e for e in parse_access_log(new) if as_logged(e, name) == value],
    )
    if not matches:
        journal.note(observed="\n".join(lines) or "(no new line)")
        raise AssertionError(
            f"no new line of the sidecar's log has {field} {value!r} after "
            f"{propagation_timeout:g} s ({len(lines)} new line(s))"
        )
    scenario_state.log_entry = matches[-1]
    journal.note(observed=matches[-1].raw or repr(matches[-1]))


@then(bound('that entry\'s {field} is "{value}"'))
def entry_field(
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    field: str,
    value: str,
    block: BlockRef | None = None,
) -> None:
    name = field_name(field)
    value = _from_page(journal, page, block, name, value)
    actual = as_logged(scenario_state.entry, name)
    journal.note(observed=f"{name}: {actual}")
    assert actual == value, f"the entry's {field} is {actual!r}, not {value!r}"


@then(parsers.parse('the sidecar\'s log has no new entry for "{host}"'))
def no_new_entry(
    cluster: Cluster,
    journal: Journal,
    scenario_state: ScenarioState,
    propagation_timeout: float,
    host: str,
) -> None:
    """Absence is read up to a barrier: after the request, the sidecar must log one of its
    own, so every line of the request, had there been one, is in the log by then."""
    cursor = scenario_state.last.log_cursor
    journal.note(
        ran="cluster.sidecar_log_barrier(); cluster.sidecar_log(since=<mark before the "
        "request>) up to the barrier's line",
    )
    mentioning, count, marker = logged_before_barrier(cluster, cursor, host, propagation_timeout)
    if mentioning:
        journal.note(observed="\n".join(mentioning))
        raise AssertionError(f"the sidecar logged the request: {mentioning[0][:200]}")
    journal.note(
        observed=f"no new line mentions {host} before the barrier {marker} "
        f"({count} new line(s) before it)"
    )
