"""The page patch: what a run against a release proposes for the page's markdown, and that
``git apply`` (and ``patch -p1``) take it.

The page is the seed, read at test time; the expected lines are built from its text here,
so no test carries its prose. The outputs below are recorded as a kind cluster with
Istio 1.30 and kubectl 1.34 prints them (their shape, not their exact bytes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.page import parse_page, parts
from fixtures.page.patch import Proposal, header_path, proposed_output, rewrite, unified_diff
from fixtures.page.verify import compare
from tests.seed_page import seed_text

TTY = "Unable to use a TTY - input is not a terminal or the right kind of file\n"
# curl http://httpbin.org/headers through the sidecar: httpbin's indentation, headers the
# page elides, no "Connection", today's curl.
HEADERS = TTY + (
    "{\n"
    '  "headers": {\n'
    '    "Accept": "*/*",\n'
    '    "Host": "httpbin.org",\n'
    '    "User-Agent": "curl/8.14.1",\n'
    '    "X-Amzn-Trace-Id": "Root=1-68a1c2d4-0b3e5f7a9c1d2e4f6a8b0c1d",\n'
    '    "X-Envoy-Attempt-Count": "1",\n'
    '    "X-Envoy-Decorator-Operation": "httpbin.org:80/*"\n'
    "  }\n"
    "}\n"
)
# Envoy's access log line in Istio's default TEXT format.
LOG_TIME = "2025-08-14T09:12:31.482Z"
LOG_ID = "5b0c6c3e-2f0a-4f6e-8a1d-7e4b1f2c3d4e"
LOG = (
    f'[{LOG_TIME}] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 558 412 411 "-" '
    f'"curl/8.14.1" "{LOG_ID}" "httpbin.org" "54.243.83.200:80" outbound|80||httpbin.org '
    "10.244.0.7:47392 54.243.83.200:80 10.244.0.7:47380 - default\n"
)
ISTIOCTL = (
    "istioctl install <the flags you used to install Istio> "
    "--set meshConfig.outboundTrafficPolicy.mode=ALLOW_ANY"
)
STATUS = TTY + "HTTP/2 200 \r\n"  # curl -I's status line, CRLF and all, through grep
REPLACED = "configmap/istio replaced\n"

HEADERS_LINE, LOG_LINE, GREP_LINE, CURLS_LINE, REPLACE_LINE = 149, 167, 59, 78, 107
PAGE_PATH = "content/zh/docs/tasks/traffic-management/egress-control/index.md"


@pytest.fixture(scope="module")
def seed() -> str:
    return seed_text()


def line(text: str, number: int) -> str:
    return text.split("\n")[number - 1]


def changed(diff: str) -> tuple[list[str], list[str]]:
    """The patch's removed and added lines, without their marks (after its 3 header lines)."""
    body = diff.split("\n")[3:]
    return [r[1:] for r in body if r.startswith("-")], [r[1:] for r in body if r.startswith("+")]


def hunks(diff: str) -> list[str]:
    return [row for row in diff.split("\n") if row.startswith("@@")]


def patch_of(page: str, *proposals: Proposal) -> str:
    return unified_diff(page, rewrite(page, proposals), PAGE_PATH)


def recorded() -> list[Proposal]:
    return [
        Proposal(HEADERS_LINE, 1, HEADERS, None, "httpbin prints other headers"),
        Proposal(LOG_LINE, 1, LOG, None, "Envoy's access log format"),
        Proposal(GREP_LINE, 1, "", None, "the mesh config is not in a configmap"),
        Proposal(GREP_LINE, 1, None, ISTIOCTL, "istioctl sets the mesh config"),
        Proposal(CURLS_LINE, 1, STATUS, None, "as the page shows"),
        Proposal(CURLS_LINE, 2, STATUS, None, "as the page shows"),
        Proposal(REPLACE_LINE, 1, REPLACED, None, "kubectl names the object kind/name"),
    ]


# --- the recorded outputs ----------------------------------------------------------------


def test_headers_keep_the_gap_and_change_the_curl_line(seed: str) -> None:
    diff = patch_of(seed, recorded()[0])
    removed, added = changed(diff)
    page = [line(seed, n) for n in range(150, 160)]
    assert removed == page[2:8]  # Accept .. Decorator, as the page has them
    indent = "    " + "    "  # the block's, then httpbin's own
    accept, _connection, host, _agent, gap, decorator = (row.strip() for row in page[2:8])
    assert added == [
        indent + accept,
        indent + host,
        indent + '"User-Agent": "curl/8.14.1",',
        indent + gap,
        indent + decorator.rstrip(","),  # the last header: no comma
    ]
    assert gap == "..."
    assert "X-Amzn-Trace-Id" not in diff and "X-Envoy-Attempt-Count" not in diff
    assert "Unable to use a TTY" not in diff
    assert hunks(diff) == ["@@ -149,12 +149,11 @@"]


def test_the_log_line_takes_the_new_format_with_the_pages_values(seed: str) -> None:
    diff = patch_of(seed, recorded()[1])
    removed, added = changed(diff)
    page_line = line(seed, 168)
    assert removed == [page_line]
    words = page_line.split()
    # the page's start time, request id, upstream host and the sleep pod's address
    page_time, page_id, page_upstream = words[0], words[12], words[14]
    pod = words[-2].rsplit(":", 1)[0]
    assert added == [
        f'    {page_time} "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 558 412 411 "-" '
        f'"curl/8.14.1" {page_id} "httpbin.org" {page_upstream} outbound|80||httpbin.org '
        f"{pod}:47392 {page_upstream.strip(chr(34))} {words[-2]} - default"
    ]
    assert LOG_TIME not in diff and LOG_ID not in diff and "10.244.0.7" not in diff
    assert hunks(diff) == ["@@ -165,7 +165,7 @@"]


def test_the_configmap_grep_becomes_istioctl_and_prints_nothing(seed: str) -> None:
    diff = patch_of(seed, *recorded()[2:4])
    removed, added = changed(diff)
    assert removed == [line(seed, 59), line(seed, 60)]
    assert added == ["    $ " + ISTIOCTL]
    assert hunks(diff) == ["@@ -56,8 +56,7 @@"]


def test_the_two_curls_print_as_the_page_shows(seed: str) -> None:
    """Each part has its own output line; the TTY line and curl's CRLF are the terminal's."""
    assert rewrite(seed, recorded()[4:6]) == seed
    assert patch_of(seed, *recorded()[4:6]) == ""


@pytest.mark.parametrize(("part", "number"), [(1, 79), (2, 80)])
def test_a_part_of_two_changes_its_own_output_line(seed: str, part: int, number: int) -> None:
    """An invented answer (not a recording): part k's output is the k-th line."""
    diff = patch_of(seed, Proposal(CURLS_LINE, part, TTY + "HTTP/2 301\r\n", None, "moved"))
    assert changed(diff) == ([line(seed, number)], ["    HTTP/2 301"])
    assert hunks(diff) == [f"@@ -{number - 3},7 +{number - 3},7 @@"]


def test_kubectl_replace_names_the_object_kind_slash_name(seed: str) -> None:
    diff = patch_of(seed, recorded()[6])
    assert changed(diff) == ([line(seed, 108)], ["    configmap/istio replaced"])
    assert hunks(diff) == ["@@ -105,7 +105,7 @@"]


def test_the_patched_page_shows_what_was_printed(seed: str) -> None:
    """Read again, the page has its blocks, and each proposed part's output is what the
    release printed (as the suite compares them) and its command the replacement."""
    proposals = recorded()
    new = rewrite(seed, proposals)
    old_page, new_page = parse_page(seed), parse_page(new)
    assert len(new_page.blocks) == len(old_page.blocks)

    def part_of(page, proposal: Proposal):
        """The part where the seed's proposal was, found by position: lines moved."""
        for index, block in enumerate(old_page.blocks):
            for position, command in enumerate(block.commands):
                if command.line == proposal.command_line:
                    ours = new_page.blocks[index]
                    found = parts(ours, new_page.output_block_of(ours))
                    return [p for p in found if p.line == ours.commands[position].line]
        raise AssertionError(proposal)

    for proposal in proposals:
        part = part_of(new_page, proposal)[proposal.part - 1]
        if proposal.printed is not None:
            result = compare(part.output, proposal.printed)
            assert result.matched, (proposal.command_line, result.detail)
        if proposal.command is not None:
            assert part.text == proposal.command
    assert unified_diff(seed, new, PAGE_PATH).count("\n@@ ") == 4  # 59, 107, 149, 167


# --- outputs as istio.io writes them -----------------------------------------------------


def test_every_output_of_the_seed_is_its_own_proposal(seed: str) -> None:
    """Printed as the page shows it, an output stays exactly as the page wrote it."""
    page = parse_page(seed)
    outputs = [p.output for b in page.blocks for p in parts(b, page.output_block_of(b))]
    outputs = [output for output in outputs if output]
    assert len(outputs) >= 15
    for output in outputs:
        assert proposed_output(output, output) == output


def test_alike_lines_keep_the_pages_values_and_a_gap_stays_one_line() -> None:
    expected = "NAME  READY\nsleep-88ddbcfdd-rgk77  1/1\n...\ndone in 2.5s"
    printed = "NAME  READY  \nsleep-5d8f6f8b9c-x7k2p  1/1\na\nb\nc\ndone in 0.9s\n\n\n"
    assert proposed_output(expected, printed) == expected


def test_new_lines_come_as_printed_and_lines_not_printed_go() -> None:
    expected = "a: 1\n...\nz: 9"
    printed = TTY + "a: 1\n  b:\n    c: 2   \nz: 9\nextra:\n  - 10.0.0.1\n"
    assert proposed_output(expected, printed) == "a: 1\n  ...\nz: 9\nextra:\n  - 10.0.0.1"
    assert proposed_output("old\nkept", "kept") == "kept"
    assert proposed_output("", "new\n") == "new"
    assert proposed_output("gone", TTY) == ""


def test_a_gap_with_nothing_in_it_stays() -> None:
    assert proposed_output("{\n...\n}", "{\n}") == "{\n...\n}"


# --- rewriting the page ------------------------------------------------------------------


def test_a_heredoc_body_stays_unless_the_whole_command_is_replaced(seed: str) -> None:
    head = patch_of(seed, Proposal(129, 1, None, "kubectl apply -n default -f - <<EOF", "ns"))
    assert changed(head) == ([line(seed, 129)], ["    $ kubectl apply -n default -f - <<EOF"])
    whole = patch_of(seed, Proposal(129, 1, None, "kubectl apply -f se.yaml", "a file"))
    removed, added = changed(whole)
    assert removed == [line(seed, n) for n in range(129, 144)]
    assert added == ["    $ kubectl apply -f se.yaml"]


def test_an_output_block_after_the_command_takes_its_output(seed: str) -> None:
    printed = "service_cluster_ip_range: 10.96.0.0/12\nnode_cidr: 10.244.0.0/16\n"
    diff = patch_of(seed, Proposal(311, 1, printed, None, "one more line"))
    assert changed(diff) == ([], ["    node_cidr: 10.244.0.0/16"])  # the range is alike
    assert hunks(diff) == ["@@ -315,6 +315,7 @@"]


def test_output_comes_after_a_command_that_showed_none(seed: str) -> None:
    """At the block's indentation: none for a block at the left margin."""
    diff = patch_of(seed, Proposal(286, 1, 'serviceentry "google" deleted\n', None, "prints"))
    assert changed(diff) == ([], ['serviceentry "google" deleted'])
    assert hunks(diff) == ["@@ -284,6 +284,7 @@"]
    indented = patch_of(seed, Proposal(21, 1, "deployment.apps/sleep created\n", None, "prints"))
    assert changed(indented) == ([], ["    deployment.apps/sleep created"])


def test_a_part_of_several_is_replaced_in_its_place(seed: str) -> None:
    new = "kubectl exec $SOURCE_POD -c sleep -- curl -sI https://www.google.com | grep HTTP/"
    diff = patch_of(seed, Proposal(CURLS_LINE, 1, None, new, "no terminal needed"))
    removed, added = changed(diff)
    second = line(seed, 78).split("; ", 1)[1]
    assert removed == [line(seed, 78)]
    assert added == [f"    $ {new}; {second}"]


def test_a_part_printing_more_lines_keeps_the_outputs_in_order(seed: str) -> None:
    reset = "curl: (35) Recv failure: Connection reset by peer\n"
    blocked = line(seed, 116).strip()
    diff = patch_of(seed, Proposal(114, 2, reset + blocked, None, "curl's error"))
    assert changed(diff) == ([], ["    " + reset.strip()])
    new = rewrite(seed, [Proposal(114, 2, reset + blocked, None, "curl's error")])
    assert new.split("\n")[114:117] == [line(seed, 115), "    " + reset.strip(), line(seed, 116)]


def test_proposals_for_one_part_merge_or_are_refused(seed: str) -> None:
    one = Proposal(REPLACE_LINE, 1, REPLACED, None, "kubectl")
    assert rewrite(seed, [one, one]) == rewrite(seed, [one])
    with pytest.raises(ValueError, match=r"line 107: .*part 1 differ in outputs"):
        rewrite(seed, [one, Proposal(REPLACE_LINE, 1, "other\n", None, "x")])
    with pytest.raises(ValueError, match=r"line 59: .*differ in commands"):
        rewrite(seed, [Proposal(59, 1, None, "a", "x"), Proposal(59, 1, None, "b", "y")])


@pytest.mark.parametrize(
    "number",
    [8, 60, 130, 317, 150],  # prose, an output line, a heredoc line, a plain block, JSON
)
def test_a_proposal_for_no_command_names_its_line(seed: str, number: int) -> None:
    with pytest.raises(ValueError, match=rf"^line {number}: not a '\$' command line"):
        rewrite(seed, [Proposal(number, 1, "x", None, "wrong line")])


def test_a_proposal_for_no_such_part_names_its_line(seed: str) -> None:
    with pytest.raises(ValueError, match=r"^line 78: the command has 2 part\(s\); .*part 3"):
        rewrite(seed, [Proposal(CURLS_LINE, 3, "x", None, "no such part")])


# --- applying the patch ------------------------------------------------------------------


def git(
    cwd: Path, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
    )


@pytest.fixture
def checkout(tmp_path: Path, seed: str) -> Path:
    top = tmp_path / "istio.io"
    page = top / PAGE_PATH
    page.parent.mkdir(parents=True)
    page.write_text(seed, encoding="utf-8")
    (top / "tests").mkdir()
    git(top, "init", "-q")
    git(top, "add", ".")
    git(top, "commit", "-qm", "the page")
    return top


def test_git_apply_takes_the_patch_from_the_top(checkout: Path, seed: str) -> None:
    page = checkout / PAGE_PATH
    path = header_path(page, checkout / "tests")  # from anywhere: the checkout's path
    assert path == PAGE_PATH
    new = rewrite(seed, recorded())
    patch = checkout.parent / "page.patch"
    patch.write_text(unified_diff(seed, new, path), encoding="utf-8")
    assert git(checkout, "apply", "--check", str(patch), check=False).returncode == 0
    # From a subdirectory holding the page, git reads the paths from the top as well;
    # from one that does not, it skips the file and says so only with -v: run from the top.
    inside = git(page.parents[2], "apply", "--check", "-v", str(patch), check=False)
    assert inside.returncode == 0 and "Checking patch" in inside.stderr
    outside = git(checkout / "tests", "apply", "--check", "-v", str(patch), check=False)
    assert "Skipped patch" in outside.stderr
    git(checkout, "apply", str(patch))
    assert page.read_text(encoding="utf-8") == new
    assert git(checkout, "diff", "--name-only").stdout.split() == [PAGE_PATH]


def test_a_page_without_its_last_newline(checkout: Path, seed: str) -> None:
    page = checkout / PAGE_PATH
    old = seed.rstrip("\n")
    page.write_text(old, encoding="utf-8")
    git(checkout, "commit", "-qam", "no last newline")
    new = rewrite(old, [Proposal(426, 1, 'deployment.apps "sleep" deleted\n', None, "prints")])
    assert not new.endswith("\n")
    diff = unified_diff(old, new, header_path(page, checkout))
    assert diff.endswith("{{< /text >}}\n\\ No newline at end of file\n")
    done = git(checkout, "apply", "-", stdin=diff, check=False)
    assert done.returncode == 0, done.stderr
    assert page.read_text(encoding="utf-8") == new


@pytest.mark.parametrize("folder", ["a page", "任务", 'q"uote'])
def test_git_apply_takes_a_path_git_would_quote(tmp_path: Path, folder: str) -> None:
    top = tmp_path / "site"
    page = top / "content" / folder / "index.md"
    page.parent.mkdir(parents=True)
    page.write_text("a\nb\nc\n", encoding="utf-8")
    git(top, "init", "-q")
    git(top, "add", ".")
    git(top, "commit", "-qm", "page")
    page.write_text("a\nB\nc\n", encoding="utf-8")
    ours = unified_diff("a\nb\nc\n", "a\nB\nc\n", header_path(page, top))
    theirs = git(top, "diff").stdout
    assert ours.split("\n")[0] == theirs.split("\n")[0]  # git's own header line
    git(top, "checkout", "-q", ".")
    applied = git(top, "apply", "-v", "-", stdin=ours, check=False)
    assert applied.returncode == 0 and "Applied patch" in applied.stderr, applied.stderr
    assert page.read_text(encoding="utf-8") == "a\nB\nc\n"


def test_outside_git_the_path_is_from_the_working_directory(tmp_path: Path, seed: str) -> None:
    page = tmp_path / "site" / "egress" / "index.md"
    page.parent.mkdir(parents=True)
    page.write_text(seed, encoding="utf-8")
    path = header_path(page, tmp_path)
    assert path == "site/egress/index.md"
    diff = unified_diff(seed, rewrite(seed, recorded()), path)
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    if shutil.which("patch"):
        dry = subprocess.run(
            ["patch", "-p1", "--dry-run"], cwd=tmp_path, input=diff, text=True, capture_output=True
        )
        assert dry.returncode == 0, dry.stdout + dry.stderr
    checked = subprocess.run(
        ["git", "apply", "--check", "-v", "-"],
        cwd=tmp_path,
        input=diff,
        text=True,
        capture_output=True,
        env=env,
    )
    assert checked.returncode == 0 and "Checking patch site/egress" in checked.stderr


def test_no_change_is_no_patch(seed: str) -> None:
    assert unified_diff(seed, seed, PAGE_PATH) == ""
    assert rewrite(seed, []) == seed
