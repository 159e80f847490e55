"""Istio's default text access log, read back into :class:`AccessLogEntry` values.

The pattern is built from the format string itself (the one ``meshConfig.accessLogFile``
selects, ``meshConfig.accessLogEncoding: TEXT``), so a field added to or moved in the
format changes one table rather than a hand-written regex. Releases before 1.x wrote
``%UPSTREAM_CLUSTER%`` where newer ones write ``%UPSTREAM_CLUSTER_RAW%``; both sit at the
same position and parse alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from clusters.protocol import AccessLogEntry

ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% "
    '%CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" '
    "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "
    '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" '
    '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)

# The text format pilot wrote before meshConfig gained its own default (Istio 1.1, the
# release the page's log lines come from): fewer fields, %UPSTREAM_CLUSTER%, no route.
ISTIO_1_1_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME%\n"
)

# Envoy command operator -> AccessLogEntry field.
FIELDS = {
    "START_TIME": "start_time",
    "REQ(:METHOD)": "method",
    "REQ(X-ENVOY-ORIGINAL-PATH?:PATH)": "path",
    "PROTOCOL": "protocol",
    "RESPONSE_CODE": "response_code",
    "RESPONSE_FLAGS": "response_flags",
    "RESPONSE_CODE_DETAILS": "response_code_details",
    "CONNECTION_TERMINATION_DETAILS": "connection_termination_details",
    "UPSTREAM_TRANSPORT_FAILURE_REASON": "upstream_transport_failure_reason",
    "BYTES_RECEIVED": "bytes_received",
    "BYTES_SENT": "bytes_sent",
    "DURATION": "duration_ms",
    "RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)": "upstream_service_time",
    "REQ(X-FORWARDED-FOR)": "x_forwarded_for",
    "REQ(USER-AGENT)": "user_agent",
    "REQ(X-REQUEST-ID)": "request_id",
    "REQ(:AUTHORITY)": "authority",
    "UPSTREAM_HOST": "upstream_host",
    "UPSTREAM_CLUSTER_RAW": "upstream_cluster",
    "UPSTREAM_CLUSTER": "upstream_cluster",
    "UPSTREAM_LOCAL_ADDRESS": "upstream_local_address",
    "DOWNSTREAM_LOCAL_ADDRESS": "downstream_local_address",
    "DOWNSTREAM_REMOTE_ADDRESS": "downstream_remote_address",
    "REQUESTED_SERVER_NAME": "requested_server_name",
    "ROUTE_NAME": "route_name",
}
# Always numbers (TCP lines say 0, never "-"); DURATION may be "-".
COUNTS = frozenset({"response_code", "bytes_received", "bytes_sent"})
NUMBERS = COUNTS | {"duration_ms"}

_OPERATOR = re.compile(r"%([A-Z_]+(?:\([^)]*\))?(?::\d+)?)%")


def compile_format(log_format: str = ISTIO_TEXT_FORMAT) -> re.Pattern[str]:
    """A regex with one named group per command operator of ``log_format``.

    An operator alone between double quotes may hold spaces and quotes (a user agent), so
    it takes the shortest text the rest of the line agrees with; any other is one token.
    """
    pattern, position = [], 0
    for match in _OPERATOR.finditer(log_format):
        literal = log_format[position : match.start()]
        field = FIELDS[match.group(1)]
        if field in COUNTS:
            value = r"\d+"
        elif field in NUMBERS:
            value = r"\d+|-"
        elif literal.endswith('"') and log_format.startswith('"', match.end()):
            value = ".*?"
        else:
            value = r"\S+"
        pattern.append(re.escape(literal) + f"(?P<{field}>{value})")
        position = match.end()
    pattern.append(re.escape(log_format[position:].rstrip("\n")))
    return re.compile("".join(pattern))


PATTERN = compile_format()
# Today's format first; a line a page shows may be in an older release's.
PATTERNS = (PATTERN, compile_format(ISTIO_1_1_TEXT_FORMAT))
ENTRY_FIELDS = tuple(dict.fromkeys(FIELDS.values()))


def parse_access_log_line(line: str) -> AccessLogEntry | None:
    """The entry on ``line``, or None for anything else (Envoy's own log, blank lines).
    A field the line's format lacks is None."""
    raw = line.rstrip("\r\n")
    match = next((m for pattern in PATTERNS if (m := pattern.fullmatch(raw))), None)
    if match is None:
        return None
    values: dict[str, Any] = dict.fromkeys(ENTRY_FIELDS)
    values.update(
        (name, None if text == "-" else int(text) if name in NUMBERS else text)
        for name, text in match.groupdict().items()
    )
    return AccessLogEntry(**values, raw=raw)


def parse_access_log(lines: Iterable[str] | str) -> list[AccessLogEntry]:
    """Every access-log entry among ``lines`` (a log's text is split into lines first)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    return [entry for entry in map(parse_access_log_line, lines) if entry is not None]


# What a reader checks in an entry the page shows: the request and where it went. Bytes,
# durations, addresses and ids differ on every run.
REQUEST_FIELDS = (
    "method",
    "path",
    "protocol",
    "response_code",
    "authority",
    "upstream_cluster",
    "requested_server_name",
)


def is_todays_format(line: str) -> bool:
    """Whether the line is an entry in the format today's Istio writes (not an older
    release's, such as the page's Istio 1.1 lines)."""
    return PATTERN.fullmatch(line.strip()) is not None


def request_of(entry: AccessLogEntry) -> tuple[object, ...]:
    return tuple(getattr(entry, name) for name in REQUEST_FIELDS)


def entry_like(expected: str, printed: str) -> AccessLogEntry | None:
    """The printed entry with the same request as the page's entry ``expected`` (its one
    line), in the same format; None when there is none."""
    page = parse_access_log_line(expected.strip())
    if page is None:
        return None
    todays = is_todays_format(expected)
    return next(
        (
            entry
            for entry in parse_access_log(printed)
            if request_of(entry) == request_of(page) and is_todays_format(entry.raw) == todays
        ),
        None,
    )


def same_request_newer_format(expected: str, printed: str) -> AccessLogEntry | None:
    """The printed entry in today's format with the request of the page's older-format
    entry: the page's line is stale only in its format. None otherwise."""
    page = parse_access_log_line(expected.strip())
    if page is None or is_todays_format(expected):
        return None
    return next(
        (
            entry
            for entry in parse_access_log(printed)
            if is_todays_format(entry.raw) and request_of(entry) == request_of(page)
        ),
        None,
    )
