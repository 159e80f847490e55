"""What changed since the page was written, as Istio, kubectl and Helm answer it today.

A drift record names one change (Mixer's removal, Helm 3's ``-x``), the release since
which it holds, and the *symptom*: how a release that has the change answers the page's
command. A scenario is marked outdated only when the symptom is observed: the page's
command was run as written and its answer is the record's. A release that still
answers as the page shows passes, whatever the version table says; an answer that
neither the page nor a record explains fails. The version (``since_istio``) explains,
and decides only where a command cannot be run at all ("declared, not observed").

Which records may explain which block is the page unit's knowledge (``drift:`` in its
page.yaml): a record here is about the release, not about one page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Template = str | Callable[[re.Match[str]], str]  # re.sub's replacement


@dataclass(frozen=True)
class Answer:
    """How the release answered one of the page's commands."""

    exit_code: int
    printed: str  # stdout and stderr as a terminal shows them


@dataclass(frozen=True)
class Drift:
    name: str
    since: str  # the release that changed it: "Istio 1.8", "kubectl 1.11", "Helm 3.0"
    reason: str  # one line for the report: what changed and what replaced it
    symptom: str  # one line: the answer that shows it
    # The symptom, as one of: the answer prints this (and exits so, when given) ...
    prints: re.Pattern[str] | None = None
    exit_code: int | None = None
    silent: bool = False  # ... or it prints nothing (and exits so) ...
    # ... or its output differs from the page's only in lines this matches, on either
    # side, as verify.like_key writes them.
    varying: re.Pattern[str] | None = None
    # ... or the page's access-log entry is an older format's, and the sidecar logged
    # the same request in today's (clusters.istio.accesslog.same_request).
    same_request: bool = False
    # A command whose answer shows the symptom when the page's own answer cannot (sed
    # piped to kubectl replace answers "replaced" whether or not sed found its line).
    probe: str | None = None
    # The page's command as it reads today: re.sub(pattern, template) over the command.
    # A rerun_replacement does what the page's command meant without changing the
    # cluster (it reads, or runs the same thing in the pod), so the run runs it and
    # proposes what it printed.
    replacement: tuple[re.Pattern[str], Template] | None = None
    rerun_replacement: tuple[re.Pattern[str], Template] | None = None
    since_istio: tuple[int, int] | None = None  # for "declared, not observed"

    def answered(self, answer: Answer) -> bool:
        """Whether an answer (the command's, or the probe's) is this record's symptom."""
        if self.exit_code is not None and answer.exit_code != self.exit_code:
            return False
        if self.silent:
            return not answer.printed.strip()
        return self.prints is not None and self.prints.search(answer.printed) is not None

    def replace(self, command: str) -> str | None:
        """The page's command as it should now read, or None when this record has none
        for it."""
        for replacement in (self.replacement, self.rerun_replacement):
            if replacement is not None and replacement[0].search(command) is not None:
                return replacement[0].sub(replacement[1], command)
        return None

    def reruns(self, command: str) -> bool:
        """Whether today's form of the command may be run by the run (it changes nothing)."""
        rerun = self.rerun_replacement
        return rerun is not None and rerun[0].search(command) is not None


FLAGS = "<the flags you used to install Istio>"

DRIFTS: dict[str, Drift] = {
    drift.name: drift
    for drift in (
        Drift(
            "configmap-mode-line",
            since="Istio 1.3",
            reason="a default install's istio configmap has no outboundTrafficPolicy line: the "
            "mode is meshConfig.outboundTrafficPolicy.mode, set with istioctl install --set",
            symptom="the istio configmap has no `mode:` line (grep finds nothing)",
            silent=True,
            exit_code=1,
            probe="kubectl get configmap istio -n istio-system -o yaml | grep 'mode: '",
            replacement=(
                re.compile(
                    r"^kubectl get configmap istio -n istio-system -o yaml \| sed "
                    r"'s/mode: \w+/mode: (?P<mode>\w+)/g' \| kubectl replace -n istio-system -f -$"
                ),
                f"istioctl install {FLAGS} --set meshConfig.outboundTrafficPolicy.mode=\\g<mode>",
            ),
            # the page's check of the default: where the sidecar sends what it does not
            # know, as istioctl shows it
            rerun_replacement=(
                re.compile(
                    r"^kubectl get configmap istio -n istio-system -o yaml \| "
                    r'grep -o "mode: ALLOW_ANY"$'
                ),
                "istioctl proxy-config listener $SOURCE_POD --port 15001 -o json | grep -o "
                '\'"cluster": "PassthroughCluster"\' | head -1',
            ),
            since_istio=(1, 3),
        ),
        Drift(
            "mixer-logs",
            since="Istio 1.8",
            reason="Mixer was removed (telemetry v2 replaced it in Istio 1.5): no "
            "istio-mixer-type=telemetry pod is left to read; the sidecar's access log has "
            "the request",
            symptom="kubectl finds no pod labelled istio-mixer-type=telemetry",
            prints=re.compile(r"No resources found"),
            rerun_replacement=(
                re.compile(
                    r"^kubectl -n istio-system logs -l istio-mixer-type=telemetry -c mixer"
                    r" \| grep (?P<host>\S+)$"
                ),
                r"kubectl logs $SOURCE_POD -c istio-proxy | grep \g<host>",
            ),
            since_istio=(1, 8),
        ),
        Drift(
            "helm-template-x",
            since="Helm 3.0",
            reason="helm template's -x (--execute) became -s (--show-only) in Helm 3, and "
            "Istio's charts no longer render templates/sidecar-injector-configmap.yaml: set "
            "values.global.proxy.includeIPRanges with istioctl install",
            symptom="helm refuses -x",
            prints=re.compile(r"unknown shorthand flag: 'x'"),
            replacement=(
                re.compile(
                    r"^helm template install/kubernetes/helm/istio <the flags you used to "
                    r"install Istio>(?: --set global\.proxy\.includeIPRanges=(?P<ranges>\S+))?"
                    r" -x templates/sidecar-injector-configmap\.yaml \| kubectl apply -f -$"
                ),
                lambda found: (
                    f"istioctl install {FLAGS}"
                    + (
                        f" --set values.global.proxy.includeIPRanges={found['ranges']}"
                        if found["ranges"]
                        else ""
                    )
                ),
            ),
            since_istio=(1, 5),
        ),
        Drift(
            "kubectl-exec-without-dashes",
            since="kubectl 1.31",
            reason="kubectl exec takes the command after `--` only: `kubectl exec POD CMD` "
            "was deprecated in kubectl 1.18 (kubernetes/kubernetes#88460) and is refused "
            "since 1.31 (#125437)",
            symptom="kubectl refuses `exec POD COMMAND` without `--`",
            prints=re.compile(r"exec \[POD\] \[COMMAND\] is not supported anymore"),
            rerun_replacement=(
                re.compile(r"^(?P<exec>kubectl exec (?:-it )?\S+ -c \S+) (?P<cmd>(?!--)\S.*)$"),
                r"\g<exec> -- \g<cmd>",
            ),
        ),
        Drift(
            "kubectl-object-names",
            since="kubectl 1.11",
            reason='kubectl names the object as KIND/NAME in its answers ("configmap/istio '
            'replaced"), where the page\'s older kubectl wrote KIND "NAME"',
            symptom='kubectl answers KIND/NAME, not KIND "NAME"',
            varying=re.compile(r'^\S+(?: "[^"]+"|/\S+) (?:replaced|created|configured|deleted)$'),
        ),
        Drift(
            "sleep-curl-version",
            since="the sleep sample's image (curl/7.60.0 is Istio 1.1's)",
            reason="the sleep sample's curl is a newer release than the page's curl/7.60.0",
            symptom="only the User-Agent's curl version differs",
            varying=re.compile(r'"User-Agent": "curl/[\d.]+'),
        ),
        Drift(
            "httpbin-connection-close",
            since="httpbin.org's 2019 front end",
            reason="the Connection: close the page shows was added by httpbin.org's front end "
            "of 2019; the sidecar keeps its upstream connection open and sends none",
            symptom="the server sees no Connection header",
            varying=re.compile(r'^"Connection": "close",?$'),
        ),
        Drift(
            "envoy-peer-metadata",
            since="Istio 1.5",
            reason="telemetry v2 (Istio 1.5) makes the sidecar send its peer's metadata to "
            "the server (X-Envoy-Peer-Metadata, X-Envoy-Peer-Metadata-Id)",
            symptom="the server sees X-Envoy-Peer-Metadata headers the page does not show",
            varying=re.compile(r'^"X-Envoy-Peer-Metadata(?:-Id)?": '),
        ),
        Drift(
            "envoy-access-log-format",
            since="Istio 1.9",
            reason="Istio 1.9's default access-log format added %RESPONSE_CODE_DETAILS% and "
            "%CONNECTION_TERMINATION_DETAILS% (istio/istio#27903), and Istio 1.2 the "
            "upstream failure reason and route name: the page's line is Istio 1.1's",
            symptom="the sidecar logs the page's request, in today's format",
            same_request=True,
        ),
    )
}


def known_drift(name: str) -> Drift:
    """The drift record of that name; a typo in a page unit fails loudly."""
    try:
        return DRIFTS[name]
    except KeyError:
        raise ValueError(
            f"unknown drift record {name!r}: known records are {', '.join(DRIFTS)}"
        ) from None


def istio_minor(version: str | None) -> tuple[int, int] | None:
    """The (major, minor) a backend's ``istio`` fact starts with ("1.31.0", "1.31-dev
    (istio.io/istio ...)"); None when it names no release."""
    found = re.match(r"\s*v?(\d+)\.(\d+)", version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def declared(drift: Drift, facts: Mapping[str, str]) -> bool:
    """Whether the version table says the Istio a backend describes has this change (an
    Istio that names no release is taken to be a current one)."""
    if drift.since_istio is None:
        return False
    minor = istio_minor(facts.get("istio"))
    return minor is None or minor >= drift.since_istio
