"""The curl helpers: what is added to the page's command, and how output is read."""

import pytest

from steps import curl


def test_plain_curl_gets_a_status_code_on_stderr_and_no_progress_meter():
    argv = curl.prepare("curl http://httpbin.org/headers")
    assert argv[:2] == ("curl", "http://httpbin.org/headers")
    assert "--no-progress-meter" in argv
    write_out = argv[argv.index("--write-out") + 1]
    assert write_out.startswith("%{stderr}")
    assert curl.STATUS_MARK in write_out


def test_the_pages_own_write_out_is_kept():
    argv = curl.prepare('curl -o /dev/null -s -w "%{http_code}\\n" http://httpbin.org/delay/5')
    assert argv == (
        "curl",
        "-o",
        "/dev/null",
        "-s",
        "-w",
        "%{http_code}\\n",
        "http://httpbin.org/delay/5",
        "--no-progress-meter",
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["curl", "-w", "x"], True),
        (["curl", "-w%{http_code}"], True),
        (["curl", "-sw", "x"], True),
        (["curl", "--write-out", "x"], True),
        (["curl", "--write-out=x"], True),
        (["curl", "-I", "https://www.google.com"], False),
        (["curl", "--no-progress-meter"], False),
    ],
)
def test_has_write_out(argv, expected):
    assert curl.has_write_out(argv) is expected


def test_other_commands_run_as_written():
    assert curl.prepare("printf 'a b'") == ("printf", "a b")


def test_http_code_reads_the_last_mark():
    stderr = f"curl: (35) oops\n{curl.STATUS_MARK}000\n"
    assert curl.http_code(stderr) == 0
    assert curl.http_code(f"{curl.STATUS_MARK}502\n") == 502
    assert curl.http_code("nothing") is None
    assert curl.without_mark(stderr) == "curl: (35) oops"


def test_status_lines_are_the_pages_grep():
    stdout = "HTTP/2 200\r\ncontent-type: text/html\r\nx-note: via HTTP/1.1\r\n\r\n"
    assert curl.status_lines(stdout) == ["HTTP/2 200", "x-note: via HTTP/1.1"]
    assert curl.status_lines("") == []


def test_echoed_headers_parse_httpbins_json():
    body = '{"headers": {"Host": "httpbin.org", "X-Envoy-Decorator-Operation": "httpbin.org:80/*"}}'
    headers = curl.echoed_headers(body)
    assert curl.header_value(headers, "x-envoy-decorator-operation") == "httpbin.org:80/*"
    assert curl.header_value(headers, "X-Missing") is None


@pytest.mark.parametrize("body", ["", "<html>502</html>", "[1, 2]", '{"args": {}}'])
def test_echoed_headers_refuse_what_is_not_httpbins_answer(body):
    with pytest.raises(AssertionError):
        curl.echoed_headers(body)


def test_split_header():
    assert curl.split_header("X-Envoy-Decorator-Operation: httpbin.org:80/*") == (
        "X-Envoy-Decorator-Operation",
        "httpbin.org:80/*",
    )
    with pytest.raises(ValueError):
        curl.split_header("no colon")
