"""The page parsed as istio.io's build reads it: headings and anchors, text blocks in
every form, commands and their outputs, and the shipped index against a fresh parse."""

from __future__ import annotations

import pytest

from clusters.protocol import Injection, OutboundTrafficPolicy
from fixtures.page import PageError, dump_index, find_units, parse_page, parts
from fixtures.page.align import align
from fixtures.page.index import index_blocks
from fixtures.page.refs import BlockRef, split_ref
from fixtures.page_plugin import bound_blocks
from steps import page_commands as pc
from tests.seed_page import ROOT, insert_after, remove_lines, replace_line, seed_text

UNIT = find_units(ROOT / "features")[0]
LINES = [20, 26, 36, 58, 68, 77, 106, 113, 128, 148, 166, 175, 186, 206, 213, 222, 237, 251,
         271, 285, 310, 316, 330, 346, 362, 376, 396, 425]  # fmt: skip


@pytest.fixture(scope="module")
def seed():
    return parse_page(seed_text())


FRONT = "---\ntitle: t\n---\n"
TEXT_LS = "{{< text bash >}}\n$ ls\n"


def block_at(page, line: int):
    return next(block for block in page.blocks if block.line == line)


def test_the_shipped_index_is_a_fresh_parse_of_the_seed() -> None:
    shipped = (UNIT.directory / UNIT.index_file).read_text(encoding="utf-8")
    assert dump_index(parse_page(seed_text())) == shipped, (
        "features/egress-control/blocks.yaml is stale: python -m fixtures.page index "
        "../shared/seed/egress-control.zh.md --out features/egress-control/blocks.yaml"
    )


def test_the_seed_has_its_28_blocks(seed) -> None:
    assert [block.line for block in seed.blocks] == LINES
    assert block_at(seed, 68).within == "tip"
    assert block_at(seed, 316).output_only
    assert seed.command_block_of(block_at(seed, 316)) is block_at(seed, 310)
    assert seed.title == "控制 Egress 流量"


def test_anchors_are_istio_ios(seed) -> None:
    anchors = {heading.anchor for heading in seed.headings}
    expected = ("开始之前", "envoy-配置外部服务", "控制外部服务", "google-container-engine-gke",
                "azure-container-service-acs",
                "minikube-docker-for-desktop-bare-metal")  # fmt: skip
    for anchor in expected:
        assert anchor in anchors, sorted(anchors)
    links = {link.anchor: link.line for link in seed.links}
    assert links["开始之前"] == 372 and seed.heading("开始之前") is not None
    assert links["控制外部服务"] == 46 and seed.heading("控制外部服务") is not None
    # the page's link on line 295 keeps the heading's capital: no anchor is written so
    assert links["Envoy-配置外部服务"] == 295 and seed.heading("Envoy-配置外部服务") is None


def test_an_explicit_id_wins_and_a_repeated_heading_is_numbered() -> None:
    page = parse_page(
        "---\ntitle: t\n---\n## Same\n## Same\n## Other {#mine}\n"
        "{{< text bash >}}\n$ ls\n{{< /text >}}\n"
    )
    assert [h.anchor for h in page.headings] == ["same", "same-1", "mine"]
    assert page.blocks[0].section == "mine"


@pytest.mark.parametrize(
    ("tag", "syntax", "attrs"),
    [
        ("{{< text bash >}}", "bash", ()),
        ("{{< text syntax=bash snip_id=foo >}}", "bash", (("snip_id", "foo"),)),
        ('{{< text syntax="bash" outputis="json" >}}', "bash", (("outputis", "json"),)),
        ("{{< text yaml >}}", "yaml", ()),
    ],
)
def test_text_shortcode_forms(tag: str, syntax: str, attrs: tuple) -> None:
    page = parse_page(
        FRONT + f"{{{{< warning >}}}}\n  {tag}\n  $ ls\n  {{{{< /text >}}}}\n{{{{< /warning >}}}}\n"
    )
    (block,) = page.blocks
    assert (block.syntax, block.attrs, block.within, block.line) == (syntax, attrs, "warning", 5)
    assert block.body == "$ ls"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n", "line 1: no front matter"),
        (FRONT + TEXT_LS, "line 4: the text block is never closed"),
        (FRONT + "{{< tip >}}\n" + TEXT_LS + "{{< /text >}}\n", "line 4: the tip is never closed"),
        ("---\ntitle: t\n---\n{{< /text >}}\n", "line 4: {{< /text >}} closes no text block"),
        ("---\ntitle: [\n---\n", "front matter is not valid YAML"),
        ("---\ntitle: t\n---\nprose only\n", "no {{< text >}} block"),
        ("---\ntitle: t\n---\n\x00", "NUL bytes"),
    ],
)  # fmt: skip
def test_what_is_not_such_a_page_is_one_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(PageError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_page(text)


def test_commands_continuations_heredocs_files_and_placeholders() -> None:
    body = (
        "$ kubectl apply -f - <<EOF\nkind: ServiceEntry\nEOF\n"
        "$ helm template x <the flags you used to install Istio> \\\n    --set a=b\n"
        "$ kubectl apply -f @samples/sleep/sleep.yaml@\n"
        "$ kubectl exec -it $SOURCE_POD -c sleep sh\n$ time curl http://x\n200\n"
    )
    page = parse_page(f"---\ntitle: t\n---\n{{{{< text bash >}}}}\n{body}{{{{< /text >}}}}\n")
    apply, helm, sample, shell, curl = page.blocks[0].commands
    assert apply.heredoc == "kind: ServiceEntry\n" and apply.output == ""
    assert helm.text.endswith("--set a=b") and helm.placeholders == (
        "<the flags you used to install Istio>",
    )
    assert sample.text == "kubectl apply -f samples/sleep/sleep.yaml"
    assert sample.files == ("samples/sleep/sleep.yaml",)
    assert shell.opens_shell and curl.inside == shell.line and curl.output == "200"
    assert curl.output_line == curl.line + 1


def test_a_semicolon_line_is_two_parts_with_an_output_line_each(seed) -> None:
    first, second = parts(block_at(seed, 77))
    assert pc.pod_command(first, False) == "curl -I https://www.google.com"
    assert pc.pod_command(second, False) == "curl -I https://edition.cnn.com"
    assert first.output == second.output == "HTTP/2 200"
    assert (first.output_line, second.output_line) == (79, 80)  # a check links its own line
    assert [pc.exit_code(part) for part in parts(block_at(seed, 113))] == [35, 35]


def test_the_readers_of_the_pages_commands(seed) -> None:
    _, bypass = parts(block_at(seed, 376))
    assert pc.pod_command(bypass, False) == "curl http://httpbin.org/headers"  # no "--"
    assert pc.mode_set(parts(block_at(seed, 106))[0]) is OutboundTrafficPolicy.REGISTRY_ONLY
    assert pc.mode_set(parts(block_at(seed, 68))[0]) is OutboundTrafficPolicy.ALLOW_ANY
    assert pc.mode_shown(parts(block_at(seed, 58))[0]) is OutboundTrafficPolicy.ALLOW_ANY
    assert pc.time_band(parts(block_at(seed, 237))[1]) == (4.5, 7.0)
    assert pc.time_band(parts(block_at(seed, 271))[1]) == (2.8, 4.4)
    entry = pc.log_entry(parts(block_at(seed, 166))[0])
    assert (entry.upstream_cluster, entry.method, entry.response_code) == (
        "outbound|80||httpbin.org", "GET", 200,
    )  # fmt: skip
    tcp = pc.log_entry(parts(block_at(seed, 213))[0])
    assert (tcp.requested_server_name, tcp.method) == ("www.google.com", None)
    headers = parts(block_at(seed, 148))[0]
    assert pc.header_shown(headers, "X-Envoy-Decorator-Operation") == "httpbin.org:80/*"
    assert pc.sample_deploy(parts(block_at(seed, 26))[0]) == (
        "samples/sleep/sleep.yaml", Injection.MANUAL,
    )  # fmt: skip
    assert pc.label_selector(parts(block_at(seed, 36))[0]) == "app=sleep"
    ibm = parts(block_at(seed, 310), seed.output_block_of(block_at(seed, 310)))[0]
    assert pc.ranges_shown(ibm) == ["10.0.0.1/24"]
    assert ibm.output_line == 317  # the output-only block's line
    with pytest.raises(pc.PageAsksOtherwise, match="the suite's source pod is"):
        pc.sample_deploy(parts(parse_page(
            FRONT
            + "{{< text bash >}}\n$ kubectl apply -f @samples/curl/curl.yaml@\n{{< /text >}}\n"
        ).blocks[0])[0])  # fmt: skip


def test_block_references() -> None:
    assert split_ref('the ServiceEntry "x" is applied [block a.1]:') == (
        'the ServiceEntry "x" is applied:', BlockRef("a.1", None),
    )  # fmt: skip
    assert split_ref("the source pod runs it [block a.3, command 2]") == (
        "the source pod runs it", BlockRef("a.3", 2),
    )  # fmt: skip
    assert split_ref("  no reference here ") == ("no reference here", None)


def test_every_reference_of_the_features_names_a_block_of_the_index() -> None:
    bound = bound_blocks(UNIT)
    assert bound <= {item.id for item in UNIT.shipped_blocks}
    assert len(bound) >= 25


def ids(page_text: str) -> list:
    return index_blocks(parse_page(page_text))


def test_alignment_of_revisions() -> None:
    seed = seed_text()
    shipped = ids(seed)
    same = align(shipped, ids(seed))
    assert all(m.shipped is m.revised or m.shipped.id == m.revised.id for m in same)
    assert not any(m.changed for m in same)

    added = align(
        shipped,
        ids(insert_after(seed, 210, "{{< text bash >}}\n$ kubectl get se\n{{< /text >}}\n")),
    )
    new = [m for m in added if m.shipped is None]
    assert [m.revised.line for m in new] == [211]
    assert [m.shipped.id for m in added if m.shipped] == [b.id for b in shipped]
    assert not any(m.changed for m in added)

    removed = align(shipped, ids(remove_lines(seed, 166, 170)))
    gone = [m.shipped.line for m in removed if m.revised is None]
    assert gone == [166] and sum(1 for m in removed if m.revised and m.shipped) == 27

    edited = align(shipped, ids(replace_line(seed, 261, "timeout: 3s", "timeout: 1s")))
    changed = [m for m in edited if m.changed]
    assert [(m.shipped.id, m.revised.line) for m in changed] == [("管理外部服务的流量.2", 251)]


def test_a_command_rewritten_in_place_keeps_its_block() -> None:
    """The page patch replaces Mixer's log command with the sidecar's: nothing of the old
    text is left, yet it stands where the old block stood, alone in its section's run."""
    seed = seed_text()
    shipped = index_blocks(parse_page(seed))
    mixer = (
        "kubectl -n istio-system logs -l istio-mixer-type=telemetry -c mixer | grep 'httpbin.org'"
    )
    revised_text = replace_line(
        seed, 176, mixer, "kubectl logs $SOURCE_POD -c istio-proxy | grep x"
    )
    revised_text = replace_line(revised_text, 177, '{"level"', '[2026-12-03T17:47:17.377Z] "GET"')
    revised = index_blocks(parse_page(revised_text))
    matches = align(shipped, revised)
    old = next(m for m in matches if m.shipped and m.shipped.id == "访问外部-http-服务.4")
    assert old.revised is not None and old.changed
    assert all(m.shipped is not None and m.revised is not None for m in matches)
    # a block removed with nothing in its place is still gone
    gone = align(shipped, index_blocks(parse_page(remove_lines(seed, 175, 178))))
    assert any(m.revised is None for m in gone)
