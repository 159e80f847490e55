"""What a kind cluster is started with: its options and default waits, apart from the
declaration (backend.py) so that the implementation can import them without a
cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from clusters.protocol import Waits

IMAGES = ("kit", "pull")
EXTERNAL = ("fake", "internet")
# istio.io's own test of the page retries each check for up to 120 s on a real cluster;
# a real cluster's pod needs its image loaded and its probes passed.
WAITS = Waits(propagation=120.0, exec=60.0, ready=300.0)


@dataclass(frozen=True)
class KindOptions:
    """How to make (or reuse) the kind cluster."""

    waits: Waits = field(default_factory=lambda: WAITS)
    istio_version: str | None = None  # a pinned Istio build for the kit's images
    sites_file: Path | None = None  # the fake internet's sites (None: the shared list)
    images: str = "kit"  # the kit's images built here (kit) or official ones (pull)
    external: str = "fake"  # the kit's fake sites (fake) or the real internet
    reuse_cluster: str | None = None  # use this kind cluster as it is
    keep_cluster: bool = False  # leave the cluster up at the end
    logs_dir: Path = Path("reports/kind-logs")  # kind's logs when creation fails
