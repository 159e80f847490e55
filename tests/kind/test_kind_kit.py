"""The offline kind kit (clusters/kind/): fast checks without docker, and one slow
end-to-end run (``kit`` marker, only with EGRESS_KIND_E2E=1) that builds the node image,
creates a cluster, and checks that the host ends as it began."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusters.kind import docker, hoststate, runtime_wrapper
from clusters.kind.backend import WAITS as KIND_WAITS
from clusters.kind.kit import config, kubeadm_images, programs, rootfs, tools
from clusters.kube.cluster import KubeCluster, KubeSettings
from clusters.protocol import ClusterError, PrerequisiteMissing
from clusters.shared import cache, gobuild
from clusters.shared.cleanup import CleanupStack


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "egress-conformance" / "kind"


# --- the cluster config -------------------------------------------------------------


def test_cluster_config_uses_only_the_benchmark_range() -> None:
    generated = config.cluster_config("node:v1", kubernetes_version="v1.34.4")
    networking = generated["networking"]
    assert networking["podSubnet"] == "198.19.0.0/16"
    assert networking["serviceSubnet"] == "198.18.128.0/20"
    assert networking["disableDefaultCNI"] is True
    assert networking["apiServerAddress"] == "127.0.0.1"
    assert generated["nodes"] == [{"role": "control-plane", "image": "node:v1"}]
    assert "kubeadmConfigPatches" not in generated


def test_cluster_config_lets_new_kubelets_run_on_cgroup_v1() -> None:
    generated = config.cluster_config("node:v1", kubernetes_version="v1.36.3")
    (patch,) = generated["kubeadmConfigPatches"]
    assert yaml.safe_load(patch)["failCgroupV1"] is False


@pytest.mark.parametrize(
    "cidr", ["10.244.0.0/16", "172.17.0.0/16", "192.168.1.0/24", "198.20.0.0/16"]
)
def test_cluster_config_refuses_ranges_outside_198_18(cidr: str) -> None:
    with pytest.raises(ClusterError, match=r"outside 198\.18\.0\.0/15"):
        config.cluster_config("node:v1", kubernetes_version="v1.34.4", pod_subnet=cidr)


def test_cluster_config_refuses_overlapping_ranges() -> None:
    with pytest.raises(ClusterError, match="overlaps"):
        config.cluster_config(
            "n",
            kubernetes_version="v1.34.4",
            pod_subnet="198.18.0.0/16",
            service_subnet="198.18.128.0/20",
        )


def test_written_config_is_kind_yaml(tmp_path: Path) -> None:
    path = config.write_cluster_config(
        tmp_path / "kind.yaml", "img:1", kubernetes_version="v1.34.4"
    )
    loaded = yaml.safe_load(path.read_text())
    assert loaded["kind"] == "Cluster"
    assert loaded["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert loaded["nodes"][0]["image"] == "img:1"


def test_bridge_conflist_serves_the_nodes_pod_range() -> None:
    conflist = json.loads(config.bridge_conflist())
    bridge, portmap = conflist["plugins"]
    assert bridge["type"] == "bridge" and portmap["type"] == "portmap"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "198.19.0.0/24"}]]
    assert config.check_range(config.NODE_POD_RANGE).subnet_of(
        config.check_range(config.POD_SUBNET)
    )


# --- the cache ----------------------------------------------------------------------


def test_cache_root_honours_xdg_cache_home(cache_home: Path) -> None:
    assert cache.cache_root() == cache_home


def test_a_failed_build_leaves_no_cache_entry(tmp_path: Path) -> None:
    target = tmp_path / "bin" / "thing-v1"
    with pytest.raises(RuntimeError), cache.staging_dir(target) as staging:
        (staging / "half-written").write_text("x")
        raise RuntimeError("compiler died")
    assert not target.exists()
    assert list((tmp_path / "bin").iterdir()) == []


def test_a_finished_build_is_renamed_into_place(tmp_path: Path) -> None:
    target = tmp_path / "thing"
    with cache.staging_dir(target) as staging:
        (staging / "binary").write_text("ok")
    assert (target / "binary").read_text() == "ok"
    assert [p.name for p in tmp_path.iterdir()] == ["thing"]


def test_leftovers_of_killed_builds_are_swept(tmp_path: Path) -> None:
    dead = 4_000_000  # above pid_max: never a live process
    (tmp_path / f".thing-v1.{dead}.tmp").mkdir()
    (tmp_path / f".thing-v1.{os.getppid()}.tmp").mkdir()  # a live build's: kept
    assert cache.stale_leftovers(tmp_path, "thing-v1") == [tmp_path / f".thing-v1.{dead}.tmp"]
    with cache.staging_dir(tmp_path / "thing-v1") as staging:
        (staging / "binary").write_text("ok")
    live = f".thing-v1.{os.getppid()}.tmp"
    assert sorted(p.name for p in tmp_path.iterdir()) == [live, "thing-v1"]


def test_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    cache.atomic_write(tmp_path / "f", "text", mode=0o755)
    assert (tmp_path / "f").read_text() == "text"
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_run_raises_one_line_with_the_commands_last_words() -> None:
    with pytest.raises(ClusterError, match=r"^probe failed: first \| second$"):
        cache.run(["sh", "-c", "echo first >&2; echo second >&2; exit 3"], what="probe")
    assert cache.run(["cat"], what="cat", stdin=b"piped") == "piped"


def test_locks_are_per_artefact(cache_home: Path) -> None:
    with cache.locked("a"), cache.locked("b"):  # different artefacts do not wait
        assert (cache_home / "locks" / "a.lock").exists()


# --- Go builds ----------------------------------------------------------------------


def test_go_program_cache_entry_is_keyed_by_version_and_recipe(cache_home: Path) -> None:
    base = programs.cni_plugins()
    other_version = gobuild.GoProgram(**{**base.__dict__, "version": "v9.9.9"})
    other_tags = gobuild.GoProgram(**{**base.__dict__, "tags": ("x",)})
    dirs = {gobuild.output_dir(p) for p in (base, other_version, other_tags)}
    assert len(dirs) == 3
    assert gobuild.output_dir(base).parent == cache_home / "bin"
    assert base.binaries() == ["bridge", "host-local", "loopback", "portmap", "ptp"]
    assert programs.etcd().binaries() == ["etcd"]


def test_wrapper_module_pins_and_replaces(tmp_path: Path) -> None:
    program = gobuild.GoProgram(
        "kubernetes",
        "k8s.io/kubernetes",
        "v1.34.4",
        packages=("k8s.io/kubernetes/cmd/kubeadm",),
        replace={"k8s.io/api": "k8s.io/api v0.34.4"},
    )
    gobuild._write_wrapper(program, tmp_path)
    gomod = (tmp_path / "go.mod").read_text()
    assert "require k8s.io/kubernetes v1.34.4" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.34.4" in gomod
    assert not (tmp_path / "main.go").exists()


def test_pinned_sums_seed_the_wrappers_go_sum_and_shape_nothing(tmp_path: Path) -> None:
    """Istio's pins the checksum database lacks are verified against the project's
    go.sum files; they do not change where the binaries are cached."""
    sums = tmp_path / "pinned.sum"
    sums.write_text("b.example/m v1 h1:bbb=\na.example/m v1 h1:aaa=\n\n")
    plain = gobuild.GoProgram("istio-x", "istio.io/istio", "v1", packages=("istio.io/istio/x",))
    seeded = dataclasses.replace(plain, sums=(sums, tmp_path / "missing.sum"))
    gobuild._write_wrapper(seeded, tmp_path / "wrapper")
    go_sum = (tmp_path / "wrapper" / "go.sum").read_text()
    assert go_sum == "a.example/m v1 h1:aaa=\nb.example/m v1 h1:bbb=\n"
    assert gobuild.output_dir(seeded) == gobuild.output_dir(plain)
    gobuild._write_wrapper(plain, tmp_path / "wrapper")  # a stale go.sum does not stay
    assert not (tmp_path / "wrapper" / "go.sum").exists()


def test_a_self_contained_main_requires_nothing(tmp_path: Path) -> None:
    gobuild._write_wrapper(programs.pause(), tmp_path)
    assert "require" not in (tmp_path / "go.mod").read_text()
    assert "syscall.Wait4" in (tmp_path / "main.go").read_text()


def test_kubernetes_version_flags() -> None:
    assert programs.staging_version("v1.34.4") == "v0.34.4"
    flags = programs.version_ldflags("v1.34.4")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.34.4" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.gitMinor=34" in flags
    for bad in ("1.34", "v1.34", "v1.34.x"):  # one reading of the version for all three
        for reader in (programs.staging_version, programs.version_ldflags, config.kubernetes_minor):
            with pytest.raises(ClusterError, match=r"expected vMAJOR\.MINOR\.PATCH"):
                reader(bad)
    assert config.kubernetes_minor("v1.35.0") == 35


# --- the page's programs (kubectl, istioctl, helm) ------------------------------------


def _helm_go_mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_go: str) -> None:
    """helm's go.mod as the module proxy serves it, without asking the proxy."""
    (tmp_path / "go.mod").write_text(
        f"module helm.sh/helm/v3\n\ngo 1.26.0\n\nrequire (\n\tk8s.io/client-go {client_go}\n)\n"
    )
    monkeypatch.setattr(programs, "module_dir", lambda module, version: tmp_path)


def test_helm_is_v3_from_its_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """helm v3 (not v4): the page's ``helm template -x`` must meet the flag parser of the
    helm a reader of the page's era would upgrade to, stamped as helm's Makefile does."""
    _helm_go_mod(tmp_path, monkeypatch, "v0.36.2")
    helm = programs.helm()
    assert (helm.name, helm.module, helm.version) == ("helm", "helm.sh/helm/v3", "v3.21.4")
    assert helm.packages == ("helm.sh/helm/v3/cmd/helm",)
    assert helm.binaries() == ["helm"]
    assert "-X helm.sh/helm/v3/internal/version.version=v3.21.4" in helm.ldflags
    for package in ("pkg/chartutil", "pkg/lint/rules"):
        assert f"-X helm.sh/helm/v3/{package}.k8sVersionMajor=1" in helm.ldflags
        assert f"-X helm.sh/helm/v3/{package}.k8sVersionMinor=36" in helm.ldflags


def test_helm_without_client_go_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "go.mod").write_text("module helm.sh/helm/v3\n")
    monkeypatch.setattr(programs, "module_dir", lambda module, version: tmp_path)
    with pytest.raises(ClusterError, match=r"no k8s\.io/client-go in its go\.mod"):
        programs.helm()


def test_tools_dir_links_the_programs_by_name(cache_home: Path, tmp_path: Path) -> None:
    found = {}
    for name in ("kubectl", "istioctl", "helm"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        found[name] = tmp_path / name
    directory = tools.tools_dir(found)
    assert directory.parent == cache_home / "tools"
    assert sorted(p.name for p in directory.iterdir()) == ["helm", "istioctl", "kubectl"]
    assert (directory / "helm").resolve() == tmp_path / "helm"
    assert tools.tools_dir(found) == directory  # found again, not made twice
    assert tools.tools_dir({**found, "helm": tmp_path / "kubectl"}) != directory


def _shell_env(tmp_path: Path, **settings: object) -> dict[str, str]:
    """``KubeCluster.shell_env`` alone: it reads only the settings and its kubeconfig."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {"contexts": [{"name": "kind-x", "context": {}}], "current-context": "kind-x"}
        )
    )
    cluster = KubeCluster.__new__(KubeCluster)
    cluster.settings = KubeSettings(  # type: ignore[arg-type]
        backend="kind", platform="kind", waits=KIND_WAITS, kubeconfig=kubeconfig,
        **settings,
    )  # fmt: skip
    cluster._shell_kubeconfig = None
    cluster.cleanup = CleanupStack()
    try:
        return cluster.shell_env()
    finally:
        if cluster._shell_kubeconfig is not None:
            cluster._shell_kubeconfig.unlink()


def test_the_kind_shell_finds_the_kits_tools_before_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users, kit = tmp_path / "users", tmp_path / "kit"
    for directory in (users, kit):
        directory.mkdir()
        for name in ("kubectl", "istioctl", "helm"):
            (directory / name).write_text("#!/bin/sh\n")
            (directory / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{users}{os.pathsep}/usr/bin:/bin")
    env = _shell_env(tmp_path, tools=kit, istioctl=tmp_path / "istio" / "istioctl")
    found = subprocess.run(
        ["bash", "-c", "command -v kubectl istioctl helm"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert found == [str(kit / name) for name in ("kubectl", "istioctl", "helm")]
    assert env["PATH"].endswith(f"{users}{os.pathsep}/usr/bin:/bin")


def test_the_existing_shell_keeps_the_users_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert "PATH" not in _shell_env(tmp_path)  # no helm required there
    given = tmp_path / "istio" / "istioctl"
    assert _shell_env(tmp_path, istioctl=given)["PATH"] == f"{given.parent}:/usr/bin:/bin"


def _built_helm() -> Path:
    """The kit's helm if it is in the cache (built by ``make kit``), else a skip."""
    try:
        directory = gobuild.output_dir(programs.helm())
    except ClusterError as error:  # helm's go.mod could not be read
        pytest.skip(f"helm's module is not at hand: {error}")
    if not (directory / "helm").is_file():
        pytest.skip("the kit's helm is not built (python -m clusters.kind.kit tools helm)")
    return directory / "helm"


def test_the_kits_helm_refuses_the_pages_x_flag(tmp_path: Path) -> None:
    """``helm template -x`` (the page's, helm v2's) is refused by flag parsing, before
    helm looks for the chart: what --literal reports for the page's command."""
    helm = _built_helm()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    usage = subprocess.run(
        [helm, "template", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 0, usage.stderr
    assert "helm template [NAME] [CHART] [flags]" in usage.stdout
    version = subprocess.run([helm, "version", "--short"], env=env, capture_output=True, text=True)
    assert version.stdout.startswith("v3.21.4")
    refused = subprocess.run(
        [helm, "template", "x", "-x", "y"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == "Error: unknown shorthand flag: 'x' in -x"


PAGE_HELM = (
    'helm template install/kubernetes/helm/istio --set global.proxy.includeIPRanges="10.0.0.1/24"'
    " -x templates/sidecar-injector-configmap.yaml | kubectl apply -f -"
)


@pytest.mark.kit
@pytest.mark.timeout(1800)
def test_the_pages_helm_command_runs_as_written_on_kind(tmp_path: Path) -> None:
    """On kind, --literal's shell finds the kit's kubectl, istioctl and helm, so the page's
    ``helm template -x ... | kubectl apply -f -`` gets helm's refusal, not bash's."""
    from clusters.kind.backend import BACKEND, KindOptions

    with BACKEND.start(KindOptions()) as cluster:
        env = {**os.environ, **cluster.shell_env()}
        found = subprocess.run(
            ["bash", "-c", "command -v kubectl istioctl helm"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert [Path(f).parent for f in found] == [cluster.settings.tools] * 3
        assert Path(found[0]).resolve() == tools.kubectl_binary(quiet=True)
        ran = subprocess.run(
            ["bash", "-c", PAGE_HELM], env=env, cwd=tmp_path, capture_output=True, text=True
        )
    assert "Error: unknown shorthand flag: 'x' in -x" in ran.stderr.splitlines()
    assert "error: no objects passed to apply" in ran.stderr.splitlines()
    assert ran.returncode == 1


# --- the debootstrap rootfs ---------------------------------------------------------


def test_apt_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert rootfs.apt_mirror(tmp_path) == "http://mirror.example/debian"


def test_apt_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://one.example/debian bookworm main\n"
    )
    assert rootfs.apt_mirror(tmp_path) == "http://one.example/debian"
    assert rootfs.apt_mirror(tmp_path / "nothing") == rootfs.FALLBACK_MIRROR


def test_rootfs_key_changes_with_packages() -> None:
    slim = rootfs.Rootfs("slim", ("bash",))
    assert slim.digest("http://m") != rootfs.NODE_ROOTFS.digest("http://m")
    assert slim.digest("http://m") != slim.digest("http://other")


# --- the OCI runtime wrapper --------------------------------------------------------


def _spec(caps: list[str]) -> dict:
    return {
        "process": {"capabilities": {name: list(caps) for name in runtime_wrapper.CAPABILITY_SETS}}
    }


def test_wrapper_drops_capabilities_from_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_spec(["CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"])))
    argv = [
        "--root",
        "/r",
        "--log",
        "l.json",
        "create",
        "--bundle",
        str(tmp_path),
        "--pid-file",
        "p",
        "id",
    ]
    path, kind = runtime_wrapper.json_to_edit(argv)
    runtime_wrapper.edit(path, kind, {"CAP_SYS_RESOURCE"})
    caps = json.loads((tmp_path / "config.json").read_text())["process"]["capabilities"]
    assert all(caps[name] == ["CAP_SYS_ADMIN"] for name in runtime_wrapper.CAPABILITY_SETS)


def test_wrapper_edits_the_process_json_of_exec(tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps(_spec(["CAP_SYS_RESOURCE", "CAP_NET_RAW"])["process"]))
    argv = ["--root", "/r", "exec", f"--process={process}", "--detach", "id"]
    assert runtime_wrapper.json_to_edit(argv) == (str(process), "process")
    runtime_wrapper.edit(str(process), "process", {"CAP_SYS_RESOURCE"})
    assert json.loads(process.read_text())["capabilities"]["bounding"] == ["CAP_NET_RAW"]


def test_wrapper_leaves_other_commands_alone() -> None:
    assert runtime_wrapper.json_to_edit(["--root", "/r", "delete", "id"]) is None
    assert runtime_wrapper.json_to_edit(["--root", "/r", "state", "id"]) is None
    assert runtime_wrapper.json_to_edit(["run", "id"]) == ("./config.json", "config")


def test_wrapper_reads_the_bounding_set() -> None:
    status = "Name:\tx\nCapBnd:\t000001fffeffffff\n"  # this VM: bit 24 missing
    assert runtime_wrapper.unavailable_capabilities(status) == {"CAP_SYS_RESOURCE"}
    assert runtime_wrapper.unavailable_capabilities("CapBnd:\t000001ffffffffff\n") == set()
    assert runtime_wrapper.CAPABILITIES[24] == "CAP_SYS_RESOURCE"


def test_wrapper_is_standard_library_only() -> None:
    """dockerd runs the wrapper with the system's Python: every import is stdlib's."""
    source = Path(runtime_wrapper.__file__).read_text()
    assert source.startswith("#!/usr/bin/python3")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported and imported - {"__future__"} <= sys.stdlib_module_names


# --- host state ---------------------------------------------------------------------


def _state(**changes: object) -> hoststate.HostState:
    fields = {
        "iptables": "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT",
        "ip6tables": "",
        "ip_forward": "0",
        "links": ["1: lo: <LOOPBACK,UP> mtu 65536", "2: eth0: <UP> mtu 1400"],
        "sysctls": {"kernel.panic": "1", "kernel.panic_on_oops": "0", "vm.overcommit_memory": "0"},
        "lib_modules_existed": False,
        **changes,
    }
    return hoststate.HostState(**fields)  # type: ignore[arg-type]


def test_host_state_round_trips_and_compares_equal() -> None:
    state = _state()
    assert hoststate.HostState.from_json(state.to_json()) == state
    assert state.differences(_state()) == []


def test_host_state_names_every_difference() -> None:
    after = _state(
        ip_forward="1",
        links=[*_state().links, "5: br-0123456789ab: <UP> mtu 1500"],
        sysctls={"kernel.panic": "10", "kernel.panic_on_oops": "1", "vm.overcommit_memory": "1"},
        iptables="*nat\nCOMMIT",
        lib_modules_existed=True,
    )
    found = _state().differences(after)
    assert "net.ipv4.ip_forward is 1, was 0" in found
    assert "kernel.panic is 10, was 1" in found
    assert "kernel.panic_on_oops is 1, was 0" in found
    assert "vm.overcommit_memory is 1, was 0" in found
    assert "iptables-save differs" in found
    assert any("added ['br-0123456789ab']" in line for line in found)
    assert any("/lib/modules" in line for line in found)


def test_iptables_dumps_compare_without_counters_and_dates() -> None:
    one = (
        "# Generated by iptables-save on Sun\n*filter\n:INPUT ACCEPT [12:3400]\nCOMMIT\n# Completed"
    )
    two = "# Generated by iptables-save on Mon\n*filter\n:INPUT ACCEPT [99:1]\nCOMMIT\n# Completed"
    assert hoststate.normalize_iptables(one) == hoststate.normalize_iptables(two)


def test_link_names_and_docker_links() -> None:
    lines = ["7: veth1a2b3c4@if6: <UP> mtu 1500", "8: br-0123456789ab: <UP>", "2: eth0: <UP>"]
    assert hoststate.link_names(lines) == ["veth1a2b3c4", "br-0123456789ab", "eth0"]
    assert [n for n in hoststate.link_names(lines) if hoststate.DOCKER_LINK.match(n)] == [
        "veth1a2b3c4",
        "br-0123456789ab",
    ]


def test_the_three_kubelet_sysctls_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kubelet writes kernel.panic, kernel.panic_on_oops and vm.overcommit_memory: the
    record holds them, and a change to one is a difference to restore."""
    values = {"kernel.panic": "1", "kernel.panic_on_oops": "0", "vm.overcommit_memory": "0"}
    monkeypatch.setattr(hoststate, "_sysctl", values.get)
    monkeypatch.setattr(hoststate, "_run", lambda argv: "")
    before = hoststate.HostState.record()
    assert before.sysctls == values
    values["kernel.panic"] = "10"  # what the kubelet sets
    assert before.differences(hoststate.HostState.record()) == ["kernel.panic is 10, was 1"]


# --- the daemon and the control-plane images ----------------------------------------


def test_dockerd_leaves_the_host_network_alone() -> None:
    argv = docker.dockerd_argv("/usr/sbin/dockerd")
    for flag in ("--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none"):
        assert flag in argv
    assert f"--default-runtime={docker.RUNTIME_NAME}" in argv
    assert f"--add-runtime={docker.RUNTIME_NAME}={docker.RUNTIME_PATH}" in argv
    assert f"--host=unix://{docker.SOCKET}" in argv
    assert any(
        arg.startswith("--data-root=") and "egress-conformance/kind/docker" in arg for arg in argv
    )


def test_a_configured_docker_host_that_does_not_answer_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(PrerequisiteMissing, match="does not answer"):
        docker.DockerDaemon.ensure()


def test_daemon_env_selects_the_classic_builder() -> None:
    env = docker.DockerDaemon("unix:///x.sock").env
    assert env["DOCKER_HOST"] == "unix:///x.sock" and env["DOCKER_BUILDKIT"] == "0"
    assert docker.DockerDaemon("unix:///x.sock").stop() == []  # not owned: never stopped


def test_control_plane_images_take_kubeadms_names(tmp_path: Path) -> None:
    kubeadm = tmp_path / "kubeadm"
    kubeadm.write_text(
        "#!/bin/sh\nfor c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy;"
        " do echo registry.k8s.io/$c:v1.34.4; done\n"
        "echo registry.k8s.io/coredns/coredns:v1.12.1\necho registry.k8s.io/pause:3.10.1\n"
        "echo registry.k8s.io/etcd:3.6.4-0\n"
    )
    kubeadm.chmod(0o755)
    images = kubeadm_images.kubeadm_images(kubeadm, "v1.34.4")
    assert images.pause == "registry.k8s.io/pause:3.10.1"
    bins = {name: tmp_path for name in ("kubernetes", "etcd", "coredns", "pause")}
    specs = kubeadm_images.image_specs(images, base="rootfs:x", **bins)
    assert sorted(spec.tag for spec in specs) == sorted(images.all())
    by_tag = {spec.tag: spec for spec in specs}
    assert (
        'ENTRYPOINT ["/usr/local/bin/coredns"]'
        in by_tag["registry.k8s.io/coredns/coredns:v1.12.1"].dockerfile
    )
    assert by_tag["registry.k8s.io/kube-proxy:v1.34.4"].base_images() == ["rootfs:x"]
    assert by_tag["registry.k8s.io/kube-apiserver:v1.34.4"].dockerfile.startswith("FROM scratch")


# --- end to end ---------------------------------------------------------------------


@pytest.mark.kit
@pytest.mark.timeout(3600)
def test_kind_cluster_from_the_kit_leaves_the_host_as_it_was() -> None:
    from clusters.kind.kit import node, smoke

    before = hoststate.HostState.record()
    daemon = docker.DockerDaemon.ensure()
    owned = daemon.owned
    try:
        built = node.ensure_node_image(daemon)
        result = smoke.run_smoke(daemon, built)
    finally:
        daemon.stop()
    assert any("coredns" in line and "Running" in line for line in result.pods.splitlines())
    if not owned:
        pytest.skip("a daemon was already running: the host's state is not this test's to compare")
    assert before.differences(hoststate.HostState.record()) == []
