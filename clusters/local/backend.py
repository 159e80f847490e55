"""``local``: the embedded mesh (network namespaces, real Envoy, Istio's own istiod), as
a backend of the registry. The mesh itself is clusters/local/mesh.py, imported when it
starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clusters.local.options import WAITS, LocalOptions
from clusters.local.prerequisites import check_prerequisites
from clusters.plugin import Backend, Common, Option
from clusters.protocol import Cluster
from clusters.shared.gobuild import DEFAULT_ISTIO_VERSION, istio_build
from clusters.shared.sites import load_sites

__all__ = ["BACKEND", "WAITS", "LocalOptions"]


def _build(values: Mapping[str, Any], common: Common) -> LocalOptions:
    return LocalOptions(
        waits=common.waits(WAITS),
        sites_file=values["local_sites"],
        istio_version=values["istio_version"],
        owner=f"pytest:{common.worker}",
    )


def _check(options: LocalOptions) -> None:
    check_prerequisites()
    istio_build(options.istio_version)  # a pinned build, or one line naming them
    load_sites(options.sites_file)  # readable and well-formed, or one line naming the entry


def _prepare(options: LocalOptions) -> None:
    """httpbin loads (a process per httpbin endpoint) while the run collects."""
    from clusters.local import httpbin_preload

    sites = load_sites(options.sites_file)
    httpbin_preload.preload(sum(e.app == "httpbin" for site in sites for e in site.serve))


def _start(options: LocalOptions) -> Cluster:
    from clusters.local.mesh import LocalCluster

    return LocalCluster.up(
        run_root=options.run_root,
        sites_file=options.sites_file,
        owner=options.owner,
        istio_version=options.istio_version,
        ready_timeout=options.waits.ready,
    )


BACKEND = Backend(
    name="local",
    description="the embedded mesh: network namespaces, real Envoy, Istio's own istiod",
    options_type=LocalOptions,
    waits=WAITS,
    options=(
        Option(
            "--local-sites",
            "local backend: the fake internet's sites (default: the backend's own list)",
            {"type": Path, "metavar": "FILE", "default": None},
        ),
        Option(
            "--istio-version",
            "local and kind backends: which pinned Istio build to run "
            f"(default {DEFAULT_ISTIO_VERSION}; see clusters/local/istiod/versions)",
            {"metavar": "NAME", "default": None},
        ),
    ),
    build=_build,
    start=_start,
    check=_check,
    prepare=_prepare,
)
