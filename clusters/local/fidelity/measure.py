"""The measurement: one local mesh per control plane, every case through both, compared.

Both meshes run at once (each in its own namespaces, the same fake internet) and take
each case side by side in two threads, so a case costs the slower plane's time rather
than the sum: the meshes' work is waiting on Envoy, curl and istiod, not Python.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clusters.local import runstate
from clusters.local.fidelity.compare import PLANES, compare_case
from clusters.local.fidelity.corpus import SITES_FILE, Case
from clusters.local.fidelity.runner import run_case
from clusters.local.mesh import LocalCluster

Progress = Callable[[str, list[dict[str, str]]], None]


class Planes:
    """A mesh per control plane in a private run root under /run (the sidecar's uid must
    reach it). A mesh that failed during a case is replaced before the next one, so a
    wedged control plane costs one case, not every case after it."""

    def __init__(self, root: Path, istio_version: str | None) -> None:
        self.root = root
        self.istio_version = istio_version
        self.meshes: dict[str, LocalCluster] = {}

    def start(self, plane: str) -> LocalCluster:
        mesh = LocalCluster.up(
            run_root=self.root,
            sites_file=SITES_FILE,
            owner="fidelity",
            control_plane=plane,
            istio_version=self.istio_version if plane == "istiod" else None,
        )
        self.meshes[plane] = mesh
        return mesh

    def restart(self, plane: str) -> None:
        self.meshes.pop(plane).down()
        self.start(plane)

    def down(self) -> None:
        for mesh in self.meshes.values():
            mesh.down()
        self.meshes.clear()


@contextmanager
def meshes(istio_version: str | None = None) -> Iterator[Planes]:
    """Both planes' meshes, removed on the way out whatever happens."""
    root = Path(tempfile.mkdtemp(prefix="egc-fidelity-", dir="/run"))
    root.chmod(0o755)
    planes = Planes(root, istio_version)
    try:
        for plane in PLANES:
            planes.start(plane)
        yield planes
    finally:
        try:
            planes.down()
        finally:
            runstate.remove_private_root(root)


def measure(
    cases: Sequence[Case],
    *,
    istio_version: str | None = None,
    parallel: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``cases`` through both planes; the report as JSON-ready data."""
    started = time.perf_counter()
    results = []
    with meshes(istio_version) as planes:
        describe = {plane: dict(mesh.describe()) for plane, mesh in planes.meshes.items()}
        up_s = time.perf_counter() - started
        with ThreadPoolExecutor(max_workers=2 if parallel else 1) as pool:
            for case in cases:
                futures = {p: pool.submit(run_case, planes.meshes[p], case) for p in PLANES}
                outcomes = {plane: future.result() for plane, future in futures.items()}
                for plane, outcome in outcomes.items():
                    if outcome["error"]:
                        planes.restart(plane)
                differences = compare_case(outcomes["istiod"], outcomes["model"])
                if progress is not None:
                    progress(case.name, differences)
                results.append(
                    {
                        "name": case.name,
                        "description": case.description,
                        "file": str(case.path) if case.path else None,
                        "identical": not differences,
                        "aspects": sorted({d["aspect"] for d in differences}),
                        "differences": [d["line"] for d in differences],
                        "outcomes": outcomes,
                    }
                )
    identical = sum(result["identical"] for result in results)
    return {
        "summary": f"model vs istiod: {identical}/{len(results)} identical",
        "identical": identical,
        "cases": len(results),
        "control_planes": describe,
        "mesh_up_s": round(up_s, 3),
        "elapsed_s": round(time.perf_counter() - started, 3),
        "results": results,
    }
