"""What an existing cluster is started with: its options and default waits, apart from the
declaration (backend.py) so that the implementation can import them without a
cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from clusters.protocol import Waits

# istio.io's own test of the page retries each check for up to 120 s on a real cluster;
# a real cluster's pod needs its image pulled and its probes passed.
WAITS = Waits(propagation=120.0, exec=60.0, ready=300.0)


@dataclass(frozen=True)
class ExistingOptions:
    """Which cluster to use and how long its waits may take."""

    waits: Waits = field(default_factory=lambda: WAITS)
    kubeconfig: Path | None = None  # None: $KUBECONFIG, else ~/.kube/config
    kube_context: str | None = None  # None: the kubeconfig's current context
    worker: str = "main"  # in the namespace's name, so parallel workers never share one
    istioctl: Path | None = None  # for manual injection (None: istioctl on PATH)
