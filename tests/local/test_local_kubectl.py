"""The local mesh's kubectl (clusters/local/kubectl.py): the page's commands as written.

The pure tests read the command line and print as kubectl v1.34 does, without a mesh.
The others start a real local mesh (istiod), take ``shell_env()`` and run the page's
commands in bash, as fixtures.literal runs them, so they need root like the backend.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.istio import injection
from clusters.local import istioctl, kubeargs, kubectl
from clusters.local.kubeargs import KubectlError
from clusters.local.mesh import PROJECT_ROOT, LocalCluster
from clusters.protocol import ClusterError, Injection, OutboundTrafficPolicy
from clusters.shared import processes
from fixtures.page.manifests import httpbin_service_entry

# The page's commands (egress-control.zh.md), as written.
GET_MODE = 'kubectl get configmap istio -n istio-system -o yaml | grep -o "mode: {mode}"'
SED_REPLACE = (
    "kubectl get configmap istio -n istio-system -o yaml | "
    "sed 's/mode: {old}/mode: {new}/g' | kubectl replace -n istio-system -f -"
)
MIXER_LOGS = (
    "kubectl -n istio-system logs -l istio-mixer-type=telemetry -c mixer | grep 'httpbin.org'"
)
SOURCE_POD = "kubectl get pod -l app=sleep -o jsonpath={.items..metadata.name}"
CURL_GOOGLE = (
    'kubectl exec -it $SOURCE_POD -c sleep -- curl -I https://www.google.com | grep  "HTTP/"'
)
DELETE_SE = "kubectl delete serviceentry httpbin-ext google"
DESCRIBE_APISERVER = (
    "kubectl describe pod kube-apiserver -n kube-system | grep 'service-cluster-ip-range'"
)
EXEC_WITHOUT_DASHES = "kubectl exec -it $SOURCE_POD -c sleep curl http://httpbin.org/headers"
TTY_WARNING = "Unable to use a TTY - input is not a terminal or the right kind of file"
NO_DASHES = (
    "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] "
    "instead\nSee 'kubectl exec -h' for help and examples\n"
)


# Without a mesh -----------------------------------------------------------------------------
def run_main(argv: list[str], environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = kubectl.main(argv, environ=environ or {}, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_flags_are_read_as_pflag_reads_them() -> None:
    exec_ = kubeargs.parse(["exec", "-it", "sleep-1", "-c", "sleep", "--", "curl", "-I", "x"])
    assert (exec_.verb, exec_.args, exec_.args_len_at_dash) == (
        "exec",
        ["sleep-1", "curl", "-I", "x"],
        1,
    )
    assert exec_.flags["stdin"] and exec_.flags["tty"] and exec_.flags["container"] == "sleep"
    logs = kubeargs.parse(
        ["-n", "istio-system", "logs", "-l", "istio-mixer-type=telemetry", "-c", "mixer"]
    )
    assert (logs.verb, logs.namespace, logs.flags["selector"]) == (
        "logs",
        "istio-system",
        "istio-mixer-type=telemetry",
    )
    get = kubeargs.parse(["get", "pod", "-oyaml", "--ignore-not-found=true", "-nkube-system"])
    assert (get.flags["output"], get.flags["ignore-not-found"], get.namespace) == (
        "yaml",
        True,
        "kube-system",
    )
    assert kubeargs.parse(["apply", "-f", "a.yaml", "--filename=b.yaml", "--dry-run=server"]).flags[
        "filename"
    ] == ("a.yaml", "b.yaml")


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (
            ["get", "pod", "--foo"],
            "error: unknown flag: --foo\nSee 'kubectl get --help' for usage.",
        ),
        (
            ["get", "pod", "-x"],
            "error: unknown shorthand flag: 'x' in -x\nSee 'kubectl get --help' for usage.",
        ),
        (
            ["logs", "-c"],
            "error: flag needs an argument: 'c' in -c\nSee 'kubectl logs --help' for usage.",
        ),
        (
            ["delete", "--namespace"],
            "error: flag needs an argument: --namespace\nSee 'kubectl delete --help' for usage.",
        ),
        (
            ["gett", "pods"],
            'error: unknown command "gett" for "kubectl"\n\nDid you mean this?\n\tget\n\tset',
        ),
    ],
)
def test_command_line_errors_are_kubectls(argv: list[str], text: str) -> None:
    with pytest.raises(KubectlError) as refused:
        kubeargs.parse(argv)
    assert (refused.value.text, refused.value.code) == (text, 1)


def test_exec_without_dashes_is_refused_before_the_pod_is_looked_up() -> None:
    """kubectl v0.34.4 pkg/cmd/exec/exec.go, ExecOptions.Complete: a command after the pod
    without ``--`` is a usage error (no longer a deprecation warning), exit 1, and the
    TTY warning never comes (SetupTTY runs later)."""
    code, out, err = run_main(
        ["exec", "-it", "sleep-1", "-c", "sleep", "curl", "http://httpbin.org/headers"]
    )
    assert (code, out, err) == (1, "", NO_DASHES)
    code, _, err = run_main(["exec", "-it", "sleep-1", "-c", "sleep", "sh"])
    assert (code, err) == (1, NO_DASHES)
    assert run_main(["exec", "-c", "sleep", "--", "ls"])[2] == (
        "error: pod, type/name or --filename must be specified\n"
    )
    assert run_main(["exec", "sleep-1", "--"])[2] == (
        "error: you must specify at least one command for the container\n"
    )


def test_no_mesh_is_one_line(tmp_path: Path) -> None:
    environ = {kubectl.RUN_ROOT_ENV: str(tmp_path), kubectl.RUN_ID_ENV: "p1"}
    code, out, err = run_main(["get", "pods"], environ)
    assert (code, out) == (1, "")
    assert (
        err.startswith(f"error: no local mesh is running in {tmp_path / 'p1'}")
        and err.count("\n") == 1
    )


def test_what_kubectl_prints() -> None:
    assert kubectl.operation_line(
        "ServiceEntry", "networking.istio.io", "httpbin-ext", "created", "server"
    ) == ("serviceentry.networking.istio.io/httpbin-ext created (server dry run)")
    assert (
        kubectl.operation_line("ConfigMap", "", "istio", "replaced") == "configmap/istio replaced"
    )
    assert kubectl.deleted_line("ServiceEntry", "networking.istio.io", "google", "default") == (
        'serviceentry.networking.istio.io "google" deleted from default namespace'
    )
    assert kubectl.no_resources("istio-system") == "No resources found in istio-system namespace."
    missing = [
        kubectl.ServerError(kubectl.not_found_status("serviceentries", "networking.istio.io", name))
        for name in ("httpbin-ext", "google")
    ]
    assert kubectl.error_text(missing[:1]) == (
        'Error from server (NotFound): serviceentries.networking.istio.io "httpbin-ext" not found'
    )
    assert kubectl.error_text(missing).splitlines()[1] == (
        'Error from server (NotFound): serviceentries.networking.istio.io "google" not found'
    )
    webhook = kubectl.ServerError(
        {"code": 400, "message": 'admission webhook "v" denied the request: no'}
    )
    assert kubectl.error_text([webhook.with_source("creating", "STDIN")]) == (
        'Error from server: error when creating "STDIN": admission webhook "v" denied the '
        "request: no"
    )
    causes = [
        {"field": "spec.hosts", "message": "Required value"},
        {"field": "spec", "message": "x"},
    ]
    invalid = kubectl.ServerError(
        {"reason": "Invalid", "details": {"kind": "ServiceEntry", "name": "a", "causes": causes}}
    )
    assert kubectl.error_text([invalid]) == (
        'The ServiceEntry "a" is invalid: \n* spec.hosts: Required value\n* spec: x'
    )
    assert kubectl.error_text(["boom"]) == "error: boom"


def test_jsonpath_tables_ages_and_yaml() -> None:
    pods = {
        "items": [
            {"metadata": {"name": "a", "labels": {"app": "sleep"}}},
            {"metadata": {"name": "b"}},
        ]
    }
    assert kubeargs.jsonpath("{.items..metadata.name}", pods) == "a b"
    assert kubeargs.jsonpath("{.items..metadata.name}", {"items": []}) == ""
    assert kubeargs.jsonpath('{range .items[*]}{.metadata.name}{"\\n"}{end}', pods) == "a\nb\n"
    assert kubeargs.jsonpath("{.items[0].metadata.labels}", pods) == '{"app":"sleep"}'
    assert kubeargs.jsonpath("name={.items[1].metadata.name}", pods) == "name=b"
    assert kubeargs.table([["NAME", "READY", "AGE"], ["sleep-abc", "2/2", "5m"]]) == (
        "NAME        READY   AGE\nsleep-abc   2/2     5m\n"
    )
    assert [kubeargs.human_duration(s) for s in (5, 119, 125, 3600 * 5 + 60, 3600 * 30)] == [
        "5s",
        "119s",
        "2m5s",
        "5h1m",
        "30h",
    ]
    assert kubeargs.to_yaml({"data": {"mesh": "a: 1\nb: 2"}, "rv": "2", "n": "networks: {}"}) == (
        "data:\n  mesh: |-\n    a: 1\n    b: 2\nn: 'networks: {}'\nrv: \"2\"\n"
    )
    selector = kubeargs.parse_selector("app=sleep,version!=v2,!canary")
    assert kubeargs.selects(selector, {"app": "sleep"})
    assert not kubeargs.selects(selector, {"app": "sleep", "canary": "1"})
    assert not kubeargs.selects(
        kubeargs.parse_selector("istio-mixer-type=telemetry"), {"app": "sleep"}
    )


def test_exec_exit_code_and_tty_warning_without_a_mesh(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl's line for a non-zero exit and its TTY warning, over a stand-in for the pod."""
    session = kubectl.Session(Path("/nonexistent"), "p1")
    pod = {
        "metadata": {
            "name": "sleep-1",
            "annotations": {kubectl.DEFAULT_CONTAINER_ANNOTATION: "sleep"},
        },
        "spec": {"containers": [{"name": "sleep"}, {"name": "istio-proxy"}]},
    }
    ran: list[tuple[list[str], str]] = []

    def run_in_pod(_: object, command: list[str], container: str, *rest: object) -> int:
        ran.append((list(command), container))
        raise KubectlError("command terminated with exit code 35", 35)

    monkeypatch.setattr(kubectl.Session, "pods", lambda self, namespace: [pod])
    monkeypatch.setattr(kubectl, "_run_in_pod", run_in_pod)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    invocation = kubeargs.parse(
        ["exec", "-it", "sleep-1", "--", "curl", "-I", "https://www.google.com"]
    )
    err = io.StringIO()
    with pytest.raises(KubectlError) as failed:
        kubectl.exec_(session, invocation, io.StringIO(), err)
    assert (failed.value.text, failed.value.code) == ("command terminated with exit code 35", 35)
    assert err.getvalue() == TTY_WARNING + "\n"
    assert ran == [(["curl", "-I", "https://www.google.com"], "sleep")]  # the annotated default


def test_istioctl_answers_kube_inject_only() -> None:
    assert istioctl.parse(["kube-inject", "-f", "samples/sleep/sleep.yaml"]) == [
        "samples/sleep/sleep.yaml"
    ]
    assert istioctl.parse(["kube-inject", "--filename=a.yaml", "-f-"]) == ["a.yaml", "-"]
    for argv, words in (
        (["install", "--set", "profile=default"], 'not "istioctl install"'),
        (["kube-inject"], "filename not specified (see --filename or -f)"),
    ):
        err = io.StringIO()
        assert istioctl.main(argv, environ={}, out=io.StringIO(), err=err) == 1
        assert err.getvalue().startswith("Error: ") and words in err.getvalue()


def test_istioctl_writes_envoys_dump_as_protojson() -> None:
    dumped = {
        "address": {"socket_address": {"port_value": 15001}},
        "metadata": {"filter_metadata": {"istio_x": {"some_key": 1}}},
        "typed_per_filter_config": {"envoy.filters.http_x": {"@type": "t", "stat_prefix": "p"}},
    }
    assert istioctl._protojson(dumped) == {
        "address": {"socketAddress": {"portValue": 15001}},
        "metadata": {"filterMetadata": {"istio_x": {"some_key": 1}}},
        "typedPerFilterConfig": {"envoy.filters.http_x": {"@type": "t", "statPrefix": "p"}},
    }


# On a local mesh ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesh(run_root: Path) -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        pytest.skip("the local backend needs root")
    cluster = LocalCluster.up(run_root=run_root)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the page's commands run: Istio's samples under samples/, as --literal has them."""
    directory = tmp_path_factory.mktemp("page")
    sample = directory / "samples" / "sleep" / "sleep.yaml"
    sample.parent.mkdir(parents=True)
    sample.write_text(injection.sleep_sample_text())
    return directory


@pytest.fixture()
def page(mesh: LocalCluster, workdir: Path) -> Iterator[Shell]:
    mesh.reset()
    yield Shell(mesh, workdir)
    mesh.reset()


class Shell:
    """bash with the mesh's shell_env(), SOURCE_POD exported, as the literal runner has it."""

    def __init__(self, mesh: LocalCluster, workdir: Path) -> None:
        self.mesh, self.workdir = mesh, workdir

    def run(self, command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        try:
            source_pod = self.mesh.source_pod().name
        except ClusterError:  # deleted (the page's last step)
            source_pod = ""
        env = {**os.environ, **self.mesh.shell_env(), "SOURCE_POD": source_pod}
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=self.workdir,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.mark.root
def test_shell_env_names_this_run(mesh: LocalCluster) -> None:
    env = mesh.shell_env()
    assert env["EGRESS_MESH_RUN_ROOT"] == str(mesh.state.directory.parent)
    assert env["EGRESS_MESH_RUN_ID"] == mesh.state.run_id
    first = Path(env["PATH"].split(os.pathsep)[0])
    assert first.is_relative_to(mesh.state.directory) and os.access(first / "kubectl", os.X_OK)


def _wait_for_shell_server(mesh: LocalCluster) -> Path:
    """The run's shell server, once it listens (shell_env() starts it, unwaited)."""
    socket_path = mesh.state.directory / "shell.sock"
    mesh.shell_env()
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        assert time.monotonic() < deadline, "the run's shell server never listened"
        time.sleep(0.05)
    return socket_path


def _by_own_process(
    shell: Shell, command: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """The command with kubectl as its own process (no server), as the wrappers fall back."""
    own = shell.workdir / "own-process"
    own.mkdir(exist_ok=True)
    for program in ("kubectl", "istioctl"):
        wrapper = own / program
        wrapper.write_text(
            "#!/bin/sh\n"
            f"export PYTHONPATH={PROJECT_ROOT}\n"
            f'exec {sys.executable} -m clusters.local.{program} "$@"\n'
        )
        wrapper.chmod(0o755)
    return shell.run(f"export PATH={own}:$PATH; {command}", stdin)


@pytest.mark.root
@pytest.mark.parametrize(
    "command",
    [
        "kubectl get configmap istio -n istio-system -o yaml",
        "kubectl get nosuchkind",
        "kubectl get serviceentries",
        "kubectl exec $SOURCE_POD -c sleep -- sh -c 'echo out; echo err >&2; exit 3'",
        "kubectl exec -i $SOURCE_POD -c sleep -- cat",
        "cd samples/sleep && istioctl kube-inject -f sleep.yaml | head -5",
        # bash's process substitution: /dev/fd/63 is the client's, handed on at its number
        "kubectl apply --dry-run=client -f <(istioctl kube-inject -f samples/sleep/sleep.yaml)",
        "kubectl get serviceentries 3</dev/null 7>&1",
    ],
)
def test_the_shell_servers_answer_is_the_programs_own(page: Shell, command: str) -> None:
    """Handed to the warm server or run alone, a command prints the same on stdout and on
    stderr and exits the same: the server is start-up time saved, nothing else."""
    _wait_for_shell_server(page.mesh)
    served = page.run(command, stdin="from stdin\n")
    alone = _by_own_process(page, command, stdin="from stdin\n")
    assert (served.returncode, served.stdout, served.stderr) == (
        alone.returncode,
        alone.stdout,
        alone.stderr,
    )


@pytest.mark.root
def test_the_shell_server_ends_a_command_whose_client_is_killed(page: Shell) -> None:
    _wait_for_shell_server(page.mesh)
    marker = f"egc-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, **page.mesh.shell_env()}
    pod = page.mesh.source_pod().name
    client = subprocess.Popen(
        ["kubectl", "exec", pod, "-c", "sleep", "--", "sh", "-c", f"sleep 30 # {marker}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _processes_with(marker):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    client.kill()
    client.wait()
    deadline = time.monotonic() + 10
    while _processes_with(marker):
        assert time.monotonic() < deadline, "the killed client's command kept running"
        time.sleep(0.05)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.root
def test_a_closed_run_leaves_no_shell_server(run_root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the local backend needs root")
    cluster = LocalCluster.up(run_root=run_root, owner="shell-server-test")
    try:
        _wait_for_shell_server(cluster)
        (server,) = [p for p in cluster.state.processes if p.name == "shell-server"]
    finally:
        cluster.close()
    assert not processes.is_running(server)
    assert not (cluster.state.directory / "shell.sock").exists()


@pytest.mark.root
def test_the_configmap_has_no_mode_until_one_is_set_and_the_pages_sed_switches_it(
    page: Shell,
) -> None:
    """A default install has no ``mode:`` line (what the page's grep observes); once the
    mode is set, the line is there, and the page's sed | kubectl replace switches the
    mesh back to ALLOW_ANY, in the ConfigMap and in the sidecar."""
    absent = page.run(GET_MODE.format(mode="ALLOW_ANY"))
    assert (absent.returncode, absent.stdout, absent.stderr) == (1, "", "")
    full = page.run("kubectl get configmap istio -n istio-system -o yaml")
    assert full.returncode == 0 and "\nkind: ConfigMap\n" in full.stdout
    assert (
        "  name: istio\n  namespace: istio-system\n" in full.stdout and "mode:" not in full.stdout
    )

    page.mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    page.mesh.wait_for_proxy_config(60)
    shown = page.run(GET_MODE.format(mode="REGISTRY_ONLY"))
    assert (shown.returncode, shown.stdout) == (0, "mode: REGISTRY_ONLY\n")
    blocked = page.run(CURL_GOOGLE)
    assert "command terminated with exit code 35" in blocked.stderr and blocked.stdout == ""

    replaced = page.run(SED_REPLACE.format(old="REGISTRY_ONLY", new="ALLOW_ANY"))
    assert (replaced.returncode, replaced.stdout, replaced.stderr) == (
        0,
        "configmap/istio replaced\n",
        "",
    )
    assert page.mesh.outbound_traffic_policy() == OutboundTrafficPolicy.ALLOW_ANY
    assert page.run(GET_MODE.format(mode="ALLOW_ANY")).stdout == "mode: ALLOW_ANY\n"
    allowed = page.run(CURL_GOOGLE)
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "HTTP/2 200")
    assert allowed.stderr.startswith(TTY_WARNING + "\n")  # then curl's progress meter


@pytest.mark.root
def test_a_replace_the_mesh_cannot_take_is_refused(page: Shell) -> None:
    changed = page.run(
        "kubectl get configmap istio -n istio-system -o yaml | "
        "sed 's/trustDomain: cluster.local/trustDomain: example.com/' | "
        "kubectl replace -n istio-system -f -"
    )
    assert changed.returncode == 1 and changed.stdout == ""
    assert changed.stderr == (
        "error: the local mesh takes only data.mesh's outboundTrafficPolicy.mode from configmap "
        '"istio": data.mesh changes trustDomain\n'
    )
    stale = page.run(
        "kubectl get configmap istio -n istio-system -o yaml | "
        "sed 's/resourceVersion: .*/resourceVersion: \"999999\"/' | kubectl replace -f -"
    )
    assert stale.returncode == 1 and stale.stderr.startswith(
        'Error from server (Conflict): error when replacing "STDIN": Operation cannot be '
        'fulfilled on configmaps "istio"'
    ), stale.stderr


@pytest.mark.root
def test_mixers_logs_are_no_resources(page: Shell) -> None:
    done = page.run(MIXER_LOGS)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "No resources found in istio-system namespace.\n",
    )


@pytest.mark.root
def test_get_pod_by_label(page: Shell) -> None:
    name = page.mesh.source_pod().name
    assert page.run(SOURCE_POD).stdout == name
    table = page.run("kubectl get pod -l app=sleep")
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == [name, "2/2", "Running", "0"]
    none = page.run("kubectl get pod -l app=nothing")
    assert (none.returncode, none.stdout, none.stderr) == (
        0,
        "",
        "No resources found in default namespace.\n",
    )


@pytest.mark.root
def test_exec_passes_the_exit_code_and_stdin_through(page: Shell) -> None:
    failed = page.run(
        "kubectl exec $SOURCE_POD -c sleep -- sh -c 'echo out; echo err >&2; exit 35'"
    )
    assert (failed.returncode, failed.stdout) == (35, "out\n")
    assert failed.stderr == "err\ncommand terminated with exit code 35\n"
    shell = page.run("kubectl exec -it $SOURCE_POD -c sleep -- sh", stdin="echo $((6 * 7))\nexit\n")
    assert (shell.returncode, shell.stdout, shell.stderr) == (0, "42\n", TTY_WARNING + "\n")
    old_form = page.run(EXEC_WITHOUT_DASHES)
    assert (old_form.returncode, old_form.stdout, old_form.stderr) == (1, "", NO_DASHES)


@pytest.mark.root
def test_delete_names_what_is_missing(page: Shell) -> None:
    none = page.run(DELETE_SE)
    assert (none.returncode, none.stdout) == (1, "")
    assert none.stderr == (
        'Error from server (NotFound): serviceentries.networking.istio.io "httpbin-ext" not found\n'
        'Error from server (NotFound): serviceentries.networking.istio.io "google" not found\n'
    )
    page.mesh.apply(httpbin_service_entry())
    one = page.run(DELETE_SE)
    assert one.returncode == 1
    assert (
        one.stdout
        == 'serviceentry.networking.istio.io "httpbin-ext" deleted from default namespace\n'
    )
    assert (
        one.stderr
        == 'Error from server (NotFound): serviceentries.networking.istio.io "google" not found\n'
    )
    assert page.mesh.resources("ServiceEntry") == []
    ignored = page.run("kubectl delete virtualservice httpbin-ext --ignore-not-found=true")
    assert (ignored.returncode, ignored.stderr) == (0, "")


@pytest.mark.root
def test_describe_kube_apiserver_is_not_found(page: Shell) -> None:
    done = page.run(DESCRIBE_APISERVER)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == 'Error from server (NotFound): pods "kube-apiserver" not found\n'


@pytest.mark.root
def test_apply_runs_admission_and_a_dry_run_changes_nothing(page: Shell) -> None:
    manifest = httpbin_service_entry()
    dry = page.run("kubectl apply --dry-run=server -f -", stdin=manifest)
    assert (dry.returncode, dry.stdout) == (
        0,
        "serviceentry.networking.istio.io/httpbin-ext created (server dry run)\n",
    )
    assert page.mesh.resources("ServiceEntry") == []
    applied = page.run("kubectl apply -f -", stdin=manifest)
    assert applied.stdout == "serviceentry.networking.istio.io/httpbin-ext created\n"
    assert page.mesh.resources("ServiceEntry") == ["httpbin-ext"]
    again = page.run("kubectl apply -f -", stdin=manifest)
    assert again.stdout == "serviceentry.networking.istio.io/httpbin-ext unchanged\n"
    wildcard = textwrap.dedent(
        """\
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: wild}
        spec:
          hosts: ["*.cnn.com"]
          ports: [{number: 80, name: http, protocol: HTTP}]
          resolution: DNS
        """
    )
    refused = page.run("kubectl apply -f -", stdin=wildcard)
    assert refused.returncode == 1 and refused.stderr.startswith(
        'Error from server: error when creating "STDIN": admission webhook "validation.istio.io" '
        "denied the request: configuration is invalid:"
    ), refused.stderr


@pytest.mark.root
def test_the_sample_deleted_and_applied_by_kubectl_is_the_meshs_pod(page: Shell) -> None:
    """``kubectl delete -f samples/sleep/sleep.yaml`` in another process: the mesh in
    this one sees the pod gone, then the new one ``kubectl apply`` made."""
    old = page.mesh.source_pod().name
    dry = page.run("kubectl apply --dry-run=server -f samples/sleep/sleep.yaml")
    assert dry.stdout.splitlines() == [
        "serviceaccount/sleep unchanged (server dry run)",
        "service/sleep unchanged (server dry run)",
        "deployment.apps/sleep unchanged (server dry run)",
    ]
    deleted = page.run("kubectl delete -f samples/sleep/sleep.yaml")
    assert deleted.stdout.splitlines() == [
        'serviceaccount "sleep" deleted from default namespace',
        'service "sleep" deleted from default namespace',
        'deployment.apps "sleep" deleted from default namespace',
    ]
    with pytest.raises(ClusterError):
        page.mesh.source_pod()
    gone = page.run(SOURCE_POD)
    assert (gone.returncode, gone.stdout, gone.stderr) == (0, "", "")
    applied = page.run("kubectl apply -f samples/sleep/sleep.yaml")
    assert applied.stdout.splitlines() == [
        "serviceaccount/sleep created",
        "service/sleep created",
        "deployment.apps/sleep created",
    ], applied.stderr
    pod = page.mesh.source_pod()
    assert pod.name != old and pod.ready and pod.containers == ("sleep", "istio-proxy")
    assert page.mesh.exec_in_source_pod(["true"], timeout=10).exit_code == 0


@pytest.mark.root
def test_the_pages_manual_injection_is_istioctls(page: Shell) -> None:
    """``kubectl apply -f <(istioctl kube-inject -f samples/sleep/sleep.yaml)``: Istio's
    kube-inject, then a pod whose sidecar is in its Deployment (manual injection)."""
    injected = page.run("istioctl kube-inject -f samples/sleep/sleep.yaml")
    kinds = [line for line in injected.stdout.splitlines() if line.startswith("kind: ")]
    assert kinds == ["kind: ServiceAccount", "kind: Service", "kind: Deployment"], injected.stderr
    assert "name: istio-proxy" in injected.stdout and "name: istio-init" in injected.stdout
    command = "kubectl apply -f <(istioctl kube-inject -f samples/sleep/sleep.yaml)"
    dry = page.run(command.replace("apply", "apply --dry-run=server"))
    assert dry.stdout.splitlines()[-1] == "deployment.apps/sleep configured (server dry run)"
    assert page.mesh.source_pod().injection == Injection.AUTOMATIC
    applied = page.run(command)
    assert applied.stdout.splitlines()[-1] == "deployment.apps/sleep configured", applied.stderr
    assert page.mesh.source_pod().injection == Injection.MANUAL
    assert page.run(command).stdout.splitlines()[-1] == "deployment.apps/sleep unchanged"


@pytest.mark.root
def test_istioctl_proxy_config_shows_the_mode_the_sidecar_enforces(page: Shell) -> None:
    """Today's form of the page's configmap check (the drift record's): where
    virtualOutbound sends what no other listener takes."""
    command = (
        "istioctl proxy-config listener $SOURCE_POD --port 15001 -o json | "
        'grep -o \'"cluster": "PassthroughCluster"\' | head -1'
    )
    assert page.run(command).stdout == '"cluster": "PassthroughCluster"\n'
    listeners = json.loads(
        page.run("istioctl proxy-config listener $SOURCE_POD --port 15001 -o json").stdout
    )
    assert [listener["name"] for listener in listeners] == ["virtualOutbound"]
    page.mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    page.mesh.wait_for_proxy_config(60)
    assert page.run(command).stdout == ""


@pytest.mark.root
@pytest.mark.parametrize(
    "written", [OutboundTrafficPolicy.ALLOW_ANY, OutboundTrafficPolicy.REGISTRY_ONLY]
)
def test_a_reset_puts_back_the_installs_configmap_with_no_mode_line(
    page: Shell, written: OutboundTrafficPolicy
) -> None:
    """Whatever an earlier scenario wrote (the page's own switch back writes an explicit
    ALLOW_ANY), the next one starts from the install's ConfigMap, which names no mode."""
    grep = "kubectl get configmap istio -n istio-system -o yaml | grep -o 'mode: [A-Z_]*'"
    page.mesh.set_configmap_mode(written)
    page.mesh.wait_for_proxy_config(30)
    assert page.run(grep).stdout == f"mode: {written.value}\n"
    page.mesh.reset()
    done = page.run(grep)
    assert (done.returncode, done.stdout) == (1, "")
    assert page.mesh.outbound_traffic_policy() is OutboundTrafficPolicy.ALLOW_ANY
