"""Malformed and hostile manifests get one line, in kubectl's or go-yaml's words, at once."""

from __future__ import annotations

import argparse

import pytest

from clusters.istio.kubectl_documents import (
    MAX_OBJECT_BYTES,
    MAX_REQUEST_BYTES,
    load_documents,
    read_manifest,
)
from clusters.protocol import InvalidResource
from clusters.shared.cli_values import seconds


def laughs(levels: int) -> str:
    """The "billion laughs" alias bomb: each level repeats the previous one nine times."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(levels):
        previous, name = chr(97 + level), chr(98 + level)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def refusal(text: str) -> str:
    with pytest.raises(InvalidResource) as caught:
        load_documents(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    assert refusal(laughs(8)) == "yaml: document contains excessive aliasing"


def test_modest_aliases_still_work() -> None:
    (document,) = load_documents("kind: X\nmetadata: &m {name: a}\nspec: {copy: *m}\n")
    assert document["spec"]["copy"] == {"name": "a"}


def test_deep_nesting_is_refused() -> None:
    assert "exceeded max depth of 100" in refusal("a: " + "[" * 5000 + "]" * 5000)


def test_a_key_set_twice_is_refused_as_kubectl_does() -> None:
    message = refusal("apiVersion: v1\nkind: ServiceEntry\nkind: VirtualService\n")
    assert message == (
        "error converting YAML to JSON: yaml: unmarshal errors: "
        'line 3: key "kind" already set in map'
    )


def test_a_request_beyond_3_mib_is_refused_naming_the_limit() -> None:
    message = refusal("a: " + "x" * MAX_REQUEST_BYTES)
    assert message.startswith(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")


def test_an_object_beyond_etcds_limit_is_refused() -> None:
    text = "kind: X\nspec: {hosts: [" + ",".join(["a" * 1000] * 1600) + "]}\n"
    assert len(text) < MAX_REQUEST_BYTES
    assert refusal(text).startswith("etcdserver: request is too large")
    assert str(MAX_OBJECT_BYTES) in refusal(text)


def test_binary_input_is_one_line() -> None:
    with pytest.raises(InvalidResource, match=r"^error parsing x.png: byte 0 is not UTF-8 text"):
        read_manifest(b"\x89PNG\r\n", "x.png")


@pytest.mark.parametrize("text", ["nan", "-1", "0", "inf", "abc", ""])
def test_timeouts_must_be_positive_finite_seconds(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not a positive number of seconds"):
        seconds(text)


def test_a_wait_is_bounded_and_says_what_it_missed() -> None:
    from clusters.protocol import ClusterError
    from clusters.shared.waiting import NotYet, wait_for

    calls = []

    def never() -> None:
        calls.append(1)
        raise NotYet("the moon")

    with pytest.raises(
        ClusterError, match=r"^the tide turned within 0.2s \(still waiting for the moon\)$"
    ):
        wait_for(never, timeout=0.2, what="the tide turned")
    assert len(calls) > 1
    assert wait_for(lambda: 42, timeout=1, what="x") == 42
