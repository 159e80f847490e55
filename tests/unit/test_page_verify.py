"""The comparisons of a printed output with the page's: each mode can match and fail."""

from __future__ import annotations

import pytest

from fixtures.page.verify import Mode, compare, default_mode, like_key

HEADERS_PAGE = """{
  "headers": {
  "Accept": "*/*",
  "Host": "httpbin.org",
  ...
  "X-Envoy-Decorator-Operation": "httpbin.org:80/*",
  }
}"""
HEADERS_PRINTED = """{
  "headers": {
    "Accept": "*/*",
    "Host": "httpbin.org",
    "X-B3-Sampled": "0",
    "X-Envoy-Attempt-Count": "1",
    "X-Envoy-Decorator-Operation": "httpbin.org:80/*",
  }
}"""
WHEN_PAGE = "35.173.6.94:80 2019-01-24T12:17:11.640Z"
WHEN_PRINTED = "198.51.100.9:80 2026-12-03T10:00:00Z"
TIME_PAGE = "200\n\nreal    0m5.024s\nuser    0m0.003s\nsys     0m0.003s"
TIME_BUSYBOX = "200\n\nreal\t0m 5.01s\nuser\t0m 0.00s\nsys\t0m 0.00s\n"


@pytest.mark.parametrize(
    ("mode", "expected", "printed", "matched"),
    [
        (Mode.SAME, "HTTP/2 200", "HTTP/2   200\n", True),
        (Mode.SAME, "HTTP/2 200", "HTTP/2 200\nmore", False),
        (Mode.SAME, "sleep-88ddbcfdd-rgk77", "sleep-5f8b9c7d6-x2lqz", False),
        (Mode.LIKE, "sleep-88ddbcfdd-rgk77", "sleep-5f8b9c7d6-x2lqz", True),
        (Mode.LIKE, WHEN_PAGE, WHEN_PRINTED, True),
        (Mode.LIKE, TIME_PAGE, TIME_BUSYBOX, True),
        (Mode.LIKE, "HTTP/2 200", "HTTP/2 503", False),
        (Mode.CONTAINS, "b\nd", "a\nb\nc\nd\n", True),
        (Mode.CONTAINS, "d\nb", "a\nb\nc\nd\n", False),
        (Mode.FIRST_LINE, "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\nserver: envoy", True),
        (Mode.FIRST_LINE, "HTTP/1.1 200 OK", "HTTP/1.1 502 Bad Gateway", False),
        (Mode.ELIDED, HEADERS_PAGE, HEADERS_PRINTED, True),
        (Mode.ELIDED, HEADERS_PAGE, HEADERS_PRINTED.replace("Decorator", "Peer"), False),
        (Mode.ELIDED, "a\n...", "a\n", True),
        (Mode.ELIDED, "a\n...\nz", "b\nz", False),
    ],
)  # fmt: skip
def test_each_mode_matches_and_fails(
    mode: Mode, expected: str, printed: str, matched: bool
) -> None:
    comparison = compare(expected, printed, mode)
    assert comparison.matched is matched, comparison
    assert bool(comparison.diff) is not matched


def test_the_terminal_warning_is_not_output() -> None:
    printed = (
        "Unable to use a TTY - input is not a terminal or the right kind of file\nHTTP/2 200\n"
    )
    assert compare("HTTP/2 200", printed, Mode.SAME).matched


def test_a_difference_is_named_by_its_line() -> None:
    comparison = compare("HTTP/2 200\nHTTP/2 200", "HTTP/2 200\nHTTP/2 503", Mode.LIKE)
    assert comparison.detail == "line 2: the page shows 'HTTP/2 200', it printed 'HTTP/2 503'"
    assert "-HTTP/2 200\n+HTTP/2 503" in comparison.diff


def test_the_default_mode_follows_the_page() -> None:
    assert default_mode(HEADERS_PAGE) is Mode.ELIDED
    assert default_mode("HTTP/2 200") is Mode.LIKE


def test_like_keeps_what_does_not_vary() -> None:
    assert like_key('"User-Agent": "curl/7.60.0"') == '"User-Agent": "curl/7.60.0"'
    assert (
        like_key("outbound|80||httpbin.org 172.30.109.82:55314") == "outbound|80||httpbin.org <ip>"
    )
