"""The local backend as a whole: start-up, teardown, crash recovery and bad input.

These start real meshes (namespaces, Envoy, dnsmasq, httpbin) in a private run root,
so they need root like the backend itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from clusters.istio import injection, proxyconfig
from clusters.local import cli as cli_module
from clusters.local import iptables, network, prerequisites, runstate
from clusters.local.mesh import LocalCluster
from clusters.protocol import ClusterError, Injection, InvalidResource, OutboundTrafficPolicy
from clusters.shared import processes
from clusters.shared.sites import DEFAULT_SITES_FILE, load_sites
from fixtures.page.manifests import httpbin_service_entry
from steps.logwatch import watch_for

pytestmark = pytest.mark.root

HTTPBIN_SE = httpbin_service_entry()


def root_namespace() -> str:
    """What the host's own namespace routes, filters and forwards (all must stay as is)."""
    commands = [
        ["iptables-save"],
        ["ip", "-o", "link"],
        ["ip", "route"],
        ["ip", "-brief", "address"],
        ["sysctl", "net.ipv4.ip_forward"],
    ]
    outputs = [subprocess.run(c, capture_output=True, text=True).stdout for c in commands]
    return "\n".join(
        line for out in outputs for line in out.splitlines() if not line.startswith("#")
    )


@pytest.fixture(scope="module")
def root_before_mesh() -> str:
    return root_namespace()


@pytest.fixture(scope="module")
def mesh(run_root: Path, root_before_mesh: str) -> Iterator[LocalCluster]:
    """One mesh for the module's tests, each of which leaves it at the page's start."""
    with LocalCluster.up(run_root=run_root) as cluster:
        yield cluster


def code_of(mesh: LocalCluster, url: str) -> str:
    result = mesh.exec_in_source_pod(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url], timeout=10
    )
    return result.stdout


def test_mesh_lives_only_in_its_own_namespaces(mesh: LocalCluster, root_before_mesh: str) -> None:
    ours = network.list_namespaces(runstate.namespace_prefix(mesh.state.directory.parent))
    assert sorted(ours) == sorted(mesh.state.namespaces)
    assert mesh.exec_in_source_pod(["true"], timeout=10).exit_code == 0
    assert root_namespace() == root_before_mesh  # no link, route, rule or forwarding added


def test_pod_traffic_is_intercepted_by_a_sidecar_running_as_1337(mesh: LocalCluster) -> None:
    pod = mesh.source_pod()
    assert pod.has_sidecar and pod.ready
    (proxy,) = [r for r in mesh.state.processes if r.name == "istio-proxy"]
    status = Path(f"/proc/{proxy.pid}/status").read_text().splitlines()
    uids = next(line.split()[1:] for line in status if line.startswith("Uid:"))
    assert set(uids) == {str(iptables.PROXY_UID)}  # real, effective, saved, filesystem
    installed = iptables.dump(mesh.state.namespace("pod"))
    assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" in installed.splitlines()
    own = "-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN"  # Istio's istio-iptables' order
    assert own in installed and "! --dport 15008" in installed, installed
    cursor = mesh.sidecar_log_cursor()
    assert code_of(mesh, "http://httpbin.org/headers") == "200"
    assert watch_for(mesh, cursor, "PassthroughCluster", 10)[0]


def test_apply_then_wait_changes_what_traffic_sees(mesh: LocalCluster) -> None:
    mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
    mesh.wait_for_proxy_config(10)
    assert code_of(mesh, "http://httpbin.org/headers") == "502"
    mesh.apply(HTTPBIN_SE)
    mesh.wait_for_proxy_config(10)
    assert code_of(mesh, "http://httpbin.org/headers") == "200"
    mesh.reset()
    assert mesh.resources("ServiceEntry") == []
    assert mesh.outbound_traffic_policy() is OutboundTrafficPolicy.ALLOW_ANY


def test_invalid_resource_is_refused_and_changes_nothing(mesh: LocalCluster) -> None:
    with pytest.raises(InvalidResource, match=r'spec\.resolution: Unsupported value: "DSN"'):
        mesh.apply(HTTPBIN_SE.replace("resolution: DNS", "resolution: DSN"))
    assert mesh.resources("ServiceEntry") == []


def test_a_stream_with_one_bad_document_applies_none(mesh: LocalCluster) -> None:
    bad = HTTPBIN_SE.replace("httpbin-ext", "second").replace("number: 80", "number: 0")
    with pytest.raises(InvalidResource, match=r"spec\.ports\[0\]\.number"):
        mesh.apply(HTTPBIN_SE + "---\n" + bad)
    assert mesh.resources("ServiceEntry") == []


def test_deleting_a_missing_resource_says_so_like_kubectl(mesh: LocalCluster) -> None:
    not_found = r'serviceentries\.networking\.istio\.io "nope" not found'
    with pytest.raises(ClusterError, match=not_found):
        mesh.delete("serviceentry", "nope")
    assert mesh.delete("virtualservice", "nope", ignore_not_found=True) is False


BROKEN_ENVOY_FILTER = """\
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: broken, namespace: default}
spec:
  configPatches:
  - applyTo: CLUSTER
    patch:
      operation: ADD
      value:
        name: broken-cluster
        type: STATIC
        connect_timeout: 1s
        lb_policy: CLUSTER_PROVIDED
        load_assignment:
          cluster_name: broken-cluster
          endpoints:
          - lb_endpoints:
            - endpoint: {address: {socket_address: {address: 203.0.113.1, port_value: 80}}}
"""


def test_rejected_envoy_config_is_reported_not_waited_out(mesh: LocalCluster) -> None:
    """istiod pushes what Envoy refuses (an EnvoyFilter's cluster), and the wait says why."""
    try:
        mesh.apply(BROKEN_ENVOY_FILTER)
        started = time.monotonic()
        with pytest.raises(ClusterError, match="rejected"):
            mesh.wait_for_proxy_config(5)
        assert time.monotonic() - started < 4  # reported, not waited out
    finally:
        mesh.reset()


TLS_ORIGINATION = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: google}
spec:
  hosts: [www.google.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: 443}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: google}
spec:
  host: www.google.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE}
"""

FAULT_ABORT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: teapot}
spec:
  hosts: [httpbin.org]
  http:
  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: httpbin.org}}]
"""


def test_beyond_the_page_istiod_is_istio(mesh: LocalCluster) -> None:
    """Beyond the page, istiod does what Istio does: TLS origination through
    pilot-agent's SDS (file-root:system) and fault injection."""
    try:
        mesh.apply(TLS_ORIGINATION)
        mesh.wait_for_proxy_config(10)
        cursor = mesh.sidecar_log_cursor()
        assert code_of(mesh, "http://www.google.com/") == "200"  # the site serves TLS only
        lines, _ = watch_for(mesh, cursor, "www.google.com", 10)
        assert lines, "the sidecar did not log the request"
        assert "outbound|80||www.google.com" in lines[-1] and ":443" in lines[-1]
        mesh.apply(HTTPBIN_SE + "---\n" + FAULT_ABORT)
        mesh.wait_for_proxy_config(10)
        assert code_of(mesh, "http://httpbin.org/headers") == "418"
    finally:
        mesh.reset()


def test_injection_is_what_the_objects_show(mesh: LocalCluster) -> None:
    """kube-inject writes the sidecar into the Deployment, the webhook only into the pod;
    source_pod() reads that back from the objects, and the pod runs what injection gave."""
    try:
        manual = mesh.deploy_source_pod(injection=Injection.MANUAL)
        assert manual.injection is Injection.MANUAL
        assert injection.has_sidecar(injection.template(mesh.state.pod.deployment))
        automatic = mesh.deploy_source_pod(injection=Injection.AUTOMATIC)
        assert automatic.injection is Injection.AUTOMATIC
        assert not injection.has_sidecar(injection.template(mesh.state.pod.deployment))
        assert injection.has_sidecar(mesh.state.pod.pod)
        assert automatic.containers == ("sleep", "istio-proxy")
        assert automatic.labels["security.istio.io/tlsMode"] == "istio"  # the injector's
    finally:
        mesh.reset()


def test_istiods_injector_can_decline(mesh: LocalCluster) -> None:
    """Istio's webhook honours sidecar.istio.io/inject=false: the objects then show no
    injection, so the check "the sidecar came from automatic injection" can fail."""
    declined = injection.sleep_deployment()
    declined["spec"]["template"]["metadata"]["annotations"] = {"sidecar.istio.io/inject": "false"}
    workload = mesh.plane.deploy(declined, Injection.AUTOMATIC, "sleep-0a1b2c3d4e-xyz12", None)
    assert injection.container_names(workload.pod) == ("sleep",)
    assert injection.injected_by(workload.deployment, workload.pod) is None


def test_a_pod_not_admitted_leaves_no_envoy_or_network(
    mesh: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod's network and Envoy start beside its admission: when admission fails they
    go, and the next pod starts clean."""

    def refuse(*_: object, **__: object) -> None:
        time.sleep(0.2)  # the Envoy beside it has started by then
        raise ClusterError("admission webhook refused the pod")

    with monkeypatch.context() as patched:
        patched.setattr(mesh.plane, "deploy", refuse)
        with pytest.raises(ClusterError, match="admission webhook refused the pod"):
            mesh.deploy_source_pod()
    assert not [r for r in mesh.state.processes if r.name == "istio-proxy"]
    assert not network.exists(mesh.state.namespace("pod"))
    try:
        assert mesh.deploy_source_pod().ready
    finally:
        mesh.reset()


@pytest.mark.parametrize("mode", list(OutboundTrafficPolicy))
def test_the_sidecar_enforces_the_mode(mesh: LocalCluster, mode: OutboundTrafficPolicy) -> None:
    try:
        mesh.set_outbound_traffic_policy(mode)
        mesh.wait_for_proxy_config(10)
        assert proxyconfig.mode_in_effect(mesh.sidecar_config_dump(proxyconfig.LISTENERS)) is mode
    finally:
        mesh.reset()


def test_include_ranges_bypass_the_sidecar(mesh: LocalCluster) -> None:
    pod = mesh.deploy_source_pod(include_ip_ranges=mesh.internal_ip_ranges())
    try:
        # read back from istio-init's arguments, as the injector rendered them
        assert pod.include_ip_ranges == tuple(mesh.internal_ip_ranges())
        installed = iptables.dump(mesh.state.namespace("pod")).splitlines()
        for cidr in mesh.internal_ip_ranges():
            assert f"-A ISTIO_OUTPUT -d {cidr} -j ISTIO_REDIRECT" in installed
        assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" not in installed
        cursor = mesh.sidecar_log_cursor()
        result = mesh.exec_in_source_pod(["curl", "-sS", "http://httpbin.org/headers"], timeout=10)
        assert result.exit_code == 0, result.stderr
        assert '"Host": "httpbin.org"' in result.stdout  # httpbin answered
        assert "X-Envoy" not in result.stdout
        time.sleep(0.5)  # several of the sidecar's 100 ms log flushes
        assert mesh.sidecar_log(cursor) == []
    finally:
        mesh.reset()
    assert mesh.source_pod().include_ip_ranges is None


def test_a_killed_run_is_cleaned_up_by_the_next(run_root: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from clusters.local.mesh import LocalCluster
        LocalCluster.up(run_root=Path({str(run_root)!r}))
        print("up", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "up"
        crashed = runstate.RunState.load(run_root / f"p{child.pid}")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert all(network.exists(ns) for ns in crashed.namespaces)
    removed = runstate.sweep(run_root)
    assert crashed.run_id in removed
    assert not any(network.exists(ns) for ns in crashed.namespaces)
    assert not (run_root / crashed.run_id).exists()
    assert not any(processes.is_running(record) for record in crashed.processes)


def test_a_sweep_touches_only_what_dead_runs_recorded(run_root: Path) -> None:
    """A namespace no run records (another run being born, someone else's) survives a
    sweep, and so does a run whose owner lives; a dead owner's run goes."""
    root = run_root / "sweep-root"
    root.mkdir()
    prefix = runstate.namespace_prefix(root)
    stranger = f"{prefix}stranger-net"
    network.create(stranger)
    alive = runstate.RunState("alive", root / "alive", owner=runstate.current_owner())
    dead = runstate.RunState("dead", root / "dead", owner={"pid": 1, "start_ticks": 1})
    try:
        for state in (alive, dead):
            state.directory.mkdir()
            state.cleanup = [runstate.namespace_record(f"{prefix}{state.run_id}-net")]
            state.save()
            network.create(state.namespaces[0])
        assert runstate.sweep(root) == ["dead"]
        assert network.exists(stranger) and network.exists(alive.namespaces[0])
        assert not network.exists(dead.namespaces[0]) and not dead.directory.exists()
    finally:
        for name in (stranger, *alive.namespaces, *dead.namespaces):
            runstate.destroy_namespace(name)


def test_missing_prerequisites_name_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        prerequisites.shutil, "which", lambda c, path=None: None if c == "dnsmasq" else c
    )
    with pytest.raises(ClusterError, match="needs dnsmasq: apt-get install dnsmasq-base"):
        prerequisites.check_prerequisites()
    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 1000)
    with pytest.raises(ClusterError, match="needs root"):
        prerequisites.check_prerequisites()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sites: [", "not valid YAML"),
        ("other: 1", "expected a top-level 'sites:' list"),
        (
            "sites: [{host: a.com, address: 10.0.0.1, serve: [{port: 80, protocol: HTTP}]}]",
            "sites[0].address: 10.0.0.1 is outside 203.0.113.0/24",
        ),
        (
            "sites: [{host: a.com, address: 203.0.113.9, serve: [{port: 80, protocol: FTP}]}]",
            "sites[0].serve[0].protocol",
        ),
        (
            "sites: [{host: ../etc, address: 203.0.113.9, serve: [{port: 80, protocol: HTTP}]}]",
            "sites[0].host: '../etc' is not a DNS name",
        ),
        (
            "sites: [{host: a.com, address: 203.0.113.9, serve: [{port: 80, protocol: HTTP}, "
            "{port: 80, protocol: HTTP}]}]",
            "sites[0].serve[1].port: 80 is already served by this site",
        ),
        (
            "sites: [{host: a.com, address: 203.0.113.9, serve: [{port: 80, protocol: HTTP, "
            "status: ok}]}]",
            "sites[0].serve[0].status: 'ok' must be an HTTP status in 200..599",
        ),
        (
            "sites: [{host: a.com, address: 203.0.113.9, serve: [{port: 443, protocol: HTTPS, "
            "app: httpbin}]}]",
            "httpbin is served over plain HTTP only",
        ),
        (
            "sites: [{host: a.com, address: 203.0.113.9, serve: [{port: 80, protocol: HTTP}]}, "
            "{host: a.com, address: 203.0.113.8, serve: [{port: 80, protocol: HTTP}]}]",
            "a.com is used by two sites",
        ),
    ],
)
def test_bad_sites_file_is_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(content)
    with pytest.raises(ClusterError, match=None) as caught:
        load_sites(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_sites_file_adds_a_site_the_pod_reaches_over_tls(run_root: Path) -> None:
    sites = run_root / "extra-sites.yaml"
    sites.write_text(
        "sites:\n"
        "  - host: www.example.org\n"
        "    address: 203.0.113.20\n"
        "    serve: [{port: 443, protocol: HTTPS, app: static, status: 204}]\n"
    )
    extra = LocalCluster.up(run_root=run_root / "sites-root", sites_file=sites)
    try:
        result = extra.exec_in_source_pod(["curl", "-sSI", "https://www.example.org"], timeout=10)
        assert result.stdout.splitlines()[0].strip() == "HTTP/2 204", result.stderr
    finally:
        extra.close()


def test_cli_round_trip(run_root: Path) -> None:
    """egress-mesh: up, status, mode, exec, apply, get, delete, logs and down."""
    cli_root = run_root / "cli-root"
    cli = [sys.executable, "-m", "clusters.local.cli", "--run-root", str(cli_root)]
    cwd = Path(__file__).parents[2]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60
        )

    try:
        assert run("up").returncode == 0
        status = run("status").stdout
        assert "control_plane: istiod" in status and "istio: " in status
        again = run("up")
        assert again.returncode == 1 and "a mesh is already up" in again.stderr
        assert run("logs", "--tail", "0").stdout == ""
        assert run("mode", "REGISTRY_ONLY").stdout.strip() == "REGISTRY_ONLY"
        blocked = run("exec", "--", "curl", "-sSI", "https://www.google.com")
        assert blocked.returncode == 35
        assert "command terminated with exit code 35" in blocked.stderr
        applied = run("apply", "-f", "-", stdin=HTTPBIN_SE)
        assert applied.stdout.strip() == "serviceentry.networking.istio.io/httpbin-ext created"
        again = run("apply", "-f", "-", stdin=HTTPBIN_SE)  # as kubectl: nothing changed
        assert again.stdout.strip() == "serviceentry.networking.istio.io/httpbin-ext unchanged"
        assert run("exec", "--", "curl", "-sS", "http://httpbin.org/headers").returncode == 0
        assert "outbound|80||httpbin.org" in run("logs").stdout
        refused = run("apply", "-f", "-", stdin="kind: [")
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1
        # kubectl's get: a name, -o yaml, namespaces, and unknown kinds refused
        assert run("get", "se", "httpbin-ext", "-o", "name").stdout.strip() == (
            "serviceentry.networking.istio.io/httpbin-ext"
        )
        stored = yaml.safe_load(run("get", "serviceentries", "httpbin-ext", "-o", "yaml").stdout)
        assert stored["spec"]["hosts"] == ["httpbin.org"]
        # as stored: the enum's zero value as written, etcd's numeric resourceVersion
        assert stored["spec"]["location"] == "MESH_EXTERNAL"
        assert stored["metadata"]["resourceVersion"].isdigit()
        assert stored["metadata"]["creationTimestamp"] and stored["metadata"]["uid"]
        # client-side apply annotates the object with itself, as kubectl stores it on kind
        applied = yaml.safe_load(HTTPBIN_SE)
        applied["metadata"] |= {"annotations": {}, "namespace": "default"}
        last = stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        assert last.endswith("}\n") and json.loads(last) == applied
        missing = run("get", "se", "nope")
        assert (
            missing.returncode == 1
            and 'serviceentries.networking.istio.io "nope" not found' in (missing.stderr)
        )
        assert run("get", "--help").stdout.startswith("usage: egress-mesh get ARGS...")
        answer = run("get", "foo")
        assert answer.returncode == 1
        assert 'the server doesn\'t have a resource type "foo"' in answer.stderr
        pods = run("get", "pods").stdout.splitlines()  # the sleep pod, in kubectl's columns
        assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert pods[1].startswith("sleep-") and pods[1].split()[1:4] == ["2/2", "Running", "0"]
        nowhere = HTTPBIN_SE.replace("name: httpbin-ext", "name: other\n  namespace: nosuchns")
        refused_ns = run("apply", "-f", "-", stdin=nowhere)
        assert refused_ns.returncode == 1 and refused_ns.stderr.strip() == (
            'Error from server (NotFound): error when creating "STDIN": namespaces "nosuchns" '
            "not found"
        )
        other = HTTPBIN_SE.replace("name: httpbin-ext", "name: other\n  namespace: istio-system")
        assert run("apply", "-f", "-", stdin=other).returncode == 0
        table = run("get", "se").stdout.splitlines()
        assert table[0].split() == ["NAME", "HOSTS", "LOCATION", "RESOLUTION", "AGE"]
        assert table[1].split()[:4] == ["httpbin-ext", '["httpbin.org"]', "MESH_EXTERNAL", "DNS"]
        assert len(table) == 2
        assert run("get", "se", "-n", "istio-system").stdout.splitlines()[1].startswith("other ")
        every = [line.split()[:2] for line in run("get", "se", "-A").stdout.splitlines()]
        assert every == [
            ["NAMESPACE", "NAME"],
            ["default", "httpbin-ext"],
            ["istio-system", "other"],
        ]
        deleted = run("delete", "se", "other", "-n", "istio-system")
        assert deleted.stdout.strip() == (
            'serviceentry.networking.istio.io "other" deleted from istio-system namespace'
        )
        # a command the pod does not have: the container runtime's refusal, as kubectl prints it
        missing_command = run("exec", "--", "nosuchcmd")
        assert missing_command.returncode == 1
        # kind's words (checked on a kind cluster of the kit): the exec's id differs
        assert re.fullmatch(
            "error: Internal error occurred: Internal error occurred: error executing command "
            'in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": '
            "OCI runtime exec failed: exec failed: unable to start container process: exec: "
            '"nosuchcmd": executable file not found in \\$PATH\n',
            missing_command.stderr,
        ), missing_command.stderr
        rule = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        rule += "metadata: {name: httpbin}\nspec: {host: httpbin.org}\n"
        applied_rule = run("apply", "-f", "-", stdin=rule)
        assert applied_rule.stdout.strip() == (  # every kind istiod watches, as kubectl prints
            "destinationrule.networking.istio.io/httpbin created"
        ), applied_rule.stderr
        rules = [line.split() for line in run("get", "dr").stdout.splitlines()]
        assert rules[0] == ["NAME", "HOST", "AGE"] and rules[1][:2] == ["httpbin", "httpbin.org"]
        # a dead process of the mesh is named by status
        state = runstate.RunState.load(cli_root / "cli")
        (dns,) = [r for r in state.processes if r.name == "dns"]
        processes.terminate([dns])
        broken = run("status")
        assert broken.returncode == 1 and "process dns: pid" in broken.stdout
        assert "NOT RUNNING" in broken.stdout and "the mesh is broken (dns" in broken.stderr
    finally:
        run("down")
    assert not network.list_namespaces(runstate.namespace_prefix(cli_root))


def test_a_failed_up_leaves_no_mesh_behind(run_root: Path) -> None:
    """`up --sites /nonexistent` fails in one line and leaves nothing that `status`
    would then take for a mesh."""
    cli_root = run_root / "cli-root-failed"
    cli = [sys.executable, "-m", "clusters.local.cli", "--run-root", str(cli_root)]
    cwd = Path(__file__).parents[2]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, cwd=cwd, timeout=60)

    up = run("up", "--sites", "/nonexistent")
    assert up.returncode == 1
    assert up.stderr == "egress-mesh: error: sites file /nonexistent: No such file or directory\n"
    status = run("status")
    assert status.returncode == 1 and status.stderr.startswith(
        "egress-mesh: error: no mesh is running in "
    ), status.stderr
    assert not (cli_root / "cli").exists()


def test_cli_takes_relative_paths_and_closed_pipes(run_root: Path, tmp_path: Path) -> None:
    """`up --sites sites.yaml` keeps working from another directory (the path is
    resolved at up), and `status | head -1` ends quietly, without a traceback."""
    cli_root = run_root / "cli-root-paths"
    cli = [sys.executable, "-m", "clusters.local.cli", "--run-root", str(cli_root)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    shutil.copy(DEFAULT_SITES_FILE, tmp_path / "sites.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
        )

    try:
        up = run("up", "--sites", "sites.yaml", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        assert run("status", cwd=elsewhere).returncode == 0
        assert run("mode", "REGISTRY_ONLY", cwd=elsewhere).returncode == 0
        # `status | head -1`, made certain: the reader is gone before a byte is written
        # (with `head`, status's few hundred bytes fit the pipe and nothing ever breaks).
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            closed = subprocess.run(
                [*cli, "status"], stdout=write_end, stderr=subprocess.PIPE, text=True,
                cwd=elsewhere, env=env, timeout=60,
            )  # fmt: skip
        finally:
            os.close(write_end)
        assert closed.returncode == 0 and closed.stderr == "", closed.stderr
    finally:
        run("down", cwd=elsewhere)


def test_status_cuts_a_long_list_of_names_short() -> None:
    names = [f"se-{i}" for i in range(10_000)]
    line = cli_module.names_line(names, "ServiceEntry")
    assert line.startswith("se-0, se-1,") and "(10000 in all: egress-mesh get serviceentry)" in line
    assert len(line) < 400
    assert cli_module.names_line([], "ServiceEntry") == "-"


def test_a_dead_sidecar_is_named_with_how_it_died(run_root: Path) -> None:
    """Not blamed on a warning from its log: the process, its end, its last error."""
    mesh = LocalCluster.up(run_root=run_root / "dead-proxy")
    try:
        (proxy,) = [r for r in mesh.state.processes if r.name == "istio-proxy"]
        os.kill(proxy.pid, signal.SIGKILL)
        with pytest.raises(ClusterError) as caught:
            mesh.set_outbound_traffic_policy(OutboundTrafficPolicy.REGISTRY_ONLY)
            mesh.wait_for_proxy_config(10)
        message = str(caught.value)
        assert f"istio-proxy (pid {proxy.pid}) was killed by SIGKILL" in message, message
        assert "Deprecated" not in message and "\n" not in message
    finally:
        mesh.close()


def test_a_dead_istiod_says_so_in_one_line(run_root: Path) -> None:
    mesh = LocalCluster.up(run_root=run_root / "dead-istiod")
    try:
        (istiod,) = [r for r in mesh.state.processes if r.name == "istiod"]
        os.kill(istiod.pid, signal.SIGKILL)
        processes.terminate([istiod], grace=2.0)  # reaped: gone for good
        with pytest.raises(ClusterError) as caught:
            mesh.apply(HTTPBIN_SE)
        message = str(caught.value)
        assert f"istiod (pid {istiod.pid})" in message and "\n" not in message
    finally:
        mesh.close()
