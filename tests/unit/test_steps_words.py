"""The vocabulary's readings of words in the feature files (no mesh involved)."""

import pytest

from clusters.protocol import AccessLogEntry, Injection, OutboundTrafficPolicy
from steps.config import kind_of, mode_of
from steps.platform import PAGE_PLATFORMS, page_platform, split_ranges
from steps.pod import injection_of, same_ranges
from steps.sidecar_log import as_logged, field_name
from steps.state import ScenarioState, unescape_quotes


def test_modes_and_kinds():
    assert mode_of("REGISTRY_ONLY") is OutboundTrafficPolicy.REGISTRY_ONLY
    with pytest.raises(ValueError, match="ALLOW_ANY, REGISTRY_ONLY"):
        mode_of("BLOCK")
    assert kind_of("ServiceEntry") == "ServiceEntry"
    assert kind_of("VirtualService") == "VirtualService"
    with pytest.raises(ValueError):
        kind_of("Gateway")


def test_injection_words():
    assert injection_of("automatic") is Injection.AUTOMATIC
    assert injection_of("manually") is Injection.MANUAL
    with pytest.raises(ValueError):
        injection_of("magic")


def test_ranges_compare_as_networks():
    assert same_ranges(("10.0.0.1/24",), ["10.0.0.0/24"])
    assert not same_ranges(("10.0.0.0/24",), ["10.0.0.0/24", "10.1.0.0/16"])


def test_page_ranges_are_read_with_helms_escaped_commas():
    assert split_ranges("172.30.0.0/16\\,172.21.0.0/16\\,10.10.10.0/24") == [
        "172.30.0.0/16",
        "172.21.0.0/16",
        "10.10.10.0/24",
    ]


def test_every_backend_platform_maps_to_one_page_platform():
    seen = [value for values in PAGE_PLATFORMS.values() for value in values]
    assert len(seen) == len(set(seen))
    assert "local" in page_platform("Minikube, Docker for Desktop or bare metal")
    with pytest.raises(ValueError, match="no platform"):
        page_platform("OpenShift")


def _entry(**overrides):
    values = dict.fromkeys(
        [
            "start_time",
            "method",
            "path",
            "protocol",
            "response_flags",
            "response_code_details",
            "connection_termination_details",
            "upstream_transport_failure_reason",
            "duration_ms",
            "upstream_service_time",
            "x_forwarded_for",
            "user_agent",
            "request_id",
            "authority",
            "upstream_host",
            "upstream_cluster",
            "upstream_local_address",
            "downstream_local_address",
            "downstream_remote_address",
            "requested_server_name",
            "route_name",
        ]
    )
    values.update(response_code=0, bytes_received=0, bytes_sent=0, start_time="t")
    values.update(overrides)
    return AccessLogEntry(**values)


def test_log_fields_are_named_as_sentences_say_them():
    assert field_name("upstream cluster") == "upstream_cluster"
    assert field_name("Requested  Server Name") == "requested_server_name"
    with pytest.raises(ValueError, match="no field"):
        field_name("destinationServiceHost")
    with pytest.raises(ValueError):
        field_name("raw")


def test_log_fields_compare_as_the_log_prints_them():
    entry = _entry(method=None, response_code=200, upstream_cluster="outbound|80||httpbin.org")
    assert as_logged(entry, "method") == "-"
    assert as_logged(entry, "response_code") == "200"
    assert as_logged(entry, "upstream_cluster") == "outbound|80||httpbin.org"


def test_state_says_what_is_missing():
    state = ScenarioState()
    with pytest.raises(AssertionError, match="no command"):
        _ = state.last
    with pytest.raises(AssertionError, match="no sidecar log entry"):
        _ = state.entry


def test_unescape_quotes():
    assert unescape_quotes('spec.resolution: Unsupported value: \\"DSN\\"') == (
        'spec.resolution: Unsupported value: "DSN"'
    )
