"""The journal and the page report end to end, on a stand-in mesh (no network, no root).

A pytester run binds a small feature to the real step vocabulary and plugins, with the
``cluster`` fixture replaced by a stand-in, and reads the page report it leaves.
"""

import textwrap

pytest_plugins = ("pytester",)

PLUGINS = [
    "fixtures.page_plugin",
    "fixtures.options",
    "fixtures.journal",
    "fixtures.literal_plugin",
    "fixtures.diagnostics",
    "fixtures.cluster",
    "fixtures.reports.outcome",
    "fixtures.reports.page_view",
    "fixtures.reports.summary_json",
    "steps.state",
    "steps.config",
    "steps.drift",
    "steps.traffic",
]

CONFTEST = f'''
import pytest

from clusters.protocol import ExecResult, InvalidResource, LogCursor, OutboundTrafficPolicy

pytest_plugins = {PLUGINS!r}


class StandIn:
    """Answers like a mesh in ALLOW_ANY on a current Istio (Mixer gone) where curl
    always fails."""

    name = "stand-in"
    resets = 0

    def describe(self):
        return {{"backend": "stand-in", "platform": "none", "istio": "1.31.0"}}

    def reset(self, *, source_pod=None):
        StandIn.resets += 1

    def wait_for_proxy_config(self, timeout):
        pass

    def outbound_traffic_policy(self):
        return OutboundTrafficPolicy.ALLOW_ANY

    def sidecar_config_dump(self, resource):
        chain = {{"filters": [{{"name": "envoy.filters.network.tcp_proxy",
                               "typed_config": {{"cluster": "PassthroughCluster"}}}}]}}
        listener = {{"name": "virtualOutbound", "filter_chains": [chain]}}
        return {{"configs": [{{"active_state": {{"listener": listener}}}}]}}

    def sidecar_log_cursor(self):
        return LogCursor(pod="sleep-1", lines=0)

    def apply(self, manifest):
        raise InvalidResource('spec.resolution: Unsupported value: "DSN"')

    def exec_in_source_pod(self, argv, timeout):
        return ExecResult(tuple(argv), 35, "", "curl: (35) handshake", 0.01)


@pytest.fixture(scope="session")
def cluster():
    return StandIn()


def pytest_sessionfinish(session):
    print(f"resets={{StandIn.resets}}")
'''

FEATURE = '''
Feature: A section
  What the page says in this section.

  @doc-envoy-passthrough
  Scenario: The mode is the default
    The page claims ALLOW_ANY.

    Then the outbound traffic policy mode is "ALLOW_ANY"

  @doc-envoy-passthrough
  Scenario: A claim that fails
    The page claims REGISTRY_ONLY.

    Then the outbound traffic policy mode is "REGISTRY_ONLY"
    And the outbound traffic policy mode is "ALLOW_ANY"

  @doc-envoy-passthrough
  Scenario: Bad YAML
    Given the ServiceEntry "httpbin-ext" is applied:
      """
      kind: ServiceEntry
      """

  @doc-envoy-passthrough
  Scenario: A retried check
    When the source pod runs "curl -I https://www.google.com"
    Then eventually the command exits with code 0
'''

BINDING = """
from pytest_bdd import scenarios

scenarios("a_section.feature")
"""


def run(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".feature", a_section=textwrap.dedent(FEATURE))
    pytester.makepyfile(test_binding=BINDING)
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--page-report-dir", "out", "--propagation-timeout", "0.5", "-s"
    )


def test_the_page_report_tells_each_scenarios_story(pytester):
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*resets=4*"])
    result.stdout.fnmatch_lines(["*page report: out/page.md*", "*page report: out/page.html*"])
    markdown = (pytester.path / "out" / "page.md").read_text()
    assert "| [A section](#a-section) | 4 | 1 | 3 | 0 | 0 | 0 |" in markdown
    # Istio's refusal of bad YAML is the failure, in its own words
    assert '❌ failed: spec.resolution: Unsupported value: "DSN"' in markdown
    # what the suite did and saw; no page unit here, so no step shows a page's command
    # (tests/local/test_page_revisions.py runs the page's own)
    assert "ran: `cluster.outbound_traffic_policy()`" in markdown
    assert "- page: `" not in markdown
    # a failing step names the failure; the steps after it are listed as not run
    assert "❌ failed: the mesh's mode is ALLOW_ANY, not REGISTRY_ONLY" in markdown
    assert '**And** the outbound traffic policy mode is "ALLOW_ANY" — · not run' in markdown
    # "eventually" retried within the propagation timeout, and says so
    assert "attempts" in markdown
    assert "command terminated with exit code 35" in markdown
    html = (pytester.path / "out" / "page.html").read_text()
    assert "the mesh&#39;s mode is ALLOW_ANY, not REGISTRY_ONLY" in html


def test_unit_tests_never_start_the_mesh(pytester):
    pytester.makeconftest(f"pytest_plugins = {PLUGINS!r}")
    pytester.makepyfile(test_unit="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--page-report-dir", "out")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "out").exists()


CURRENT_ISTIO_CONFTEST = f'''
import pytest

pytest_plugins = {[*PLUGINS, "steps.platform"]!r}


class OldIstio:
    """A mesh on an Istio that still has every step of the page (1.2, before Mixer went
    and the mode line left the configmap) and that does not say where it runs."""

    name = "old-istio"

    def describe(self):
        return {{"backend": "old-istio", "istio": "1.2.10"}}

    def reset(self, *, source_pod=None):
        pass

    def wait_for_proxy_config(self, timeout):
        pass



@pytest.fixture(scope="session")
def cluster():
    return OldIstio()
'''

UNCHECKABLE = """
Feature: Claims the protocol cannot check

  @doc-http-service-entry @drift
  Scenario: Mixer's log
    When the page's command is run as written
    Then it prints what the page shows

  @doc-direct-access
  Scenario: A platform
    Given the mesh runs on Google Kubernetes Engine, where the page's range is "10.4.0.0/14"
"""


def test_what_cannot_be_checked_fails_rather_than_passes_or_skips(pytester):
    pytester.makeconftest(CURRENT_ISTIO_CONFTEST)
    pytester.makefile(".feature", uncheckable=textwrap.dedent(UNCHECKABLE))
    pytester.makepyfile(test_binding=BINDING.replace("a_section", "uncheckable"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--page-report-dir", "out")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*this step runs a block of the page*"])
    result.stdout.fnmatch_lines(["*describe() has no 'platform'*"])
