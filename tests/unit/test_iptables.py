"""The include ranges the local mesh hands Istio's injector, read as the injector reads them."""

from __future__ import annotations

import pytest

from clusters.local.iptables import validate_cidrs
from clusters.protocol import ClusterError


def test_cidrs_are_normalised_like_the_injector_reads_them() -> None:
    assert validate_cidrs([" 10.0.0.1/24"]) == ("10.0.0.0/24",)


def test_malformed_cidr_names_the_annotation() -> None:
    with pytest.raises(ClusterError, match=r'includeOutboundIPRanges: invalid CIDR "10\.0\.0/33"'):
        validate_cidrs(["10.0.0/33"])
