"""A small conformance run, for the report tests: every section of the page, each verdict.

It is a real ``pytest features/`` in a directory of its own, with the suite's plugins and
steps, on the in-memory backend (clusters.fake), so it writes every report exactly as
``make conformance`` does, in seconds and without a mesh. One scenario per page section,
titled as the page's features are; section 02 has a passing request and an outdated
step (the drift declared: the in-memory backend has no shell for the page's grep),
section 03 claims REGISTRY_ONLY on a mesh in ALLOW_ANY and fails, with diagnostics.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from fixtures.page import dump_index, parse_page
from fixtures.page.manifests import httpbin_service_entry

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ROOT / "features" / "egress-control"

CONFTEST = '''
import dataclasses
import os
import time

import pytest

from clusters.fake import FakeCluster, default_handler

pytest_plugins = {plugins!r}


def handler(cluster, argv):
    """curl answers as on the page: a status line on stdout, progress on stderr (or the
    run is stopped there, as by Ctrl-C, when the test asks for an interrupted run)."""
    if argv[:1] == ("curl",) and os.environ.get("SMALL_RUN_INTERRUPT_AT_CURL"):
        raise KeyboardInterrupt
    timed = os.environ.get("SMALL_RUN_CURL_LOG")
    if argv[:1] == ("curl",) and timed:  # a request that takes a while, start and end logged
        with open(timed, "a") as log:
            log.write(f"exec start {{time.time()}}\\n")
        time.sleep(1.0)
    result = default_handler(cluster, argv)
    if argv[:1] == ("curl",) and timed:
        with open(timed, "a") as log:
            log.write(f"exec end {{time.time()}}\\n")
    if argv[:1] == ("curl",) and result.exit_code == 0:
        return dataclasses.replace(
            result,
            stdout="HTTP/2 200\\r\\ncontent-type: text/html\\r\\n\\r\\n",
            stderr="* Connected to the site (198.51.100.50) port 443\\n",
        )
    return result


@pytest.fixture(scope="session")
def cluster(pytestconfig):
    from fixtures.journal import ENVIRONMENT_KEY  # imported here: the plugin loads it first

    mesh = FakeCluster(handler=handler)  # ALLOW_ANY, Istio 1.31.0
    pytestconfig.stash[ENVIRONMENT_KEY] = dict(mesh.describe())
    return mesh
'''

# The one failing scenario (section 03), as the reports name it.
FAILED_SECTION = "Change to the blocking-by-default policy"
FAILED_SCENARIO = "The mesh blocks hosts outside the registry"
FAILED_STEP = 'Then the outbound traffic policy mode is "REGISTRY_ONLY"'

PASSING = """
    Then no ServiceEntry is left
"""

SCENARIOS = {
    "01": """
  {tag}
  Scenario: The sleep pod runs with a sidecar
    Given the sleep pod is running with a sidecar
    Then the source pod is ready
""",
    "02": """
  {tag}
  Scenario: An HTTPS request to an unknown host succeeds under ALLOW_ANY
    Given the outbound traffic policy mode is "ALLOW_ANY"
    When the source pod runs "curl -sSI https://www.google.com" [block envoy-passthrough.1]
    Then the command exits with code 0
    And the response status line is "HTTP/2 200" [block envoy-passthrough.1]

  {tag} @drift
  Scenario: The istio configmap shows the mode line
    When the page's command is run as written [block envoy-passthrough.2]
    Then it prints what the page shows [block envoy-passthrough.2]
""",
    "03": """
  {tag}
  Scenario: {failed_scenario}
    {failed_step}
""",
    "04": """
  {tag}
  Scenario: A ServiceEntry lets httpbin.org through
    When the ServiceEntry "httpbin-ext" is applied [block an-external-http-service.1]:
      \"\"\"
{service_entry}      \"\"\"
    And the source pod runs "curl -sS http://httpbin.org/headers"
    Then the command exits with code 0
""",
}

BINDING = """
from pathlib import Path

from pytest_bdd import scenarios

_HERE = Path(__file__).parent
for _feature in sorted(_HERE.glob("*.feature")):
    scenarios(str(_feature.relative_to(_HERE.parent)))
"""

# The small run's page: a unit of its own (features/small-page/), two blocks its
# scenarios bind, so that its reports link verdicts to the page's lines as a real run's
# do. Its facts are the real page's (a curl of www.google.com, the httpbin ServiceEntry);
# it is no revision of istio.io, so its lines read path:line.
SMALL_PAGE = """---
title: Control Egress Traffic
---

## Envoy passthrough

{{{{< text bash >}}}}
$ kubectl exec $SOURCE_POD -c sleep -- curl -sSI https://www.google.com | grep "HTTP/"
HTTP/2 200
{{{{< /text >}}}}

{{{{< text bash >}}}}
$ kubectl get configmap istio -n istio-system -o yaml | grep -o "mode: ALLOW_ANY"
mode: ALLOW_ANY
{{{{< /text >}}}}

## An external HTTP service

{{{{< text bash >}}}}
$ kubectl apply -f - <<EOF
{service_entry}EOF
{{{{< /text >}}}}
"""

UNIT = """title: Control Egress Traffic
title_en: Control Egress Traffic
urls:
  published: https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/
  en: https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/
  latest: https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/
istio.io:
  repository: https://github.com/istio/istio.io
  path: small-page/index.md
  commit: ""
sections:
  doc-envoy-passthrough: envoy-passthrough
  doc-http-service-entry: an-external-http-service
drift:
  envoy-passthrough.2: [configmap-mode-line]
"""


@dataclass(frozen=True)
class Section:
    """One section of the page, as the suite's own feature file names it."""

    file: str  # "02_envoy_passthrough.feature"
    title: str  # the Feature's name: the page's heading
    tag: str  # "@doc-envoy-passthrough"


def page_sections() -> list[Section]:
    """The page's sections in order, read from the suite's feature files."""
    sections = []
    for path in sorted(FEATURES.glob("[0-8]*.feature")):
        text = path.read_text()
        title = re.search(r"^Feature: (.+)$", text, re.M)
        tag = re.search(r"@doc-[a-z-]+", text)
        assert title and tag, f"{path} has no Feature line or no @doc- tag"
        sections.append(Section(path.name, title.group(1).strip(), tag.group(0)))
    return sections


def plugins() -> list[str]:
    """The suite's plugins, as its conftest.py lists them."""
    text = (ROOT / "conftest.py").read_text()
    return re.findall(r'^\s+"([\w.]+)",$', text, re.M)


def write_project(directory: Path) -> None:
    """The run's project: a pytest.ini (its root), a conftest and one feature per section."""
    features = directory / "features" / "small-page"
    features.mkdir(parents=True)
    (features / "page.yaml").write_text(UNIT)
    page = SMALL_PAGE.format(service_entry=httpbin_service_entry())
    (features / "blocks.yaml").write_text(dump_index(parse_page(page)), encoding="utf-8")
    tags = sorted({section.tag[1:] for section in page_sections()} | {"drift"})
    (directory / "pytest.ini").write_text(
        "[pytest]\nbdd_features_base_dir = features\nmarkers =\n"
        + "".join(f"    {tag}\n" for tag in tags)
    )
    (directory / "conftest.py").write_text(CONFTEST.format(plugins=plugins()))
    (features / "test_page.py").write_text(BINDING)
    for section in page_sections():
        number = section.file[:2]
        body = SCENARIOS.get(number, f"\n  {{tag}}\n  Scenario: Nothing is left over\n{PASSING}")
        service_entry = textwrap.indent(httpbin_service_entry(), "      ")  # the page's own
        body = body.format(
            tag=section.tag,
            service_entry=service_entry,
            failed_scenario=FAILED_SCENARIO,
            failed_step=FAILED_STEP,
        )
        feature = f"Feature: {section.title}\n" + textwrap.dedent(body)
        (features / section.file).write_text(feature)


WITH_SHELL = '''

class _WithShell(FakeCluster):
    """The in-memory mesh, with a shell for the page's commands as written."""

    def shell_env(self):
        return {{"PATH": "{bin}" + os.pathsep + os.environ["PATH"]}}


@pytest.fixture(scope="session")
def cluster(pytestconfig):
    from fixtures.journal import ENVIRONMENT_KEY

    mesh = _WithShell(handler=handler)
    pytestconfig.stash[ENVIRONMENT_KEY] = dict(mesh.describe())
    return mesh
'''


def with_shell(directory: Path, programs: dict[str, str]) -> None:
    """The project's mesh gets a shell for the page's commands as written, with
    ``programs`` (name -> script) first on its PATH, so that ``--literal`` runs them."""
    tools = directory / "bin"
    tools.mkdir()
    for name, script in programs.items():
        (tools / name).write_text(script)
        (tools / name).chmod(0o755)
    with (directory / "conftest.py").open("a") as conftest:
        conftest.write(WITH_SHELL.format(bin=tools))


def run(directory: Path, *, interrupt: bool = False) -> subprocess.CompletedProcess[str]:
    """``pytest features/`` in ``directory``: its reports land in ``directory/reports``.
    With ``interrupt``, the run stops (KeyboardInterrupt) at the first curl."""
    write_project(directory)
    env = {**os.environ, "SMALL_RUN_INTERRUPT_AT_CURL": "1" if interrupt else ""}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "features/", "-p", "no:cacheprovider", "-q"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
