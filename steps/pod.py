"""Steps about the source pod: deploying sleep, injection, SOURCE_POD, interception."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from pytest_bdd import given, parsers, then, when
from pytest_bdd.parser import Scenario
from pytest_bdd.parsers import StepParser

from clusters.protocol import Cluster, Injection, KubernetesCluster, PodStatus, SourcePodNeed
from fixtures.journal import Journal
from fixtures.page import PageUnderTest
from fixtures.page.refs import BlockRef
from steps import page_commands as pc
from steps.cidrs import networks
from steps.config import MUST_REFUSE, NONE_NAMED, REFUSED_WITH, SET_MODE
from steps.from_page import bound, read_part, settled, take
from steps.logwatch import logged_before_barrier, watch_for
from steps.state import ScenarioState

ALL_OUTBOUND = (None, ("*",))  # include ranges that mean "intercept everything"


INJECTION_WORDS = {
    "automatic": Injection.AUTOMATIC,
    "automatically": Injection.AUTOMATIC,
    "manual": Injection.MANUAL,
    "manually": Injection.MANUAL,
}


def injection_of(word: str) -> Injection:
    """``automatic``/``manual`` as a feature says it."""
    try:
        return INJECTION_WORDS[word.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown sidecar injection {word!r}: say automatic or manual") from None


def describe_pod(pod: PodStatus) -> str:
    ranges = "*" if pod.include_ip_ranges is None else ",".join(pod.include_ip_ranges)
    return (
        f"{pod.name}: {'ready' if pod.ready else 'NOT ready'}, containers "
        f"{', '.join(pod.containers)}, labels "
        f"{', '.join(f'{k}={v}' for k, v in pod.labels.items())}, injection "
        f"{pod.injection.value if pod.injection else 'none'}, intercepted outbound ranges {ranges}"
    )


def same_ranges(actual: tuple[str, ...] | list[str], expected: list[str]) -> bool:
    """Equal as sets of networks (10.0.0.1/24 and 10.0.0.0/24 are the same range)."""
    return set(networks(actual)) == set(networks(expected))


OUTPUT_CHAIN = "ISTIO_OUTPUT"
REDIRECT_CHAIN = "ISTIO_REDIRECT"  # REDIRECTs to the sidecar's outbound port 15001


@dataclass(frozen=True)
class Interception:
    """The outbound destinations a pod's istio-iptables rules send to its sidecar."""

    has_chain: bool  # the rules have an ISTIO_OUTPUT chain at all
    everything: bool  # a rule redirects every destination
    ranges: tuple[str, ...]  # the destinations redirected, in the rules' order


def intercepted(rules: str) -> Interception:
    """Read the ``-A ISTIO_OUTPUT [-p tcp] [-d CIDR] -j ISTIO_REDIRECT`` rules of
    iptables-save's output, or of the iptables-restore input istio-init logs (a log
    prefix before a rule is passed over). A rule with no destination redirects every
    one; a rule with any other match (loopback, the proxy's uid, ``! -d``) is not about
    which destinations go to the sidecar."""
    has_chain, everything, ranges = False, False, []
    for line in rules.splitlines():
        if f":{OUTPUT_CHAIN} " in line or f"-N {OUTPUT_CHAIN}" in line:
            has_chain = True
        start = line.find(f"-A {OUTPUT_CHAIN} ")
        if start < 0:
            continue
        has_chain = True
        words = line[start:].split()[2:]
        if words[-2:] != ["-j", REDIRECT_CHAIN]:
            continue
        matches = words[:-2]
        if matches[:2] == ["-p", "tcp"]:
            matches = matches[2:]
        if not matches:
            everything = True
        elif len(matches) == 2 and matches[0] == "-d":
            ranges.append(matches[1])
    return Interception(has_chain, everything, tuple(ranges))


def deploy(
    cluster: Cluster,
    journal: Journal,
    propagation_timeout: float,
    *,
    injection: Injection = Injection.AUTOMATIC,
    include_ip_ranges: list[str] | None = None,
    how: str = "",
) -> None:
    """(Re-)create the source pod as the page's command would, and wait for its config."""
    call = (
        f"cluster.deploy_source_pod(injection={injection.value!r}, "
        f"include_ip_ranges={include_ip_ranges!r})"
    )
    journal.note(
        ran=f"{call}{' ' + how if how else ''}; "
        f"cluster.wait_for_proxy_config({propagation_timeout:g})",
    )
    pod = cluster.deploy_source_pod(injection=injection, include_ip_ranges=include_ip_ranges)
    cluster.wait_for_proxy_config(propagation_timeout)
    journal.note(observed=describe_pod(pod))


DEPLOY = bound("the sleep sample is deployed with {injection} sidecar injection")


@given(DEPLOY)
@when(DEPLOY)
def deploy_sleep(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    propagation_timeout: float,
    injection: str,
    block: BlockRef | None = None,
) -> None:
    """The page's ``kubectl apply -f samples/sleep/sleep.yaml`` (automatic injection), or
    through ``istioctl kube-inject`` (manual)."""
    mode = settled(
        journal,
        page,
        block,
        "the injection",
        injection_of(injection),
        lambda taken: pc.sample_deploy(taken.part)[1],
    )
    deploy(cluster, journal, propagation_timeout, injection=mode)


RUNNING_WITH_A_SIDECAR = "the sleep pod is running with a sidecar"


@given(RUNNING_WITH_A_SIDECAR)
def sleep_pod_running(cluster: Cluster, journal: Journal) -> None:
    pod = cluster.source_pod()
    journal.note(ran="cluster.source_pod()", observed=describe_pod(pod))
    assert pod.ready, f"the sleep pod {pod.name} is not ready"
    assert pod.has_sidecar, f"the sleep pod {pod.name} has no istio-proxy container"


@when(bound('SOURCE_POD is set to the pod labelled "{label}"'))
def set_source_pod(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    label: str,
    block: BlockRef | None = None,
) -> None:
    """The page's ``export SOURCE_POD=$(kubectl get pod -l LABEL -o
    jsonpath={.items..metadata.name})``: every pod the cluster lists with the label,
    space separated, as the jsonpath prints them."""
    label = settled(journal, page, block, "the label", label, read_part(pc.label_selector))
    if "=" not in label:
        raise ValueError(f'expected a label selector as "key=value", got {label!r}')
    journal.note(ran=f"cluster.pods_labelled({label!r}) (kubectl get pod -l {label})")
    names = cluster.pods_labelled(label)
    scenario_state.source_pod_name = " ".join(names)
    journal.note(observed=f"SOURCE_POD={scenario_state.source_pod_name}")
    assert names, f"no pod is labelled {label}: SOURCE_POD is empty"


@then(parsers.parse('SOURCE_POD names the ready pod that runs "{first}" and "{second}"'))
def source_pod_names(
    cluster: Cluster,
    journal: Journal,
    scenario_state: ScenarioState,
    exec_timeout: float,
    first: str,
    second: str,
) -> None:
    """SOURCE_POD is one pod, the one the cluster reports as the source pod (where every
    later command runs), ready with both containers; on Kubernetes also the pod that
    ``kubectl exec`` reaches, whose hostname is its name."""
    value = scenario_state.source_pod_name
    assert value, "SOURCE_POD was not set in this scenario"
    names = value.split()
    assert len(names) == 1, (
        f"SOURCE_POD is {value!r}: {len(names)} pods have the label, so "
        "`kubectl exec $SOURCE_POD` would not name one pod"
    )
    pod = cluster.source_pod()
    journal.note(ran="cluster.source_pod()", observed=describe_pod(pod))
    assert names[0] == pod.name, f"SOURCE_POD is {names[0]} but the source pod is {pod.name}"
    if isinstance(cluster, KubernetesCluster):
        result = cluster.exec_in_source_pod(("hostname",), exec_timeout)
        hostname = result.stdout.strip()
        journal.note(ran="in the source pod: hostname", observed=hostname or result.stderr)
        assert result.exit_code == 0, f"hostname failed in {pod.name}: {result.stderr.strip()}"
        assert hostname == names[0], f"SOURCE_POD is {names[0]}, but exec reaches {hostname}"
    assert pod.ready, f"{pod.name} is not ready"
    missing = [c for c in (first, second) if c not in pod.containers]
    assert not missing, f"{pod.name} lacks the containers {', '.join(missing)}"


@then("the source pod is ready")
def source_pod_ready(cluster: Cluster, journal: Journal) -> None:
    pod = cluster.source_pod()
    journal.note(ran="cluster.source_pod()", observed=describe_pod(pod))
    assert pod.ready, f"the source pod {pod.name} is not ready"


@then(parsers.parse('the source pod runs the containers "{first}" and "{second}"'))
def source_pod_containers(cluster: Cluster, journal: Journal, first: str, second: str) -> None:
    pod = cluster.source_pod()
    journal.note(ran="cluster.source_pod().containers", observed=" ".join(pod.containers))
    missing = [c for c in (first, second) if c not in pod.containers]
    assert not missing, f"{pod.name} runs {', '.join(pod.containers)}: no {', '.join(missing)}"


@then(parsers.parse("the source pod's sidecar came from {injection} injection"))
def sidecar_injection(cluster: Cluster, journal: Journal, injection: str) -> None:
    expected = injection_of(injection)
    pod = cluster.source_pod()
    journal.note(ran="cluster.source_pod().injection", observed=describe_pod(pod))
    assert pod.has_sidecar, f"{pod.name} has no sidecar at all"
    assert pod.injection is expected, (
        f"the sidecar of {pod.name} came from "
        f"{pod.injection.value if pod.injection else 'no'} injection, not {expected.value}"
    )


# A request to a host outside the cluster (the protocol's internet always has
# httpbin.org): the sidecar logs it when it intercepts the pod's outbound traffic,
# whatever the mode, and logs nothing when the request bypasses it.
PROBE_HOST = "httpbin.org"
PROBE = ("curl", "-sS", "-o", "/dev/null", "--max-time", "10", f"http://{PROBE_HOST}/headers")


def probe_sidecar_log(
    cluster: Cluster, journal: Journal, exec_timeout: float, watch: float
) -> list[str]:
    """Send the probe from the source pod; the new log lines that mention its host."""
    cursor = cluster.sidecar_log_cursor()
    result = cluster.exec_in_source_pod(PROBE, exec_timeout)
    mentioning, count = watch_for(cluster, cursor, PROBE_HOST, watch)
    journal.note(
        ran=f"probe: in the source pod: {shlex.join(PROBE)}; then cluster.sidecar_log(since="
        f"<mark before the probe>), watched for up to {watch:g} s",
        observed=f"probe exit code {result.exit_code}; "
        + (
            f"the sidecar logged it: {mentioning[0][:200]}"
            if mentioning
            else f"no new line of the sidecar's log mentions {PROBE_HOST} ({count} in all)"
        ),
    )
    return mentioning


@then("the source pod's sidecar intercepts all outbound traffic")
def intercepts_all(
    cluster: Cluster, journal: Journal, propagation_timeout: float, exec_timeout: float
) -> None:
    """The pod says it intercepts everything, and a request to an external host shows up
    in the sidecar's log."""
    pod = cluster.source_pod()
    journal.note(ran="cluster.source_pod().include_ip_ranges", observed=describe_pod(pod))
    assert pod.has_sidecar, f"{pod.name} has no sidecar"
    assert pod.include_ip_ranges in ALL_OUTBOUND, (
        f"{pod.name} intercepts only {', '.join(pod.include_ip_ranges or ())}"
    )
    logged = probe_sidecar_log(cluster, journal, exec_timeout, propagation_timeout)
    assert logged, (
        f"a request to http://{PROBE_HOST} left no line in the sidecar's log within "
        f"{propagation_timeout:g} s: the sidecar did not intercept it"
    )


@then("the source pod's sidecar intercepts only the cluster's internal IP ranges")
def intercepts_internal(
    cluster: Cluster, journal: Journal, exec_timeout: float, propagation_timeout: float
) -> None:
    """The pod's ranges are the cluster's internal ones, and a request to an external host
    bypasses the sidecar (its log says nothing of it)."""
    pod = cluster.source_pod()
    internal = cluster.internal_ip_ranges()
    journal.note(
        ran="cluster.source_pod().include_ip_ranges; cluster.internal_ip_ranges()",
        observed=f"{describe_pod(pod)}\ninternal ranges: {', '.join(internal)}",
    )
    assert pod.has_sidecar, f"{pod.name} has no sidecar"
    assert pod.include_ip_ranges not in ALL_OUTBOUND, f"{pod.name} still intercepts everything"
    assert same_ranges(pod.include_ip_ranges or (), internal), (
        f"{pod.name} intercepts {', '.join(pod.include_ip_ranges or ())}, "
        f"not the internal ranges {', '.join(internal)}"
    )
    assert_rules_redirect(cluster, journal, internal)
    cursor = cluster.sidecar_log_cursor()
    result = cluster.exec_in_source_pod(PROBE, exec_timeout)
    logged, count, marker = logged_before_barrier(cluster, cursor, PROBE_HOST, propagation_timeout)
    journal.note(
        ran=f"probe: in the source pod: {shlex.join(PROBE)}; then cluster.sidecar_log_barrier()"
        " and the sidecar's new lines up to the barrier's",
        observed=f"probe exit code {result.exit_code}; "
        + (
            f"the sidecar logged it: {logged[0][:200]}"
            if logged
            else f"no line mentions {PROBE_HOST} before the barrier {marker} ({count} before it)"
        ),
    )
    assert result.exit_code == 0, f"the probe failed: {result.stderr.strip()[:200]}"
    assert not logged, (
        f"a request to http://{PROBE_HOST} went through the sidecar: {logged[0][:200]}"
    )


def assert_rules_redirect(cluster: Cluster, journal: Journal, ranges: list[str]) -> None:
    """The pod's interception rules as installed (not its annotation or istio-init's
    arguments, which say what was asked) send exactly ``ranges`` to the sidecar."""
    rules = intercepted(cluster.interception_rules())
    journal.note(
        ran="cluster.interception_rules() (the pod's istio-iptables rules)",
        observed=f"{OUTPUT_CHAIN} redirects to {REDIRECT_CHAIN}: "
        + ("every destination" if rules.everything else ", ".join(rules.ranges) or "nothing"),
    )
    assert rules.has_chain, f"the pod's interception rules have no {OUTPUT_CHAIN} chain"
    assert not rules.everything, "the pod's interception rules redirect every destination"
    assert same_ranges(rules.ranges, ranges), (
        f"the pod's interception rules redirect {', '.join(rules.ranges) or 'nothing'}, "
        f"not {', '.join(ranges)}"
    )


REDEPLOY_INTERNAL = (
    "the sleep sample is redeployed with the sidecar intercepting only "
    "the cluster's internal IP ranges"
)


@given(REDEPLOY_INTERNAL)
@when(REDEPLOY_INTERNAL)
def redeploy_with_internal_ranges(
    cluster: Cluster, journal: Journal, scenario_state: ScenarioState, propagation_timeout: float
) -> None:
    ranges = cluster.internal_ip_ranges()
    scenario_state.internal_ranges = ranges
    deploy(
        cluster,
        journal,
        propagation_timeout,
        include_ip_ranges=ranges,
        how="(today: the pod annotation traffic.sidecar.istio.io/includeOutboundIPRanges)",
    )


REDEPLOY_DEFAULT = "the sleep sample is redeployed with the default interception"


@given(REDEPLOY_DEFAULT)
@when(REDEPLOY_DEFAULT)
def redeploy_with_default_interception(
    cluster: Cluster, journal: Journal, propagation_timeout: float
) -> None:
    deploy(cluster, journal, propagation_timeout)


@when(bound(parsers.re(r"the sleep sample is deleted$")))
def delete_sleep(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    page_command_runner: Any,
    block: BlockRef | None = None,
) -> None:
    """The page's ``kubectl delete -f samples/sleep/sleep.yaml``: run as written where
    the run compares the page's commands, and then the backend's own delete, which waits
    until the pod is gone (kubectl's returns once the Deployment is)."""
    as_written = None
    if block is not None:
        taken = take(journal, page, block)
        pc.sample_delete(taken.part)
        as_written = page_command_runner(taken)
    if as_written is not None:
        journal.note(ran=as_written.ran, observed=f"{as_written.verdict}: {as_written.detail}")
        assert as_written.verdict == "matched", f"the page's delete as written: {as_written.detail}"
    journal.note(ran="cluster.delete_source_pod()")
    deleted = cluster.delete_source_pod()
    journal.note(observed="pod deleted" if deleted else "there was no pod to delete")
    assert deleted or as_written is not None, "there was no sleep pod to delete"


@then(parsers.parse('no pod is labelled "{label}"'))
def no_pod_labelled(cluster: Cluster, journal: Journal, label: str) -> None:
    """Asked of the cluster (``kubectl get pod -l LABEL``); a cluster that cannot answer
    fails the step with its own words, it does not count as "no pod"."""
    journal.note(ran=f"cluster.pods_labelled({label!r}) (kubectl get pod -l {label})")
    names = cluster.pods_labelled(label)
    journal.note(observed=", ".join(names) if names else "No resources found")
    assert not names, f"{', '.join(names)} still labelled {label}"


# What a scenario needs of the source pod when it starts, told from its steps in order
# (pytest_egress_source_pod_need). Steps that re-create the pod; steps that a pod made
# otherwise than the page's start passes as well as the page's (the mode is the mesh's,
# and "running with a sidecar" holds for either); steps that never read the pod (Istio's
# validation answers the apply); any other step needs the page's pod.
REPLACE_THE_POD = (DEPLOY, parsers.string(REDEPLOY_INTERNAL), parsers.string(REDEPLOY_DEFAULT))
ANY_RUNNING_POD = (parsers.string(RUNNING_WITH_A_SIDECAR), SET_MODE)
NO_POD = (MUST_REFUSE, REFUSED_WITH, NONE_NAMED)


def pytest_egress_source_pod_need(scenario: Scenario | None) -> SourcePodNeed | None:
    """The page's pod, unless the steps, background included, show that less will do:
    any running pod while every step before the pod's re-creation passes on any, no pod
    when no step reads it."""
    if scenario is None:
        return None
    names = [step.name for step in scenario.steps]

    def matches(name: str, parsers_: tuple[StepParser, ...]) -> bool:
        return any(parser.is_matching(name) for parser in parsers_)

    if names and all(matches(name, NO_POD) for name in names):
        return SourcePodNeed.NONE
    for name in names:
        if matches(name, REPLACE_THE_POD):
            return SourcePodNeed.RUNNING
        if not matches(name, ANY_RUNNING_POD):
            break
    return SourcePodNeed.PAGE_START
