"""Steps for the page's commands that Istio no longer has.

A drift scenario starts by asking whether the page's step still exists in the Istio the
mesh runs (``clusters.istio.drift``: version data, the same for every backend). If not,
the scenario is skipped with a one-line reason, and the report counts it as drift rather
than as a failure of the page's claim; if it does, the scenario goes on and checks the
claim; a claim the Cluster protocol cannot check (Mixer's log) then fails, saying so,
rather than passing unchecked.
"""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from clusters.istio.drift import drift_for
from clusters.protocol import Cluster
from fixtures.journal import Journal
from fixtures.page import PageUnderTest
from fixtures.page.refs import BlockRef
from fixtures.records import DRIFT
from steps.from_page import bound, take


@given(bound(parsers.re(r'the page\'s "(?P<command>[^"]+)" step applies to this Istio:?$')))
def page_step_applies(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    command: str,
    block: BlockRef | None = None,
) -> None:
    """The block is shown as the page has it; on an Istio without the step, it is not
    executed (drift, from the closed list of reasons) and the scenario is skipped."""
    facts = cluster.describe()
    journal.note(ran=f"drift_for({command!r}, istio={facts.get('istio', '(not reported)')!r})")
    drift = drift_for(command, facts)
    if drift is not None:
        if block is not None:
            take(journal, page, block, not_executed=f"{DRIFT}: {drift.reason}")
        journal.note(observed=drift.reason)
        journal.skip(DRIFT, drift.reason)
    journal.note(observed="this Istio still has the page's step")


@then(bound('Mixer\'s telemetry log has an entry for "{host}"'))
def mixer_log_entry(
    journal: Journal, page: PageUnderTest | None, host: str, block: BlockRef | None = None
) -> None:
    """Reached only on an Istio that still has Mixer, which no backend offers a way to read."""
    if block is not None:
        take(journal, page, block, checks_output=True)
    reason = (
        f"cannot check Mixer's telemetry log for {host}: the Cluster protocol has no way to "
        "read it; check it by hand with the page's command"
    )
    journal.note(observed=reason)
    raise AssertionError(reason)
