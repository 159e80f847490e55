"""The kind cluster's configuration and its docker network, inside 198.18.0.0/15 only.

The project's network rule keeps every address the run creates in the benchmarking
range 198.18.0.0/15, never in ranges a host or its LAN may use (10/8, 172.16/12,
192.168/16). kind would otherwise create its ``kind`` network in a private range and
default to 10.244.0.0/16 and 10.96.0.0/12, so the network is created first with our
subnet and the cluster config names the pod and service ranges. kind's default CNI
(kindnet) is an image we do not build: the node carries a bridge conflist instead,
which serves a single node.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import yaml

from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import programs
from clusters.protocol import ClusterError
from clusters.shared import cache

ALLOWED = ipaddress.ip_network("198.18.0.0/15")
NETWORK_NAME = "kind"  # kind's fixed network name (KIND_EXPERIMENTAL_DOCKER_NETWORK aside)
NODE_SUBNET = "198.18.0.0/24"
NODE_GATEWAY = "198.18.0.1"
POD_SUBNET = "198.19.0.0/16"
SERVICE_SUBNET = "198.18.128.0/20"
NODE_POD_RANGE = "198.19.0.0/24"  # the single node's share of POD_SUBNET


def check_range(cidr: str) -> ipaddress.IPv4Network:
    """``cidr`` as a network, or ClusterError when it leaves 198.18.0.0/15."""
    network = ipaddress.ip_network(cidr, strict=True)
    if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(ALLOWED):
        raise ClusterError(f"{cidr} is outside {ALLOWED}: the run may only use that range")
    return network


def kubernetes_minor(version: str) -> int:
    return programs.kubernetes_semver(version)[1]


def cluster_config(
    image: str,
    *,
    kubernetes_version: str,
    pod_subnet: str = POD_SUBNET,
    service_subnet: str = SERVICE_SUBNET,
) -> dict[str, Any]:
    """kind's ``Cluster`` object: one control-plane node from ``image``, our ranges, no
    default CNI, the API server on loopback."""
    for cidr in (pod_subnet, service_subnet):
        check_range(cidr)
    if check_range(pod_subnet).overlaps(check_range(service_subnet)):
        raise ClusterError(f"pod range {pod_subnet} overlaps service range {service_subnet}")
    config: dict[str, Any] = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {
            "ipFamily": "ipv4",
            "apiServerAddress": "127.0.0.1",
            "podSubnet": pod_subnet,
            "serviceSubnet": service_subnet,
            "disableDefaultCNI": True,
            "kubeProxyMode": "iptables",
        },
        "nodes": [{"role": "control-plane", "image": image}],
    }
    if kubernetes_minor(kubernetes_version) >= 35:  # cgroup v1 hosts (this one) need it
        config["kubeadmConfigPatches"] = [
            "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
            "failCgroupV1: false\n"
        ]
    return config


def write_cluster_config(path: Path, image: str, *, kubernetes_version: str) -> Path:
    """Write the config as YAML for ``kind create cluster --config PATH``."""
    config = cluster_config(image, kubernetes_version=kubernetes_version)
    cache.atomic_write(path, yaml.safe_dump(config, sort_keys=False))
    return path


def bridge_conflist(pod_range: str = NODE_POD_RANGE) -> str:
    """The node's CNI config: a bridge with host-local addresses from the node's pod
    range, masquerading (inside the node's namespace) what leaves it, and portmap."""
    check_range(pod_range)
    conflist = {
        "cniVersion": "1.0.0",
        "name": "egress-kind",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_range}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conflist, indent=2) + "\n"


def network_subnets(daemon: DockerDaemon) -> list[str] | None:
    """The subnets of the docker network ``kind``, or None when there is none."""
    try:
        return daemon.docker(
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
            NETWORK_NAME,
            what=f"docker network inspect {NETWORK_NAME}",
            timeout=30,
        ).split()
    except ClusterError:
        return None


def ensure_network(
    daemon: DockerDaemon, subnet: str = NODE_SUBNET, gateway: str = NODE_GATEWAY
) -> bool:
    """The docker network ``kind`` with our subnet, created when missing; True if this
    call created it (so the caller removes it). An existing one with another subnet is
    an error: kind would put the node there."""
    check_range(subnet)
    current = network_subnets(daemon)
    if current is None:
        daemon.docker(
            "network",
            "create",
            "--driver=bridge",
            f"--subnet={subnet}",
            f"--gateway={gateway}",
            "--opt=com.docker.network.bridge.enable_ip_masquerade=false",
            NETWORK_NAME,
            what="docker network create kind",
            timeout=60,
        )
        return True
    if current != [subnet]:
        raise ClusterError(
            f"docker network {NETWORK_NAME} has {current}, not {subnet}: remove it "
            f"(docker network rm {NETWORK_NAME}) so it is created inside {ALLOWED}"
        )
    return False
