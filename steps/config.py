"""Steps about Istio configuration: the mesh's mode, applying YAML, deleting resources.

Every change waits for the source pod's sidecar to run the new configuration (the way
istio.io's own test waits for a change to show) before the next step looks at traffic.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pytest_bdd import given, parsers, then, when

from clusters.istio import proxyconfig
from clusters.istio.kubectl_documents import canonical_kind
from clusters.protocol import Cluster, InvalidResource, OutboundTrafficPolicy
from fixtures.journal import Journal
from fixtures.page import PageUnderTest
from fixtures.page.refs import BlockRef
from steps import page_commands as pc
from steps.from_page import agree, bound, read_part, settled, take
from steps.kubectl import parse_delete
from steps.state import ScenarioState, unescape_quotes


def mode_of(text: str) -> OutboundTrafficPolicy:
    try:
        return OutboundTrafficPolicy(text)
    except ValueError:
        choices = ", ".join(m.value for m in OutboundTrafficPolicy)
        raise ValueError(
            f"unknown outbound traffic policy mode {text!r}: one of {choices}"
        ) from None


def _text(yaml_text: str) -> str:
    """A docstring as the page's heredoc holds it: one final newline."""
    return yaml_text.rstrip("\n") + "\n"


def kind_of(text: str) -> str:
    """A kind as a sentence names it (ServiceEntry, VirtualService, serviceentry, vs...)."""
    kind = canonical_kind(text.strip())
    if kind is None:
        raise ValueError(f"unknown kind {text!r}: the page uses ServiceEntry and VirtualService")
    return kind


def _wait(cluster: Cluster, journal: Journal, timeout: float) -> None:
    started = time.perf_counter()
    cluster.wait_for_proxy_config(timeout)
    journal.note(
        observed=f"the sidecar runs the new configuration ({time.perf_counter() - started:.2f} s)"
    )


SET_MODE = bound('the outbound traffic policy mode is set to "{mode}"')


@given(SET_MODE)
@when(SET_MODE)
def set_mode(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    propagation_timeout: float,
    mode: str,
    block: BlockRef | None = None,
) -> None:
    """The mode the page's command switches to (its sed edit of the istio configmap),
    set through the backend's own means."""
    wanted = settled(journal, page, block, "the mode", mode_of(mode), read_part(pc.mode_set))
    journal.note(
        ran=f"cluster.set_outbound_traffic_policy({wanted.value}); "
        f"cluster.wait_for_proxy_config({propagation_timeout:g})",
    )
    cluster.set_outbound_traffic_policy(wanted)
    _wait(cluster, journal, propagation_timeout)
    actual = cluster.outbound_traffic_policy()
    journal.note(observed=f"meshConfig.outboundTrafficPolicy.mode: {actual.value}")
    assert actual is wanted, f"the mesh's mode is {actual.value} after setting {wanted.value}"
    _assert_sidecar_enforces(cluster, journal, wanted)


def _assert_sidecar_enforces(
    cluster: Cluster, journal: Journal, mode: OutboundTrafficPolicy
) -> None:
    """The mode as the sidecar runs it (where virtualOutbound sends an unknown
    destination), independent of what the mesh config says."""
    dump = cluster.sidecar_config_dump(proxyconfig.LISTENERS)
    target = proxyconfig.unmatched_outbound_cluster(dump)
    journal.note(
        ran=f"cluster.sidecar_config_dump({proxyconfig.LISTENERS!r}) "
        "(istioctl proxy-config listener $SOURCE_POD --port 15001 -o json)",
        observed=f"{proxyconfig.VIRTUAL_OUTBOUND} sends unknown destinations to {target}",
    )
    expected = proxyconfig.CLUSTER_OF_MODE[mode]
    assert target == expected, (
        f"the sidecar sends unknown destinations to {target or 'nothing'}, not {expected}: "
        f"it does not enforce {mode.value}"
    )


@given(bound('the outbound traffic policy mode is "{mode}"'))
@then(bound('the outbound traffic policy mode is "{mode}"'))
def mode_is(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    mode: str,
    block: BlockRef | None = None,
) -> None:
    wanted = settled(
        journal, page, block, "the mode", mode_of(mode), read_part(pc.mode_shown),
        checks_output=True,
    )  # fmt: skip
    actual = cluster.outbound_traffic_policy()
    journal.note(
        ran="cluster.outbound_traffic_policy()",
        observed=f"meshConfig.outboundTrafficPolicy.mode: {actual.value}",
    )
    assert actual is wanted, f"the mesh's mode is {actual.value}, not {wanted.value}"
    _assert_sidecar_enforces(cluster, journal, wanted)


INSTALLED_MODE = "installed_outbound_traffic_policy"
INSTALLED_MODE_SEEN = "installed_outbound_traffic_policy_seen"  # where it was observed


@then(bound('the mesh as installed has outbound traffic policy mode "{mode}"'))
def installed_mode_is(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    mode: str,
    block: BlockRef | None = None,
) -> None:
    """The default as the installation left it: the mode the backend saw a sidecar run
    (its virtualOutbound listener's catch-all cluster) when the mesh came up, before any
    scenario reset the mode; not a mesh config's unset field read as its default."""
    wanted = settled(
        journal, page, block, "the mode", mode_of(mode), read_part(pc.mode_shown),
        checks_output=True,
    )  # fmt: skip
    facts = cluster.describe()
    journal.note(
        ran=f"cluster.describe()[{INSTALLED_MODE!r}] (read when the mesh came up)",
        observed=f"{INSTALLED_MODE}: {facts.get(INSTALLED_MODE, '(not reported)')}"
        + (f" ({facts[INSTALLED_MODE_SEEN]})" if INSTALLED_MODE_SEEN in facts else ""),
    )
    assert INSTALLED_MODE in facts, f"the {cluster.name} backend does not report its installed mode"
    installed = facts[INSTALLED_MODE]
    assert installed == wanted.value, f"the mesh was installed with {installed}, not {wanted.value}"


@given(bound('the {kind} "{name}" is applied:'))
@when(bound('the {kind} "{name}" is applied:'))
def apply_resource(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    propagation_timeout: float,
    kind: str,
    name: str,
    docstring: str,
    block: BlockRef | None = None,
) -> None:
    """Apply the page's YAML as written (the docstring restates it); Istio's refusal
    propagates as its one-line error."""
    wanted = kind_of(kind)
    manifest = settled(journal, page, block, "the YAML", _text(docstring), read_part(pc.manifest))
    journal.note(ran="cluster.apply(<the YAML above>)", applied=manifest)
    refs = cluster.apply(manifest)
    journal.note(observed="\n".join(f"{ref} applied" for ref in refs))
    assert any(ref.kind == wanted and ref.name == name for ref in refs), (
        f"the YAML does not define {wanted} {name!r}: it applied {', '.join(map(str, refs))}"
    )
    _wait(cluster, journal, propagation_timeout)


MUST_REFUSE = parsers.parse("a {kind} that Istio must refuse:")


@given(MUST_REFUSE)
def manifest_to_refuse(
    journal: Journal, scenario_state: ScenarioState, kind: str, docstring: str
) -> None:
    kind_of(kind)
    scenario_state.manifest = docstring
    journal.note(applied=docstring)


REFUSED_WITH = parsers.parse('applying it is refused with "{message}"')


@then(REFUSED_WITH)
def refused_with(
    cluster: Cluster, journal: Journal, scenario_state: ScenarioState, message: str
) -> None:
    expected = unescape_quotes(message)
    assert scenario_state.manifest is not None, "no manifest was given in this scenario"
    journal.note(
        ran="cluster.apply(<the YAML above>)",
        page_output=f"... {expected} ...",
        applied=scenario_state.manifest,
    )
    try:
        refs = cluster.apply(scenario_state.manifest)
    except InvalidResource as error:
        text = str(error)
        journal.note(observed=text)
        assert expected in text, f"Istio refused it, but with {text!r}"
        assert "\n" not in text.strip(), "the refusal is not one line"
        return
    raise AssertionError(f"Istio accepted it: {', '.join(map(str, refs))}")


@given(parsers.parse("no {kind} is left"))
@then(parsers.parse("no {kind} is left"))
def none_left(cluster: Cluster, journal: Journal, kind: str) -> None:
    wanted = kind_of(kind)
    names = cluster.resources(wanted)
    journal.note(
        ran=f"cluster.resources({wanted!r})",
        observed=", ".join(names) or "(none)",
    )
    assert not names, f"{wanted} still present: {', '.join(names)}"


NONE_NAMED = parsers.parse('no {kind} named "{name}" exists')


@then(NONE_NAMED)
def none_named(cluster: Cluster, journal: Journal, kind: str, name: str) -> None:
    wanted = kind_of(kind)
    names = cluster.resources(wanted)
    journal.note(ran=f"cluster.resources({wanted!r})", observed=", ".join(names) or "(none)")
    assert name not in names, f"{wanted} {name!r} exists"


@given(bound('"{command}" is run'))
@when(bound('"{command}" is run'))
def kubectl_delete(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    propagation_timeout: float,
    command: str,
    page_command_runner: Any,
    block: BlockRef | None = None,
) -> None:
    """The page's cleanup lines. Where the run compares the page's commands, the line
    runs as written (kubectl's own delete), and the backend then confirms each object is
    gone; else the backend deletes them. kubectl's errors fail the step."""
    if block is None:
        journal.note(page_command=command)
        taken = None
    else:
        taken = take(journal, page, block)
        command = agree(journal, taken, "the command", command, taken.part.text)
    delete = parse_delete(command)
    as_written = page_command_runner(taken) if taken is not None else None
    if as_written is not None:
        journal.note(ran=as_written.ran, observed=f"{as_written.verdict}: {as_written.detail}")
        if as_written.verdict != "matched":
            raise AssertionError(f"`{command}` as written: {as_written.detail}")
        delete = dataclasses.replace(delete, ignore_not_found=True)  # gone, or a defect
    deleted = False
    for name in delete.names:
        journal.note(
            ran=f"cluster.delete({delete.kind!r}, {name!r}, "
            f"ignore_not_found={delete.ignore_not_found})"
        )
        # Without --ignore-not-found a missing resource raises the cluster's NotFound line.
        if cluster.delete(delete.kind, name, ignore_not_found=delete.ignore_not_found):
            deleted = True
            journal.note(observed=f'{delete.kind.lower()}.networking.istio.io "{name}" deleted')
        elif as_written is not None:
            journal.note(observed=f"{delete.kind} {name!r} is gone (the page's command deleted it)")
        else:
            journal.note(observed=f"{delete.kind} {name!r} was not there (--ignore-not-found)")
    if deleted or as_written is not None:
        _wait(cluster, journal, propagation_timeout)
