"""What the embedded mesh is started with: its options and default waits, apart from the
declaration (backend.py) so that the implementation can import them without a
cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from clusters.protocol import Waits

# The embedded mesh applies a change within milliseconds: 30 s only bounds a broken run.
WAITS = Waits(propagation=30.0, exec=60.0, ready=30.0)


@dataclass(frozen=True)
class LocalOptions:
    """How to bring the embedded mesh up."""

    waits: Waits = field(default_factory=lambda: WAITS)
    run_root: Path | None = None  # where run directories live (None: runstate's default)
    sites_file: Path | None = None  # the fake internet's sites (None: the mesh's own list)
    istio_version: str | None = None  # a pinned Istio build (None: the default)
    owner: str = "pytest:main"  # "cli": the egress-mesh CLI's run, kept until `down`
