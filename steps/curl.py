"""Running the page's curl commands and reading what they print: pure functions.

A step runs the page's curl with the page's own arguments, so stdout is what the page
shows. Two arguments are added, both visible in the report's "actually ran":

* ``--no-progress-meter`` (curl 7.67+): the page runs ``kubectl exec -it``, whose TTY
  keeps curl's progress meter off; without a TTY curl would print it on stderr.
* When the page's arguments print no status code (plain ``curl URL``), one is added on
  stderr with ``--write-out '%{stderr}…'`` (curl 7.63+), which leaves stdout untouched;
  a command with its own ``-w`` keeps it, since curl honours only the last one.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

STATUS_MARK = "egress-conformance:http_code="
_STATUS_RE = re.compile(re.escape(STATUS_MARK) + r"(\d{3})")
_WRITE_OUT_SHORT = re.compile(r"-[A-Za-z]*w.*")  # -w, -w%{…}, -sw (w takes the value)


def has_write_out(argv: Sequence[str]) -> bool:
    return any(
        arg == "--write-out" or arg.startswith("--write-out=") or _WRITE_OUT_SHORT.fullmatch(arg)
        for arg in argv
        if arg.startswith("-")
    )


def prepare(command: str) -> tuple[str, ...]:
    """The argv to run for a command of the page (shell quoting as the page writes it)."""
    argv = shlex.split(command)
    if not argv or argv[0] != "curl":
        return tuple(argv)
    argv.append("--no-progress-meter")
    if not has_write_out(argv):
        argv += ["--write-out", f"%{{stderr}}\\n{STATUS_MARK}%{{http_code}}\\n"]
    return tuple(argv)


def http_code(stderr: str) -> int | None:
    """The status code that :func:`prepare`'s write-out put on stderr (0 for no response)."""
    found = _STATUS_RE.findall(stderr)
    return int(found[-1]) if found else None


def without_mark(stderr: str) -> str:
    """Stderr as the page's reader would see it (the suite's status line removed)."""
    return "\n".join(line for line in stderr.splitlines() if STATUS_MARK not in line).strip()


def status_lines(stdout: str) -> list[str]:
    """The page's ``| grep "HTTP/"``: every line that contains ``HTTP/``."""
    return [line.strip() for line in stdout.splitlines() if "HTTP/" in line]


def echoed_headers(stdout: str) -> dict[str, str]:
    """The request headers httpbin's ``/headers`` echoed back, as the JSON body has them."""
    try:
        body: Any = json.loads(stdout)
    except json.JSONDecodeError as error:
        first = stdout.strip().splitlines()[:1]
        raise AssertionError(
            f"the response body is not JSON ({error.msg}): {first[0][:120] if first else '(empty)'}"
        ) from None
    headers = body.get("headers") if isinstance(body, dict) else None
    if not isinstance(headers, dict):
        raise AssertionError('the JSON body has no "headers" object (is this httpbin\'s /headers?)')
    return {str(name): str(value) for name, value in headers.items()}


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, its name compared as HTTP does (case-insensitively)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def split_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` as the page prints headers, into name and value."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f'expected a header as "Name: value", got {text!r}')
    return name.strip(), value.strip()
