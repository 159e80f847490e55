"""The programs the page's commands call (kubectl, istioctl, helm), built from the kit.

``--literal`` runs the page's commands in bash as a reader would; on kind they must find
the kit's kubectl (the Kubernetes the cluster runs), its istioctl and a helm, so that
"helm refuses ``-x``" is an observation of the release and never "command not found".
``tools_dir`` links them into one directory of the cache, put first on PATH.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from clusters.kind.kit import istio_images, programs
from clusters.shared import cache
from clusters.shared.gobuild import ensure_go_program


def helm_binary(version: str = programs.HELM_VERSION, *, quiet: bool = False) -> Path:
    """The kit's ``helm`` (v3 from ``helm.sh/helm/v3``), built when missing."""
    return ensure_go_program(programs.helm(version), quiet=quiet) / "helm"


def kubectl_binary(version: str = programs.KUBERNETES_VERSION, *, quiet: bool = False) -> Path:
    """The kit's ``kubectl``, from the ``k8s.io/kubernetes`` build the node image has."""
    return ensure_go_program(programs.kubernetes(version), quiet=quiet) / "kubectl"


def binaries(istioctl: Path | None = None, *, quiet: bool = False) -> dict[str, Path]:
    """Each of TOOLS by name, built when missing; ``istioctl`` instead of the kit's (the
    release's own with ``--images pull``)."""
    return {
        "kubectl": kubectl_binary(quiet=quiet),
        "istioctl": istioctl or istio_images.istioctl(quiet=quiet),
        "helm": helm_binary(quiet=quiet),
    }


def tools_dir(found: dict[str, Path]) -> Path:
    """A directory of symlinks named after ``found``'s keys, in the cache and named by
    their targets (so concurrent runs share it and a rebuilt program gets a new one)."""
    spec = "\n".join(f"{name}={path.resolve()}" for name, path in sorted(found.items()))
    target = cache.cache_root() / "tools" / hashlib.sha256(spec.encode()).hexdigest()[:12]
    if not target.is_dir():
        with cache.locked("tools"):
            if not target.is_dir():  # not made by another run while we waited
                with cache.staging_dir(target) as staging:
                    for name, path in found.items():
                        os.symlink(path.resolve(), staging / name)
    return target
