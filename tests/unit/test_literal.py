"""The page's commands run as written: each verdict can happen, and a difference is
outdated only when a drift record's symptom is what the release answered.

The answers below are recorded from kind with Istio 1.30 and kubectl 1.34 (and from the
page itself, for the lines the release no longer prints)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clusters.istio.drift import DRIFTS, Answer, known_drift
from fixtures import literal, literal_plugin
from fixtures.literal import (
    DIFFERED,
    FAILED,
    MATCHED,
    NOT_RUN,
    LiteralShell,
    PageCommand,
    judge,
    scenario_verdict,
)
from fixtures.records import StepRecord

GREP = 'kubectl get configmap istio -n istio-system -o yaml | grep -o "mode: ALLOW_ANY"'
SED = (
    "kubectl get configmap istio -n istio-system -o yaml | sed 's/mode: ALLOW_ANY/mode: "
    "REGISTRY_ONLY/g' | kubectl replace -n istio-system -f -"
)
MIXER = "kubectl -n istio-system logs -l istio-mixer-type=telemetry -c mixer | grep 'httpbin.org'"
HELM = (
    "helm template install/kubernetes/helm/istio <the flags you used to install Istio> "
    '--set global.proxy.includeIPRanges="10.0.0.1/24" -x '
    "templates/sidecar-injector-configmap.yaml | kubectl apply -f -"
)
PAGE_LOG = (
    '[2019-01-24T12:17:11.640Z] "GET /headers HTTP/1.1" 200 - 0 599 214 214 "-" '
    '"curl/7.60.0" "17fde8f7-fa62-9b39-8999-302324e6def2" "httpbin.org" "35.173.6.94:80" '
    "outbound|80||httpbin.org - 35.173.6.94:80 172.30.109.82:55314 -"
)
TODAYS_LOG = (
    '[2026-12-03T16:20:01.102Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 612 3 2 '
    '"-" "curl/8.14.1" "0b6c2a9e-4a57-4a7e-9d2b-6c1f7e1d3a11" "httpbin.org" '
    '"198.51.100.10:80" outbound|80||httpbin.org 198.18.0.7:41234 198.51.100.10:80 '
    "198.18.0.7:55314 - default"
)


def command(text: str, expected: str, *drifts: str, mode: str | None = None) -> PageCommand:
    from fixtures.page import verify

    return PageCommand(
        block_id="b.1",
        text=text,
        line=59,
        part=1,
        shell=None,
        expected=expected,
        mode=mode or verify.default_mode(expected).value,
        drifts=tuple(known_drift(name) for name in drifts),
    )


@pytest.fixture
def shell(tmp_path: Path) -> LiteralShell:
    facts = {"backend": "kind", "istio": "1.30.0", "install_flags": "--set profile=default"}
    return LiteralShell(dict(os.environ), tmp_path, facts, owns_istio=True)


def test_a_page_without_output_claims_only_success() -> None:
    ran = command("kubectl apply -f samples/sleep/sleep.yaml", "")
    assert judge(ran, Answer(0, "deployment.apps/sleep created"), "x").verdict == MATCHED
    assert judge(ran, Answer(1, "error: the path does not exist"), "x").verdict == FAILED


def test_an_exit_the_page_shows_is_matched() -> None:
    ran = command("kubectl exec … | grep HTTP/", "command terminated with exit code 35")
    printed = "Unable to use a TTY - input is not a terminal or the right kind of file\n"
    verdict = judge(ran, Answer(1, printed + "command terminated with exit code 35\n"), "x")
    assert verdict.verdict == MATCHED, verdict
    assert judge(ran, Answer(1, "command terminated with exit code 6\n"), "x").verdict == DIFFERED


def test_an_exit_the_page_does_not_show_fails_with_its_last_line() -> None:
    verdict = judge(command(GREP, "mode: ALLOW_ANY"), Answer(127, "bash: kubectl: not found"), "x")
    assert (verdict.verdict, verdict.detail) == (FAILED, "exit code 127: bash: kubectl: not found")


NO_MIXER = Answer(1, "No resources found in istio-system namespace.\n")
NO_LOGIN = Answer(1, "error: You must be logged in to the server\n")
NO_X = Answer(1, "Error: unknown shorthand flag: 'x' in -x\nerror: no objects passed to apply\n")
NO_HELM = Answer(127, "bash: helm: command not found\n")
REPLACED = 'configmap "istio" replaced'
UA = '"User-Agent": "curl/7.60.0",'
UA_NOW = Answer(0, '"User-Agent": "curl/8.14.1",')
LOG_NOW = Answer(0, TODAYS_LOG + "\n")
LOG_502 = Answer(0, TODAYS_LOG.replace(" 200 ", " 502 ") + "\n")


@pytest.mark.parametrize(
    ("drift", "text", "expected", "answer", "explained"),
    [
        # grep exits 1 with no output: the mode line is gone
        ("configmap-mode-line", GREP, "mode: ALLOW_ANY", Answer(1, ""), None),
        ("mixer-logs", MIXER, '{"level":"info"}', NO_MIXER, True),
        ("mixer-logs", MIXER, '{"level":"info"}', NO_LOGIN, False),
        ("helm-template-x", HELM, "", NO_X, True),
        ("helm-template-x", HELM, "", NO_HELM, False),
        ("kubectl-object-names", SED, REPLACED, Answer(0, "configmap/istio replaced\n"), True),
        ("kubectl-object-names", SED, REPLACED, Answer(0, "configmap/x replaced\nwarn\n"), False),
        ("sleep-curl-version", "curl", UA, UA_NOW, True),
        ("envoy-access-log-format", "kubectl logs", PAGE_LOG, LOG_NOW, True),
        ("envoy-access-log-format", "kubectl logs", PAGE_LOG, LOG_502, False),
    ],
)  # fmt: skip
def test_a_drift_explains_only_its_symptom(
    drift: str, text: str, expected: str, answer: Answer, explained: bool | None
) -> None:
    mode = literal.ACCESS_LOG if drift == "envoy-access-log-format" else None
    ran = command(text, expected, drift, mode=mode)
    record = DRIFTS[drift]
    if record.probe is not None:  # its symptom is the probe's answer, not the command's
        assert record.answered(Answer(1, ""))
        assert not record.answered(Answer(0, "      mode: ALLOW_ANY\n"))
        return
    assert literal.explained_by(record, ran, answer, None) is explained


def test_a_difference_is_outdated_only_with_a_symptom(shell: LiteralShell) -> None:
    observed = shell.run(
        command(
            "echo configmap/istio replaced", 'configmap "istio" replaced', "kubectl-object-names"
        ),
        None,
    )
    assert (observed.verdict, observed.outdated) == (DIFFERED, True), observed
    assert observed.drift is not None and observed.drift.startswith("observed: kubectl names")
    unexplained = shell.run(
        command("echo something else", 'configmap "istio" replaced', "kubectl-object-names"), None
    )
    assert unexplained.unexplained and not unexplained.outdated
    assert unexplained.proposed_output == "something else\n"


def test_a_matching_answer_passes_whatever_the_version_table_says(shell: LiteralShell) -> None:
    still = shell.run(
        command("echo 'mode: ALLOW_ANY'", "mode: ALLOW_ANY", "configmap-mode-line"), None
    )
    assert (still.verdict, still.drift) == (MATCHED, None)


def test_the_probe_decides_for_the_sed(shell: LiteralShell, tmp_path: Path) -> None:
    """sed | kubectl replace answers "replaced" either way; the probe reads the configmap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        '#!/bin/sh\ncase "$*" in *replace*) cat >/dev/null; echo configmap/istio replaced;;\n'
        '*) printf "data:\\n  mesh: |-\\n    accessLogFile: /dev/stdout\\n";; esac\n'
    )
    kubectl.chmod(0o755)
    shell.env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    ran = command(SED, 'configmap "istio" replaced', "configmap-mode-line", "kubectl-object-names")
    verdict = shell.run(ran, None)
    assert verdict.drift is not None and "no outboundTrafficPolicy line" in verdict.drift
    assert verdict.proposed_command == (
        "istioctl install <the flags you used to install Istio> "
        "--set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY"
    )


def test_placeholders_are_filled_and_unknown_ones_not_run(shell: LiteralShell) -> None:
    ran = command("echo <the flags you used to install Istio>", "--set profile=default")
    assert shell.run(ran, None).verdict == MATCHED
    del shell.facts["install_flags"]
    verdict = shell.run(ran, None)
    assert verdict.verdict == NOT_RUN and "flags you used to install Istio" in verdict.detail


def test_a_missing_program_is_never_an_observation(shell: LiteralShell) -> None:
    shell.env["PATH"] = "/nonexistent"
    verdict = shell.run(command(HELM, "", "helm-template-x"), None)
    assert verdict.verdict == NOT_RUN and "helm is not installed here" in verdict.detail
    assert verdict.drift is not None and verdict.drift.startswith("declared, not observed")


def test_istio_system_is_not_changed_on_a_cluster_the_run_does_not_own(tmp_path: Path) -> None:
    existing = LiteralShell(dict(os.environ), tmp_path, {"install_flags": ""}, owns_istio=False)
    verdict = existing.run(command(SED, 'configmap "istio" replaced'), None)
    assert verdict.verdict == NOT_RUN and "does not own" in verdict.detail


def test_the_interactive_shell_gets_the_typed_command(shell: LiteralShell) -> None:
    typed = PageCommand("b.1", "echo 200", 238, 1, "sh", "200", "like", ())
    assert shell.run(typed, None).verdict == MATCHED


def test_apply_runs_as_a_server_side_dry_run(shell: LiteralShell, tmp_path: Path) -> None:
    verdict = shell.run(command("echo kubectl apply -f x.yaml", ""), None)
    assert verdict.ran == "echo kubectl apply --dry-run=server -f x.yaml"


def test_the_samples_are_where_the_page_expects_them(tmp_path: Path) -> None:
    from clusters.istio import injection

    assert "kind: Deployment" in injection.sleep_sample_text()


def test_the_scenario_verdict_weighs_every_command() -> None:
    def step(drift: str | None) -> StepRecord:
        done = StepRecord("When", "x", 1, literal="differed: x", page_line=59)
        done.drift = drift
        return done

    assert scenario_verdict([StepRecord("When", "x", 1)]) == (None, None)
    assert scenario_verdict([step("observed: y")])[0] == "outdated"
    verdict, why = scenario_verdict([step("observed: y"), step("unexplained: z")])
    assert verdict == FAILED and why is not None and "line 59" in why


def test_records_that_let_lines_vary_explain_a_difference_together(shell: LiteralShell) -> None:
    page = '{\n"Connection": "close",\n"User-Agent": "curl/7.60.0",\n...\n}'
    printed = '{\n"User-Agent": "curl/8.14.1",\n"X-Envoy-Attempt-Count": "1"\n}'
    both = command(f"printf '{printed}'", page, "sleep-curl-version", "httpbin-connection-close")
    verdict = shell.run(both, None)
    assert verdict.outdated, verdict
    assert verdict.drift is not None and "curl" in verdict.drift and "Connection" in verdict.drift
    one = command(f"printf '{printed}'", page, "sleep-curl-version")
    assert shell.run(one, None).unexplained


def test_a_shell_typed_into_is_rewritten_and_rerun(shell: LiteralShell, tmp_path: Path) -> None:
    """kubectl refuses `exec POD sh` without `--`: the shell line is proposed with `--`,
    and the output is what the typed command printed once the shell opened."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        '#!/bin/bash\nfor a in "$@"; do [ "$a" = -- ] && exec sh; done\n'
        'echo "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- '
        '[COMMAND] instead"; exit 1\n'
    )
    kubectl.chmod(0o755)
    shell.env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    typed = PageCommand(
        "b.1", "echo 504", 273, 1, "kubectl exec -it $SOURCE_POD -c sleep sh", "504", "like",
        (known_drift("kubectl-exec-without-dashes"),), shell_line=272,
    )  # fmt: skip
    verdict = shell.run(typed, "sleep-1")
    assert verdict.outdated, verdict
    assert verdict.proposed_shell == "kubectl exec -it $SOURCE_POD -c sleep -- sh"
    assert verdict.proposed_command is None
    assert verdict.proposed_output is not None and verdict.proposed_output.strip() == "504"


def test_helm_s_ranges_become_istioctl_values() -> None:
    helm = known_drift("helm-template-x").replace(HELM)
    assert helm == (
        "istioctl install <the flags you used to install Istio> "
        '--set values.global.proxy.includeIPRanges="10.0.0.1/24"'
    )


def test_a_terminal_shows_text_not_its_control_sequences() -> None:
    """bash's line editor at a terminal: bracketed paste, erase-line, the prompt and the
    echo of what was typed (ahead of the prompt, then redrawn) are the terminal's, not
    the command's output."""
    shown = literal._terminal_text(
        "time curl -s http://x \x1b[?2004h\x1b[Ksh-5.2$ time curl -s http://x\r\n"
        "\x1b[?2004l504\r\n\r\n"
        "real\t0m3.012s\r\n\x1b[?2004hsh-5.2$ exit\r\n\x1b[?2004lexit\r\n"
    )
    typed = PageCommand("b.1", "time curl -s http://x", 273, 1, "sh", "504", "like", ())
    assert literal._without_typing(shown, typed) == "504\n\nreal\t0m3.012s"


@pytest.mark.parametrize(
    ("cluster", "chosen", "enabled"),
    [
        ("kind", None, True),
        ("existing", None, True),
        ("local", None, False),
        ("kind", False, False),  # --no-literal
        ("local", True, True),  # --literal: the embedded mesh's own kubectl answers
    ],
)
def test_the_page_s_commands_run_by_default_on_a_real_cluster(
    cluster: str, chosen: bool | None, enabled: bool
) -> None:
    class Config:
        def getoption(self, name: str, default: object = None) -> object:
            return {"literal": chosen, "cluster": cluster}.get(name, default)

    assert literal_plugin.literal_enabled(Config()) is enabled  # type: ignore[arg-type]


def test_a_script_that_exits_gives_its_status(shell: LiteralShell) -> None:
    """The script's own status and what it printed, each time (the terminal is closed
    without ptyprocess's delay, after bash has exited)."""
    for _ in range(5):
        assert shell.answer("echo done; exit 3", "", None) == Answer(3, "done\n")
