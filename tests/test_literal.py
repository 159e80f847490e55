"""--literal's judgement of a page command run as written: each verdict can happen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.literal import DIFFERED, FAILED, MATCHED, NOT_RUN, LiteralShell, compare


@pytest.fixture
def shell(tmp_path: Path) -> LiteralShell:
    return LiteralShell(dict(os.environ), tmp_path)


def test_kubectl_apply_actions_count_as_one() -> None:
    printed = "serviceentry.networking.istio.io/httpbin-ext unchanged\n"
    assert compare("serviceentry.networking.istio.io/httpbin-ext created", printed) is None


def test_a_missing_line_is_named() -> None:
    assert compare("HTTP/1.1 200 OK\nserver: envoy", "HTTP/1.1 200 OK\n") == "server: envoy"


@pytest.mark.parametrize(
    ("command", "expected", "verdict"),
    [
        ('echo "HTTP/1.1   200 OK"; echo "$SOURCE_POD"', "HTTP/1.1 200 OK\nsleep-1", MATCHED),
        ("echo 'HTTP/1.1 502 Bad Gateway'", "HTTP/1.1 200 OK", DIFFERED),
        ("echo nope >&2; exit 35", None, FAILED),
        ("false | cat", None, FAILED),  # pipefail: a failing kubectl before a pipe counts
        ("kubectl delete serviceentry httpbin-ext", None, NOT_RUN),
        ("kubectl get configmap istio -o yaml | sed s/a/b/ | kubectl replace -f -", None, NOT_RUN),
        (
            "helm template install/kubernetes/helm/istio <the flags you used> | kubectl apply -f -",
            None,
            NOT_RUN,
        ),
        ("ls samples/sleep/sleep.yaml", None, FAILED),  # the shell's workdir is the fixture's
        ('| grep "HTTP/"', None, NOT_RUN),  # a fragment the page pipes into
        (
            "echo 'command terminated with exit code 35' >&2; exit 35",
            "command terminated with exit code 35",
            MATCHED,
        ),  # a failure the page shows
        ("exit 35", "command terminated with exit code 56", FAILED),
    ],
)
def test_each_verdict(
    shell: LiteralShell, command: str, expected: str | None, verdict: str
) -> None:
    assert shell.run(command, expected, "sleep-1").verdict == verdict


def test_the_samples_are_where_the_page_expects_them(tmp_path: Path) -> None:
    (tmp_path / "samples" / "sleep").mkdir(parents=True)
    (tmp_path / "samples" / "sleep" / "sleep.yaml").write_text("kind: Deployment\n")
    shell = LiteralShell(dict(os.environ), tmp_path)
    assert shell.run("cat samples/sleep/sleep.yaml", "kind: Deployment", None).verdict == MATCHED


def test_kubectl_apply_runs_as_a_server_side_dry_run(shell: LiteralShell, tmp_path: Path) -> None:
    """A stream with a refused document must not leave its valid one behind."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "kubectl").write_text('#!/bin/sh\necho "kubectl $*"\n')
    (fake / "kubectl").chmod(0o755)
    shell.env["PATH"] = f"{fake}:{shell.env['PATH']}"
    result = shell.run("kubectl apply -f - <<EOF\nkind: X\nEOF", None, None)
    assert "kubectl apply --dry-run=server -f -" in result.output
