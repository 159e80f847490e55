"""What a scenario needs of the source pod when it starts, told from its steps, and a
reset that keeps a pod meeting that need instead of re-creating it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd.parser import FeatureParser, Scenario

from clusters.fake import FakeCluster
from clusters.fake.cluster import INTERNAL_IP_RANGES
from clusters.protocol import Injection, SourcePodNeed
from steps.pod import pytest_egress_source_pod_need as need_of
from tests.kube_api_fake import FakeKubeApi
from tests.kube_api_fake import kube_cluster as kube

FEATURE = """\
Feature: Needs
  Background:
    Given the sleep pod is running with a sidecar

  Scenario: Replaced after the mode
    Given the outbound traffic policy mode is set to "REGISTRY_ONLY"
    When the sleep sample is redeployed with the default interception
    Then the HTTP status code is 502

  Scenario: Replaced at once, with a block
    When the sleep sample is deployed with manual sidecar injection [block 开始之前.2]

  Scenario: Read before it is replaced
    When the source pod runs "curl http://httpbin.org/headers"
    And the sleep sample is redeployed with the default interception

  Scenario: Never replaced
    Then the source pod is ready
"""

VALIDATION = """\
Feature: Validation
  Scenario: Refused
    Given a ServiceEntry that Istio must refuse:
      \"\"\"
      kind: ServiceEntry
      \"\"\"
    Then applying it is refused with "unsupported protocol: HTTPX"
    And no ServiceEntry named "httpbin-ext" exists

  Scenario: Refused, then traffic
    Given a ServiceEntry that Istio must refuse:
      \"\"\"
      kind: ServiceEntry
      \"\"\"
    Then applying it is refused with "unsupported protocol: HTTPX"
    When the source pod runs "curl http://httpbin.org/headers"
"""


def scenarios(tmp_path: Path, text: str) -> dict[str, Scenario]:
    (tmp_path / "needs.feature").write_text(text, encoding="utf-8")
    feature = FeatureParser(str(tmp_path), "needs.feature").parse()
    return {name: template.render({}) for name, template in feature.scenarios.items()}


def test_a_pod_replaced_before_it_is_read_need_only_be_running(tmp_path: Path) -> None:
    found = {name: need_of(scenario) for name, scenario in scenarios(tmp_path, FEATURE).items()}
    assert found == {
        "Replaced after the mode": SourcePodNeed.RUNNING,
        "Replaced at once, with a block": SourcePodNeed.RUNNING,
        "Read before it is replaced": SourcePodNeed.PAGE_START,
        "Never replaced": SourcePodNeed.PAGE_START,
    }


def test_only_a_scenario_that_never_reads_the_pod_needs_none(tmp_path: Path) -> None:
    found = {name: need_of(s) for name, s in scenarios(tmp_path, VALIDATION).items()}
    assert found == {
        "Refused": SourcePodNeed.NONE,
        "Refused, then traffic": SourcePodNeed.PAGE_START,
    }


def test_a_test_that_is_no_scenario_says_nothing() -> None:
    assert need_of(None) is None


def test_kube_reset_keeps_a_running_pod_the_scenario_replaces() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    bypass = cluster.deploy_source_pod(include_ip_ranges=list(INTERNAL_IP_RANGES))
    cluster.reset(source_pod=SourcePodNeed.RUNNING)
    assert cluster.source_pod().name == bypass.name  # kept: the scenario replaces it
    cluster.reset()
    assert cluster.source_pod().name != bypass.name
    assert cluster.source_pod().at_page_start
    cluster.close()


def test_kube_reset_deploys_where_there_is_no_pod_unless_none_is_needed() -> None:
    api = FakeKubeApi()
    cluster = kube(api)
    cluster.delete_source_pod()
    cluster.reset(source_pod=SourcePodNeed.NONE)
    assert cluster.pods_labelled("app=sleep") == []
    cluster.reset(source_pod=SourcePodNeed.RUNNING)
    assert cluster.source_pod().at_page_start
    cluster.close()


@pytest.mark.parametrize(
    ("need", "kept"),
    [(SourcePodNeed.PAGE_START, False), (SourcePodNeed.RUNNING, True), (SourcePodNeed.NONE, True)],
)
def test_the_fake_keeps_what_meets_the_need(need: SourcePodNeed, kept: bool) -> None:
    cluster = FakeCluster()
    manual = cluster.deploy_source_pod(Injection.MANUAL)
    cluster.reset(source_pod=need)
    assert (cluster.source_pod().name == manual.name) is kept
