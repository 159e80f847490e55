"""The kit's end-to-end proof: a kind cluster from the node image, Ready, CoreDNS Running.

Used by ``python -m clusters.kind.kit smoke`` and the ``kind``-marked test. It creates
the ``kind`` docker network inside 198.18.0.0/15, runs ``kind create cluster`` with the
generated config, waits for the node and CoreDNS, and always deletes the cluster and the
network again. Timings are returned so that a run can report them.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import config, node, programs
from clusters.protocol import ClusterError
from clusters.shared import cache
from clusters.shared.gobuild import ensure_go_program
from clusters.shared.waiting import NotYet, wait_for

SMOKE_CLUSTER = "egress-smoke"
READY_TIMEOUT_S = 240.0


@dataclass
class SmokeResult:
    """What the smoke run saw and how long each part took (seconds)."""

    timings: dict[str, float] = field(default_factory=dict)
    pods: str = ""


def run_smoke(daemon: DockerDaemon, image: node.NodeImage) -> SmokeResult:
    """Create a cluster, check it, delete it (and the network) whatever happened."""
    result = SmokeResult()
    kind = str(node.kind_binary(quiet=True))
    kubernetes = ensure_go_program(programs.kubernetes(image.kubernetes_version), quiet=True)
    kubectl = str(kubernetes / "kubectl")
    with tempfile.TemporaryDirectory(prefix="egress-kind-smoke-") as directory:
        work = Path(directory)
        kubeconfig = work / "kubeconfig"
        env = {**daemon.env, "KUBECONFIG": str(kubeconfig)}
        cluster_config = config.write_cluster_config(
            work / "kind.yaml", image.image, kubernetes_version=image.kubernetes_version
        )
        created_network = config.ensure_network(daemon)
        started = time.monotonic()
        try:
            with cache.progress(f"kind cluster {SMOKE_CLUSTER} from {image.image}"):
                cache.run(
                    [
                        kind,
                        "create",
                        "cluster",
                        f"--name={SMOKE_CLUSTER}",
                        f"--image={image.image}",
                        f"--config={cluster_config}",
                        f"--kubeconfig={kubeconfig}",
                        "--retain",
                    ],
                    what="kind create cluster",
                    env=env,
                    timeout=600,
                )
            result.timings["kind create"] = time.monotonic() - started
            _wait_for(
                [kubectl, "wait", "node", "--all", "--for=condition=Ready", "--timeout=5s"],
                env,
                "the node Ready",
            )
            result.timings["node Ready"] = time.monotonic() - started
            _wait_for(
                [
                    kubectl,
                    "--namespace=kube-system",
                    "wait",
                    "pod",
                    "--selector=k8s-app=kube-dns",
                    "--for=condition=Ready",
                    "--timeout=5s",
                ],
                env,
                "CoreDNS Ready",
            )
            result.timings["CoreDNS Ready"] = time.monotonic() - started
            result.pods = cache.run(
                [kubectl, "get", "pods", "--all-namespaces", "-o", "wide"],
                what="kubectl get pods -A",
                env=env,
                timeout=60,
            )
        except BaseException:
            logs = cache.cache_root() / "smoke-logs"
            cache.run(
                [kind, "export", "logs", str(logs), f"--name={SMOKE_CLUSTER}"],
                what="kind export logs",
                env=env,
                timeout=300,
            )
            cache.say(f"the failed cluster's logs are in {logs}")
            raise
        finally:
            deleted = time.monotonic()
            cache.run(
                [
                    kind,
                    "delete",
                    "cluster",
                    f"--name={SMOKE_CLUSTER}",
                    f"--kubeconfig={kubeconfig}",
                ],
                what="kind delete cluster",
                env=env,
                timeout=300,
            )
            result.timings["kind delete"] = time.monotonic() - deleted
            if created_network:  # a network it found is another run's (or a kept cluster's)
                daemon.docker("network", "rm", config.NETWORK_NAME, what="docker network rm kind")
    return result


def _wait_for(argv: list[str], env: dict[str, str], what: str) -> None:
    """Run ``argv`` (a kubectl check) until it succeeds, for READY_TIMEOUT_S."""

    def ready() -> None:
        try:
            cache.run(argv, what=f"waiting for {what}", env=env, timeout=60)
        except ClusterError as error:
            raise NotYet(str(error)) from None

    wait_for(ready, timeout=READY_TIMEOUT_S, what=f"{what} not ready", interval=2, max_interval=2)
