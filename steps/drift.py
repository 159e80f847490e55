"""Steps that run one of the page's commands as written and hold its answer to the page.

A scenario for a step the page's readers type by hand (the configmap's grep and sed,
Mixer's log, Helm's ``-x``) runs the block's command in the backend's shell
(fixtures.literal), with no step of the suite's own in between, and then checks what it
printed, or what it did to the mesh. When the answer is not the page's, the block's
drift records say whether a known change explains it: the scenario is then outdated
(observed), and otherwise failed. A backend with no shell for the command can only
declare the drift from the version table ("declared, not observed").
"""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
import stamina
from pytest_bdd import parsers, then, when

from clusters.istio import proxyconfig
from clusters.istio.drift import declared, known_drift
from clusters.protocol import Cluster, ClusterError, OutboundTrafficPolicy
from fixtures.journal import Journal
from fixtures.page import PageUnderTest
from fixtures.page.refs import BlockRef
from fixtures.records import DECLARED, DRIFT, MATCHED, NOT_RUN, OUTDATED
from steps.from_page import bound, take


@when(bound(parsers.re(r"the page's command is run as written$")))
def page_command_as_written(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    request: pytest.FixtureRequest,
    page_command_runner: Any,
    block: BlockRef | None = None,
) -> None:
    """The block's command, typed as the page has it, in the backend's shell. A backend
    with no shell can only declare the drift: the scenario stops there, outdated."""
    if block is None or page is None:
        raise ValueError("this step runs a block of the page: name it ([block ID])")
    try:
        shell = request.getfixturevalue("literal_shell")
    except pytest.FixtureLookupError:  # a run without fixtures.literal_plugin
        shell = None
    if shell is None:
        _declared_only(cluster, journal, page, block)
    taken = take(journal, page, block)
    verdict = page_command_runner(taken, always=True)
    if verdict is not None:
        journal.note(
            ran=verdict.ran or "(not run)", observed=f"{verdict.verdict}: {verdict.detail}"
        )


def _declared_only(
    cluster: Cluster, journal: Journal, page: PageUnderTest, block: BlockRef
) -> NoReturn:
    facts = cluster.describe()
    backend = facts.get("backend", cluster.name)
    for name in page.unit.drift.get(block.id, ()):
        drift = known_drift(name)
        if declared(drift, facts):
            reason = f"{DECLARED}: {drift.reason} (since {drift.since})"
            take(journal, page, block, not_executed=f"{DRIFT}: {drift.reason}")
            step = journal.current
            if step is not None:
                step.literal = f"{NOT_RUN}: the {backend} backend has no shell for it"
                step.drift = reason
            journal.note(observed=f"not run on {backend}; {reason}")
            journal.skip(OUTDATED, reason)
    raise AssertionError(
        f"the {backend} backend cannot run the page's command, and no drift is declared "
        "for this Istio: run it on kind or an existing cluster"
    )


@then(bound(parsers.re(r"it prints what the page shows$")))
def prints_what_the_page_shows(
    journal: Journal, page: PageUnderTest | None, block: BlockRef | None = None
) -> None:
    """The verdict of the command the scenario ran as written: matched, or the difference
    (which a drift record may explain: the scenario is then outdated, not failed)."""
    if block is not None:
        take(journal, page, block, checks_output=True)  # run once, by the step before
    ran = next(
        (
            s
            for s in reversed(journal.record.steps)
            if s.literal is not None and s is not journal.current
        ),
        None,
    )
    if ran is None:
        raise AssertionError("no command of the page was run as written before this step")
    journal.note(observed=ran.literal)
    if ran.literal is None or not ran.literal.startswith(MATCHED):
        raise AssertionError(f"the page's command at line {ran.page_line}: {ran.literal}")


class _NotEnforced(Exception):
    """The sidecar does not send unknown destinations where the mode says, yet."""


@then(parsers.re(r'eventually the outbound traffic policy mode is "(?P<mode>[A-Z_]+)"$'))
def mode_eventually(
    cluster: Cluster, journal: Journal, propagation_timeout: float, mode: str
) -> None:
    """After the page's own edit of the mesh config: istiod takes it and pushes it to the
    sidecar, so the mode is checked where it is enforced (the sidecar's virtualOutbound
    listener) until the propagation timeout. A command that changed nothing fails here."""
    wanted = OutboundTrafficPolicy(mode)
    expected = proxyconfig.CLUSTER_OF_MODE[wanted]
    seen: list[str] = []
    # istiod pushes what the mesh config says: when it does not say the mode (the page's
    # command changed nothing), no push can bring it, so there is nothing to wait for.
    configured = cluster.outbound_traffic_policy()
    if configured is not wanted:
        journal.note(
            ran="cluster.outbound_traffic_policy()",
            observed=f"the mesh config's mode is {configured.value}",
        )
        raise AssertionError(
            f"the sidecar cannot come to enforce {mode}: the mesh config says "
            f"{configured.value}, so istiod has no {mode} to push"
        )

    def enforced() -> None:
        target = proxyconfig.unmatched_outbound_cluster(
            cluster.sidecar_config_dump(proxyconfig.LISTENERS)
        )
        seen.append(str(target))
        if target != expected:
            raise _NotEnforced(target)

    journal.note(
        ran=f"cluster.sidecar_config_dump({proxyconfig.LISTENERS!r}) until "
        f"{proxyconfig.VIRTUAL_OUTBOUND} sends to {expected} ({propagation_timeout:g} s)"
    )
    # The steps' own retry library (as in steps/traffic.py): polling, not a backend's wait.
    retries = stamina.retry_context(
        on=_NotEnforced,
        attempts=None,
        timeout=propagation_timeout,
        wait_initial=0.2,
        wait_max=1.0,
        wait_jitter=0,
    )
    try:
        for attempt in retries:
            with attempt:
                enforced()
    except (_NotEnforced, ClusterError) as error:
        journal.note(observed=seen[-1] if seen else str(error))
        raise AssertionError(
            f"the sidecar does not enforce {mode} after {propagation_timeout:g} s: it sends "
            f"unknown destinations to {seen[-1] if seen else 'nothing'}"
        ) from None
    journal.note(
        observed=f"{proxyconfig.VIRTUAL_OUTBOUND} sends unknown destinations to {expected}"
    )
