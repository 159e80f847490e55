"""Which Istio build a side runs, from its ``describe()["istio"]``; both must be one.

The local mesh names its istiod by the pinned ``istio.io/istio`` module version it was
compiled from (``1.31-dev (istio.io/istio v0.0.0-20260827124520-eed52ebb66ad)``); a
kind cluster names it by istiod's image tag, which the kit makes from the same pin
(``1.31-dev-eed52ebb66ad``, clusters/kind/kit/istio_images.py) and an official image
from the release (``1.24.0``). Both come down to the commit of a pseudo-version, or the
release's version: that is the build compared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from clusters.protocol import ClusterError

MODULE = re.compile(r"\(istio\.io/istio (v[^)\s]+)\)")
PSEUDO_VERSION = re.compile(r"v\d+\.\d+\.\d+-(?:.*\.)?\d{14}-([0-9a-f]{12})")
TAG_COMMIT = re.compile(r"-([0-9a-f]{12})$")
TAG_RELEASE = re.compile(r"(\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?)$")


def build_of(istio: str) -> str:
    """The commit (12 hex digits) or release version a ``describe()["istio"]`` names."""
    if module := MODULE.search(istio):
        version = module[1]
        pseudo = PSEUDO_VERSION.fullmatch(version)
        return pseudo[1] if pseudo else version.removeprefix("v")
    tag = istio.strip().rsplit(":", 1)[-1]
    if commit := TAG_COMMIT.search(tag):
        return commit[1]
    if release := TAG_RELEASE.search(tag):
        return release[1]
    return tag


def same_build(describes: Mapping[str, Mapping[str, str]]) -> str:
    """The build every side runs; ClusterError, one line, when they differ."""
    builds = {side: build_of(facts.get("istio", "unknown")) for side, facts in describes.items()}
    if len(set(builds.values())) != 1:
        sides = ", ".join(f"{side} {describes[side].get('istio')}" for side in builds)
        raise ClusterError(f"not comparing different Istio builds: {sides}")
    return next(iter(builds.values()))
