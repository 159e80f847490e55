"""The page's source pod (``sleep``) in the local mesh: its namespace, addresses,
interception rules and the files its istio-proxy reads.

The proxy itself is started by the mesh (it records the process); its bootstrap comes
from the control plane. This module only prepares and removes what surrounds it.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from clusters.local import iptables, network, runstate
from clusters.local.kubeobjects import SLEEP_CLUSTER_IP
from clusters.local.runstate import PodState
from clusters.local.sidecar import ProxyInfo
from clusters.protocol import ClusterError, Injection
from clusters.shared import processes, runtime
from clusters.shared.sites import DNS_ADDRESS
from clusters.shared.waiting import NotYet, wait_for

POD_IP = "198.51.100.10"
GATEWAY_IP = "198.51.100.1"
POD_PREFIX_LEN = 24
POD_CIDR = "198.51.100.0/25"  # the cluster's pod range
SERVICE_CIDR = "198.51.100.128/25"  # the cluster's service range
SOURCE_UID = 100  # the curl image's curl_user
SOURCE_GID = 101
PROXY_UID = iptables.PROXY_UID
PROXY_GID = iptables.PROXY_GID
NAMESPACE = "default"
# What a command run in the pod sees (kubectl exec, the mesh's own probes).
POD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
APP_CONTAINER = "sleep"

__all__ = ["SLEEP_CLUSTER_IP"]


def new_pod_state(injection: Injection, include: Sequence[str] | None) -> PodState:
    """A new pod's record, named as a Deployment's pods are (``sleep-<hash>-<id>``)."""
    ranges = list(iptables.validate_cidrs(include)) if include is not None else None
    return PodState(
        name=f"sleep-{secrets.token_hex(5)}-{secrets.token_hex(3)[:5]}",
        injection=injection.value,
        include_ip_ranges=ranges,
    )


def exec_argv(pod_ns: str, argv: Sequence[str], container: str = APP_CONTAINER) -> list[str]:
    """argv that runs a command in one of the pod's containers: in its network namespace
    as the container's user (curl's in ``sleep``, 1337 in ``istio-proxy``, whose traffic
    the interception rules let through as Envoy's own)."""
    uid, gid = (PROXY_UID, PROXY_GID) if container == "istio-proxy" else (SOURCE_UID, SOURCE_GID)
    return processes.in_namespace(pod_ns, argv, uid=uid, gid=gid)


def runtime_refusal(argv: Sequence[str]) -> str | None:
    """The container runtime's refusal of a command it cannot start in the pod
    (clusters.shared.runtime), or None when it can. The pod's files are the host's, so
    its PATH is looked up here; setpriv's own "failed to execute" line, exit 127, is
    what a shell prints, not a runtime."""
    if not argv:
        return None
    command = argv[0]
    if "/" not in command:
        found = shutil.which(command, path=POD_ENV["PATH"]) is not None
        return None if found else runtime.exec_refusal(command)
    if os.access(command, os.X_OK) and not os.path.isdir(command):
        return None
    if not os.path.exists(command):
        return runtime.exec_refusal(command, f"stat {command}: no such file or directory")
    return runtime.exec_refusal(command, "permission denied")


def proxy_info(pod: PodState) -> ProxyInfo:
    return ProxyInfo(pod_name=pod.name, namespace=NAMESPACE, ip=POD_IP)


def labels(pod: PodState) -> dict[str, str]:
    """The pod's labels as admission left them (the injector adds its own)."""
    return dict((pod.pod.get("metadata") or {}).get("labels") or {})


def create_internet_namespace(net: str, addresses: Iterable[str]) -> None:
    network.create(net)
    network.add_local_addresses(net, addresses)


def create_pod_network(
    pod_ns: str,
    net: str,
    pod: PodState,
    pod_dir: Path,
    *,
    ca_bundle: bytes,
) -> None:
    """The pod's namespace with the page's DNS and CA, and its veth. istio-init's rules
    are the caller's to install (the control plane's istio-iptables)."""
    network.create(
        pod_ns,
        etc_files={
            "resolv.conf": f"nameserver {DNS_ADDRESS}\n",
            "ssl/certs/ca-certificates.crt": ca_bundle,
        },
    )
    network.connect(pod_ns, net, pod_ip=POD_IP, gateway_ip=GATEWAY_IP, prefix_len=POD_PREFIX_LEN)
    pod_dir.mkdir(parents=True)
    os.chown(pod_dir, PROXY_UID, PROXY_GID)  # the admin socket goes here


def remove_pod_network(pod_ns: str, net: str, pod_dir: Path) -> None:
    if network.exists(pod_ns):
        # The kernel frees a deleted namespace's veth asynchronously; remove our end
        # now so the next pod can reuse its name at once.
        network.delete_link(net, "pod0")
    runstate.destroy_namespace(pod_ns)
    shutil.rmtree(pod_dir, ignore_errors=True)


def bootstrap_pipe(pod_dir: Path) -> Path:
    """A named pipe where the sidecar's bootstrap will be, for an Envoy started before
    the bootstrap is known: Envoy opens its ``--config-path`` after its own start and
    blocks there until the bootstrap comes (:func:`send_bootstrap`). Named ``.json``,
    since Envoy tells the format by the name."""
    path = pod_dir / "bootstrap.json"
    os.mkfifo(path, 0o600)
    os.chown(path, PROXY_UID, PROXY_GID)
    return path


def send_bootstrap(
    pipe: Path, bootstrap: Mapping[str, Any], alive: Callable[[], None], timeout: float
) -> None:
    """Hand the waiting Envoy its bootstrap through the pipe, once it has opened it (a
    write end opened before the reader would lose the data with its close), then leave
    a plain file of the same content in its place, as pilot-agent leaves envoy-rev.json."""
    data = json.dumps(bootstrap).encode()

    def reader_opened() -> int:
        try:
            return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        alive()  # an Envoy that died before reading explains itself
        raise NotYet("Envoy to open its bootstrap")

    handle = wait_for(
        reader_opened,
        timeout=timeout,
        what=f"the sidecar did not read its bootstrap {pipe}",
        interval=0.001,
        max_interval=0.002,
    )
    try:
        os.set_blocking(handle, True)
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
    except BrokenPipeError:  # Envoy closed it unread: it is dying, and says why
        alive()
        raise ClusterError(f"the sidecar closed its bootstrap {pipe} before reading it") from None
    finally:
        os.close(handle)  # Envoy reads to the end, then parses
    copy = pipe.with_name(f".{pipe.name}.tmp")
    copy.write_bytes(data)
    copy.replace(pipe)


def check_reachable_by_proxy(root: Path) -> None:
    """The sidecar runs as uid 1337 and reads its config (and sockets) under the run root."""
    for directory in (root.resolve(), *root.resolve().parents):
        if not directory.stat().st_mode & 0o001:
            raise ClusterError(
                f"run root {root} is not reachable by the sidecar's uid "
                f"{PROXY_UID}: {directory} is not world-searchable "
                "(choose a run root under /run, or chmod o+x it)"
            )
