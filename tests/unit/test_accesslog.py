"""Reading Istio's default text access log back into entries."""

import pytest

from clusters.istio.accesslog import (
    ISTIO_TEXT_FORMAT,
    compile_format,
    parse_access_log,
    parse_access_log_line,
)

HTTP_LINE = (
    '[2026-11-25T10:00:00.123Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 1234 12 11 '
    '"-" "curl/8.5.0" "5d3c9a1e-2f4b-4c1d-9e8f-0a1b2c3d4e5f" "httpbin.org" "203.0.113.10:80" '
    "outbound|80||httpbin.org 198.51.100.10:41234 203.0.113.10:80 198.51.100.10:41230 - default"
)
TCP_LINE = (
    '[2026-11-25T10:00:01.000Z] "- - -" 0 - - - "-" 785 5432 25 - "-" "-" "-" "-" '
    '"203.0.113.11:443" outbound|443||www.google.com 198.51.100.10:40000 203.0.113.11:443 '
    "198.51.100.10:39998 www.google.com -"
)
TIMEOUT_LINE = (
    '[2026-11-25T10:00:05.000Z] "GET /delay/5 HTTP/1.1" 504 UT response_timeout - "-" 0 24 '
    '3001 - "-" "curl/8.5.0" "a1b2" "httpbin.org" "203.0.113.10:80" outbound|80||httpbin.org '
    "198.51.100.10:41300 203.0.113.10:80 198.51.100.10:41296 - -"
)
BLACKHOLE_LINE = (
    '[2026-11-25T10:00:06.000Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" '
    "BlackHoleCluster - 142.250.72.36:443 198.51.100.10:40010 - -"
)


def test_http_line() -> None:
    entry = parse_access_log_line(HTTP_LINE)

    assert entry is not None
    assert (entry.method, entry.path, entry.protocol) == ("GET", "/headers", "HTTP/1.1")
    assert (entry.response_code, entry.response_code_details) == (200, "via_upstream")
    assert (entry.bytes_received, entry.bytes_sent, entry.duration_ms) == (0, 1234, 12)
    assert entry.upstream_service_time == "11"
    assert entry.user_agent == "curl/8.5.0"
    assert entry.request_id == "5d3c9a1e-2f4b-4c1d-9e8f-0a1b2c3d4e5f"
    assert entry.authority == "httpbin.org"
    assert entry.upstream_host == "203.0.113.10:80"
    assert entry.upstream_cluster == "outbound|80||httpbin.org"
    assert entry.upstream_local_address == "198.51.100.10:41234"
    assert entry.downstream_local_address == "203.0.113.10:80"
    assert entry.downstream_remote_address == "198.51.100.10:41230"
    assert entry.route_name == "default"
    assert entry.raw == HTTP_LINE


def test_dashes_become_none() -> None:
    entry = parse_access_log_line(HTTP_LINE)

    assert entry is not None
    assert entry.response_flags is None
    assert entry.connection_termination_details is None
    assert entry.upstream_transport_failure_reason is None
    assert entry.x_forwarded_for is None
    assert entry.requested_server_name is None


def test_tcp_line_has_no_request() -> None:
    entry = parse_access_log_line(TCP_LINE)

    assert entry is not None
    assert (entry.method, entry.path, entry.protocol) == (None, None, None)
    assert entry.response_code == 0
    assert (entry.bytes_received, entry.bytes_sent, entry.duration_ms) == (785, 5432, 25)
    assert entry.upstream_cluster == "outbound|443||www.google.com"
    assert entry.requested_server_name == "www.google.com"
    assert entry.route_name is None


def test_timeout_line() -> None:
    entry = parse_access_log_line(TIMEOUT_LINE)

    assert entry is not None
    assert (entry.response_code, entry.response_flags) == (504, "UT")
    assert entry.response_code_details == "response_timeout"
    assert entry.upstream_service_time is None
    assert entry.duration_ms == 3001


def test_blackhole_line() -> None:
    entry = parse_access_log_line(BLACKHOLE_LINE)

    assert entry is not None
    assert (entry.response_flags, entry.upstream_cluster) == ("UH", "BlackHoleCluster")
    assert entry.upstream_host is None
    assert entry.downstream_local_address == "142.250.72.36:443"


def test_quoted_fields_keep_spaces_and_quotes() -> None:
    user_agent = 'Mozilla/5.0 (X11; Linux x86_64) "quoted" Gecko/20100101'
    line = HTTP_LINE.replace('"curl/8.5.0"', f'"{user_agent}"')
    line = line.replace('0 1234 12 11 "-"', '0 1234 12 11 "10.0.0.1, 10.0.0.2"')

    entry = parse_access_log_line(line)

    assert entry is not None
    assert entry.user_agent == user_agent
    assert entry.x_forwarded_for == "10.0.0.1, 10.0.0.2"
    assert entry.request_id == "5d3c9a1e-2f4b-4c1d-9e8f-0a1b2c3d4e5f"


def test_transport_failure_reason_with_spaces() -> None:
    reason = "TLS error: 268435581:SSL routines:CERTIFICATE_VERIFY_FAILED"
    line = HTTP_LINE.replace(
        'via_upstream - "-"', f'upstream_reset_before_response_started - "{reason}"'
    )

    entry = parse_access_log_line(line)

    assert entry is not None
    assert entry.upstream_transport_failure_reason == reason
    assert entry.response_code_details == "upstream_reset_before_response_started"


def test_trailing_newline_is_not_part_of_the_entry() -> None:
    entry = parse_access_log_line(HTTP_LINE + "\r\n")

    assert entry is not None
    assert entry.raw == HTTP_LINE
    assert entry.route_name == "default"


def test_old_format_with_upstream_cluster() -> None:
    old_format = ISTIO_TEXT_FORMAT.replace("%UPSTREAM_CLUSTER_RAW%", "%UPSTREAM_CLUSTER%")
    pattern = compile_format(old_format)

    match = pattern.fullmatch(HTTP_LINE)

    assert match is not None
    assert match["upstream_cluster"] == "outbound|80||httpbin.org"
    assert pattern.groupindex == compile_format().groupindex


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "2026-11-25T10:00:00.123456Z\tinfo\tEnvoy proxy is ready",
        "[2026-11-25 10:00:00.123][15][info][main] [source/server/server.cc:932] starting",
        '2026-11-25T10:00:00Z warn envoy config gRPC config for type.googleapis.com rejected: "x"',
        HTTP_LINE.replace(" 200 ", " abc "),  # the response code must be a number
        HTTP_LINE.rsplit(" ", 1)[0],  # a field short
        HTTP_LINE + " extra",  # a field too many
    ],
)
def test_other_lines_are_not_entries(line: str) -> None:
    assert parse_access_log_line(line) is None


def test_parse_access_log_keeps_entries_in_order() -> None:
    lines = [
        "2026-11-25T10:00:00.000000Z\tinfo\tEnvoy proxy is ready",
        HTTP_LINE,
        "",
        TCP_LINE,
    ]

    entries = parse_access_log(lines)

    assert [entry.upstream_cluster for entry in entries] == [
        "outbound|80||httpbin.org",
        "outbound|443||www.google.com",
    ]


def test_parse_access_log_splits_text() -> None:
    text = f"{HTTP_LINE}\nEnvoy's own chatter\n{TIMEOUT_LINE}\n"

    assert [entry.response_code for entry in parse_access_log(text)] == [200, 504]
