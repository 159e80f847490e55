"""What the local mesh's Kubernetes holds, as istiod sees it through the API server.

A real cluster with Istio's default profile and the page's sample has these Namespaces
and Services; istiod turns them into listeners and clusters (the sleep Service on port
80 is why plain HTTP to an unknown host meets ``block_all``). The pod object is the
sample's, as the control plane's sidecar injection left it. Addresses are the local mesh's
(198.51.100.0/25 pods, 198.51.100.128/25 services).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from clusters.local.sidecar import ProxyInfo

SYSTEM_NAMESPACE = "istio-system"
SLEEP_CLUSTER_IP = "198.51.100.200"

# The istio ConfigMap's `mesh` as `istioctl install --set profile=default --set
# meshConfig.accessLogFile=/dev/stdout` writes it, with one change for the stock Envoy:
# no auto mTLS, which needs pilot-agent's SDS for workload certificates.
MESH_CONFIG = """\
accessLogFile: /dev/stdout
defaultConfig:
  discoveryAddress: istiod.istio-system.svc:15012
enableAutoMtls: false
rootNamespace: istio-system
trustDomain: cluster.local
"""


def _service(
    name: str, namespace: str, cluster_ip: str, ports: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"clusterIP": cluster_ip, "ports": ports, **spec},
    }


def _port(name: str, port: int, target: int | None = None, protocol: str = "TCP") -> dict[str, Any]:
    return {"name": name, "port": port, "targetPort": target or port, "protocol": protocol}


def cluster_objects() -> str:
    """The cluster at the page's start, as a YAML stream for ``egress-istiod --cluster``."""
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        for name, labels in (
            ("default", {"istio-injection": "enabled"}),  # the page's `kubectl label`
            ("kube-system", {}),
            (SYSTEM_NAMESPACE, {}),
        )
    ]
    services = [
        _service("kubernetes", "default", "198.51.100.129", [_port("https", 443, 6443)]),
        _service(
            "kube-dns",
            "kube-system",
            "198.51.100.138",
            [_port("dns", 53, protocol="UDP"), _port("dns-tcp", 53), _port("metrics", 9153)],
        ),
        _service(
            "istiod",
            SYSTEM_NAMESPACE,
            "198.51.100.140",
            [
                _port("grpc-xds", 15010),
                _port("https-dns", 15012),
                _port("https-webhook", 443, 15017),
                _port("http-monitoring", 15014),
            ],
            selector={"app": "istiod"},
        ),
        _service(
            "istio-ingressgateway",
            SYSTEM_NAMESPACE,
            "198.51.100.150",
            [_port("status-port", 15021), _port("http2", 80, 8080), _port("https", 443, 8443)],
            selector={"app": "istio-ingressgateway"},
            type="LoadBalancer",
        ),
        _service(
            "sleep", "default", SLEEP_CLUSTER_IP, [_port("http", 80)], selector={"app": "sleep"}
        ),
    ]
    # Stock Envoy has no SDS for workload certificates: mesh-wide mTLS off.
    peer_authentication = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": SYSTEM_NAMESPACE},
        "spec": {"mtls": {"mode": "DISABLE"}},
    }
    return yaml.safe_dump_all([*namespaces, *services, peer_authentication], sort_keys=False)


def running_pod(admitted: Mapping[str, Any], proxy: ProxyInfo) -> str:
    """The pod as admission left it (Istio's injector ran on it), now scheduled and
    running with the pod IP, and the sleep Service's EndpointSlice for it; JSON is
    YAML, and what the control API takes."""
    pod_object = {
        **admitted,
        "spec": {**(admitted.get("spec") or {}), "nodeName": "local"},
        "status": {
            "phase": "Running",
            "podIP": proxy.ip,
            "podIPs": [{"ip": proxy.ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "sleep-local",
            "namespace": proxy.namespace,
            "labels": {"kubernetes.io/service-name": "sleep"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [proxy.ip],
                "conditions": {"ready": True},
                "targetRef": {"kind": "Pod", "name": proxy.pod_name, "namespace": proxy.namespace},
            }
        ],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    return "\n---\n".join(json.dumps(item) for item in (pod_object, endpoint_slice))
