"""The interception rules: istio-iptables' chains, and what include ranges change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clusters.local.iptables import InterceptionConfig, nat_rules, validate_cidrs
from clusters.protocol import ClusterError

GOLDEN = Path(__file__).parent / "golden" / "iptables"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"  # regenerate after a reviewed change


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("intercept-all", InterceptionConfig()),
        (
            "include-cluster-ranges",
            InterceptionConfig(include_outbound_ip_ranges=["198.51.100.0/25", "198.51.100.128/25"]),
        ),
        ("include-none", InterceptionConfig(include_outbound_ip_ranges=[])),
    ],
)
def test_rules_match_golden(name: str, config: InterceptionConfig) -> None:
    path = GOLDEN / f"{name}.rules"
    rules = nat_rules(config)
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rules)
    assert rules == path.read_text()


def test_default_redirects_every_destination_to_15001() -> None:
    rules = nat_rules(InterceptionConfig()).splitlines()
    assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" in rules
    assert "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in rules
    assert "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006" in rules


def test_proxy_traffic_is_never_redirected_back_to_itself() -> None:
    rules = nat_rules(InterceptionConfig()).splitlines()
    owner_return = rules.index("-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN")
    redirect = rules.index("-A ISTIO_OUTPUT -j ISTIO_REDIRECT")
    assert owner_return < redirect


def test_include_ranges_redirect_only_those_and_return_the_rest() -> None:
    rules = nat_rules(InterceptionConfig(include_outbound_ip_ranges=["10.96.0.0/12"])).splitlines()
    assert "-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT" in rules
    assert rules[rules.index("-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT") + 1] == (
        "-A ISTIO_OUTPUT -j RETURN"
    )
    assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" not in rules


def test_exclude_ranges_return_before_redirect() -> None:
    rules = nat_rules(InterceptionConfig(exclude_outbound_ip_ranges=["203.0.113.0/24"]))
    lines = rules.splitlines()
    assert lines.index("-A ISTIO_OUTPUT -d 203.0.113.0/24 -j RETURN") < lines.index(
        "-A ISTIO_OUTPUT -j ISTIO_REDIRECT"
    )


def test_cidrs_are_normalised_like_the_injector_reads_them() -> None:
    assert validate_cidrs([" 10.0.0.1/24"]) == ("10.0.0.0/24",)


def test_malformed_cidr_names_the_annotation() -> None:
    with pytest.raises(ClusterError, match=r'includeOutboundIPRanges: invalid CIDR "10\.0\.0/33"'):
        validate_cidrs(["10.0.0/33"])
