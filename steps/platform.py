"""Steps about the page's per-platform IP ranges (the "direct access" section).

The page tells each platform's reader how to find the cluster's internal ranges. A mesh
runs on one platform; which one is read from ``Cluster.describe()["platform"]`` (an
``existing`` cluster's is told from its nodes, clusters/kube/platform.py). The
assumption, stated here once: the embedded ``local`` mesh (network namespaces on one
host, ranges chosen by its builder) and ``kind`` clusters are the page's "Minikube,
Docker for Desktop, bare metal" case, where the ranges are not fixed and must be looked
up. Scenarios for the other platforms are skipped with the page's example range, their
blocks not executed for that reason.

On a Kubernetes cluster the Minikube command runs as written, through a user's kubectl,
and the range it prints must be the cluster's Service range. The embedded mesh has no
kube-apiserver pod to describe: its block is not executed, and its ranges are checked
against what a pod given them as include ranges has in its interception rules.
"""

from __future__ import annotations

import os
import subprocess

from pytest_bdd import given, parsers, then, when

from clusters.protocol import Cluster, ClusterError, KubernetesCluster
from fixtures.journal import Journal
from fixtures.page import PageUnderTest
from fixtures.page.refs import BlockRef
from fixtures.records import PLATFORM
from steps import page_commands
from steps.cidrs import networks
from steps.from_page import Taken, agree, bound, take
from steps.page_commands import CIDR
from steps.pod import assert_rules_redirect, same_ranges
from steps.state import ScenarioState

MINIKUBE = "Minikube, Docker for Desktop or bare metal"

# The page's platform headings -> the values of describe()["platform"] that are that case.
PAGE_PLATFORMS: dict[str, frozenset[str]] = {
    "IBM Cloud Private": frozenset({"icp", "ibm-cloud-private"}),
    "IBM Cloud Kubernetes Service": frozenset({"iks", "ibm-cloud-kubernetes-service"}),
    "Google Kubernetes Engine": frozenset({"gke"}),
    "Azure Container Service": frozenset({"acs", "aks"}),
    MINIKUBE: frozenset({"minikube", "docker-desktop", "bare-metal", "kind", "local"}),
}


def page_platform(name: str) -> frozenset[str]:
    try:
        return PAGE_PLATFORMS[name]
    except KeyError:
        raise ValueError(
            f"the page has no platform {name!r}: one of {', '.join(PAGE_PLATFORMS)}"
        ) from None


def split_ranges(text: str) -> list[str]:
    """The page writes ranges for Helm's --set, with escaped commas: ``a\\,b``."""
    return [part.strip() for part in text.replace("\\,", ",").split(",") if part.strip()]


def _article(noun: str) -> str:
    return "an" if noun[:1].upper() in "AEIOU" else "a"


def _platform(cluster: Cluster) -> str:
    return str(cluster.describe().get("platform"))


def _runs_minikube_command(cluster: Cluster) -> bool:
    """The page's Minikube command (kubectl describe of the kube-apiserver pod) runs where
    a user's kubectl reaches the cluster."""
    return isinstance(cluster, KubernetesCluster)


def _platform_reason(cluster: Cluster, platform: str) -> str | None:
    """Why the page's Minikube command cannot run here, if it cannot."""
    if platform in PAGE_PLATFORMS[MINIKUBE] and not _runs_minikube_command(cluster):
        return (
            f"{PLATFORM}: the {platform} backend has no kube-apiserver pod for the page's "
            "command to describe"
        )
    return None


def _take(
    journal: Journal,
    page: PageUnderTest | None,
    cluster: Cluster,
    platform: str,
    block: BlockRef | None,
    *,
    checks_output: bool = False,
) -> Taken | None:
    if block is None:
        return None
    reason = _platform_reason(cluster, platform)
    return take(journal, page, block, checks_output=checks_output, not_executed=reason)


def run_as_written(cluster: KubernetesCluster, command: str, timeout: float) -> tuple[int, str]:
    """The page's command in bash with pipefail (a failed kubectl is not hidden by its
    grep), with the cluster's KUBECONFIG and PATH; its exit code and output."""
    try:
        completed = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            env={**os.environ, **cluster.shell_env()},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(f"`{command}` did not finish within {timeout:g} s") from None
    return completed.returncode, completed.stdout + completed.stderr


def _service_range_as_printed(
    cluster: KubernetesCluster, journal: Journal, taken: Taken, timeout: float
) -> None:
    """The page's Minikube command, run as written, prints the cluster's Service range."""
    journal.note(ran=f"bash -o pipefail -c {taken.part.text!r} (the cluster's KUBECONFIG)")
    code, printed = run_as_written(cluster, taken.part.text, timeout)
    journal.note(stdout=printed, exit_code=code)
    assert code == 0, f"the page's command failed (exit code {code}): {printed.strip()[-300:]}"
    shown = CIDR.findall(printed)
    journal.note(ran="cluster.service_ip_ranges()")
    service = cluster.service_ip_ranges()
    journal.note(
        observed=f"printed {', '.join(shown) or 'no range'}; the cluster's Service range "
        f"{', '.join(service)}"
    )
    assert shown, f"the page's command printed no IP range: {printed.strip()[-300:]}"
    assert same_ranges(shown, service), (
        f"the page's command prints {', '.join(shown)}, but the cluster's Service range is "
        f"{', '.join(service)}"
    )


@given(bound('the mesh runs on {platform}, where the page\'s range is "{ranges}"'))
def runs_on(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    platform: str,
    ranges: str,
    block: BlockRef | None = None,
) -> None:
    accepted = page_platform(platform)
    described = cluster.describe()
    journal.note(ran='cluster.describe()["platform"]', observed=str(described.get("platform")))
    # A backend must say where it runs (clusters/README.md); without it, every platform's
    # scenario would be skipped and the section never checked.
    assert described.get("platform"), (
        f"the {cluster.name} backend's describe() has no 'platform': add it "
        "(local, kind, gke, minikube, ...)"
    )
    actual = str(described["platform"])
    if actual not in accepted:
        reason = (
            f"this mesh is not {_article(platform)} {platform} cluster (its platform is "
            f"{actual!r}); the page's range there is {', '.join(split_ranges(ranges))}"
        )
        if block is not None:
            take(journal, page, block, not_executed=f"{PLATFORM}: {reason}")
        journal.skip(PLATFORM, reason)
    _take(journal, page, cluster, actual, block)


@when(bound(parsers.re(r"the cluster's internal IP ranges are looked up$")))
def look_up_ranges(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    exec_timeout: float,
    propagation_timeout: float,
    block: BlockRef | None = None,
) -> None:
    """The block, when given, is how the page finds them on that platform: the Minikube
    command runs as written on a Kubernetes cluster. Where it cannot, the backend's
    ranges are given to the source pod as include ranges and must be what its
    interception rules send to the sidecar."""
    platform = _platform(cluster)
    taken = _take(journal, page, cluster, platform, block)
    minikube = platform in PAGE_PLATFORMS[MINIKUBE]
    if taken is not None and minikube and isinstance(cluster, KubernetesCluster):  # kubectl
        _service_range_as_printed(cluster, journal, taken, exec_timeout)
    journal.note(ran="cluster.internal_ip_ranges()")
    ranges = cluster.internal_ip_ranges()
    scenario_state.internal_ranges = ranges
    journal.note(observed=", ".join(ranges) or "(none)")
    if minikube and not _runs_minikube_command(cluster) and ranges:
        journal.note(
            ran=f"cluster.deploy_source_pod(include_ip_ranges={ranges!r}); "
            f"cluster.wait_for_proxy_config({propagation_timeout:g})"
        )
        cluster.deploy_source_pod(include_ip_ranges=ranges)
        cluster.wait_for_proxy_config(propagation_timeout)
        assert_rules_redirect(cluster, journal, ranges)


@then(bound('they are CIDRs of the same IP family as the page\'s "{ranges}"'))
def ranges_like_page(
    cluster: Cluster,
    journal: Journal,
    page: PageUnderTest | None,
    scenario_state: ScenarioState,
    ranges: str,
    block: BlockRef | None = None,
) -> None:
    found = list(scenario_state.internal_ranges or [])
    example = split_ranges(ranges)
    taken = _take(journal, page, cluster, _platform(cluster), block, checks_output=True)
    if taken is not None:
        shown = page_commands.ranges_shown(taken.part)
        example = agree(journal, taken, "the page's ranges", example, shown)
    journal.note(observed=", ".join(found) if found else "(no ranges)")
    assert found, "the mesh reports no internal IP ranges"
    try:
        parsed = networks(found)
    except ValueError as error:
        raise AssertionError(f"not a CIDR: {error}") from None
    families = {n.version for n in networks(example)}
    wrong = [str(n) for n in parsed if n.version not in families]
    assert not wrong, f"{', '.join(wrong)}: not IPv{'/'.join(map(str, sorted(families)))}"
    everything = [str(n) for n in parsed if n.prefixlen == 0]
    assert not everything, f"{', '.join(everything)} covers every address: nothing would bypass"
