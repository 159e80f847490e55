"""What kubectl checks before a request reaches the API server, in kubectl's words.

kubectl refuses a document without apiVersion or kind, and one whose kind the cluster
does not serve (its discovery has no such kind and version); it resolves names such as
``serviceentries`` or ``se`` the same way. Every backend with an API server gets this
from kubectl; the local backend reproduces it over its control plane's served kinds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from clusters.protocol import InvalidResource

NETWORKING_GROUP = "networking.istio.io"
# kubectl's names for the kinds: singular, plural and short name, any case.
KUBECTL_NAMES = {
    "serviceentry": "ServiceEntry",
    "serviceentries": "ServiceEntry",
    "se": "ServiceEntry",
    "virtualservice": "VirtualService",
    "virtualservices": "VirtualService",
    "vs": "VirtualService",
}
PLURALS = {"ServiceEntry": "serviceentries", "VirtualService": "virtualservices"}


def canonical_kind(name: str) -> str | None:
    """``ServiceEntry`` for ``serviceentries``, ``se``, ``ServiceEntry``...; None if unknown."""
    return KUBECTL_NAMES.get(name.lower())


@dataclass(frozen=True)
class KindNames:
    """How kubectl names a kind: ``serviceentries``, ``se``, ``ServiceEntry``."""

    kind: str
    group: str
    plural: str
    short_names: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        lowered = name.lower()
        bare, _, group = lowered.partition(".")
        if group and group != self.group:
            return False
        return bare in {self.kind.lower(), self.plural, *self.short_names}

    def serves(self, api_version: str) -> bool:
        group, _, version = api_version.rpartition("/")
        return group == self.group and version in self.versions


def page_kinds(versions: tuple[str, ...]) -> list[KindNames]:
    """The page's kinds (ServiceEntry, VirtualService) with kubectl's plural and short
    names, served in ``versions`` of networking.istio.io."""
    short = {kind: name for name, kind in KUBECTL_NAMES.items() if len(name) <= 2}
    return [
        KindNames(kind, NETWORKING_GROUP, plural, (short[kind],), versions)
        for kind, plural in PLURALS.items()
    ]


def resolve(name: str, kinds: Iterable[KindNames]) -> KindNames | None:
    """The kind ``kubectl get NAME`` means, or None (``the server doesn't have...``)."""
    return next((kind for kind in kinds if kind.matches(name)), None)


def unknown_resource_type(name: str) -> str:
    return f'the server doesn\'t have a resource type "{name}"'


def check_kind_set(document: Mapping[str, Any]) -> None:
    """kubectl's client-side check: a document names its apiVersion and kind."""
    api_version, kind = document.get("apiVersion"), document.get("kind")
    missing = [
        f"{key} not set"
        for key, value in (("apiVersion", api_version), ("kind", kind))
        if not value
    ]
    if missing:
        problems = missing[0] if len(missing) == 1 else f"[{', '.join(missing)}]"
        raise InvalidResource(
            f'error validating "STDIN": error validating data: {problems}; if you choose to '
            "ignore these errors, turn validation off with --validate=false"
        )


def check_document(document: Mapping[str, Any], kinds: Iterable[KindNames]) -> None:
    """Refuse, as kubectl does, a document it would not send to the API server."""
    check_kind_set(document)
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if not any(k.kind == kind and k.serves(str(api_version)) for k in kinds):
        raise InvalidResource(mapping_not_found(document))


def mapping_not_found(document: Mapping[str, Any], source: str = "STDIN") -> str:
    """kubectl's words for a kind and version its discovery lacks (k8s.io/cli-runtime's
    resource mapper): on two lines, as kubectl prints them; name and namespace are the
    document's own, before any defaulting."""
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return (
        f"resource mapping not found for name: {_quote(metadata.get('name', ''))} "
        f"namespace: {_quote(metadata.get('namespace', ''))} from {_quote(source)}: no matches "
        f"for kind {_quote(document.get('kind'))} in version {_quote(document.get('apiVersion'))}"
        "\nensure CRDs are installed first"
    )


def _quote(value: Any) -> str:
    """Go's ``%q`` of the strings that reach these messages."""
    return json.dumps(str(value), ensure_ascii=False)


# The API server's limits (k8s.io/apiserver): a request body of 3 MiB; etcd keeps an
# object of at most 1.5 MiB.
MAX_REQUEST_BYTES = 3 * 1024 * 1024
MAX_OBJECT_BYTES = 1536 * 1024
# go-yaml refuses a document whose aliases expand it out of proportion ("billion
# laughs"): here, one that would hold more than this many nodes once expanded, counted
# on the composed graph (shared by aliases) before anything is built.
MAX_EXPANDED_NODES = 400_000
MAX_DEPTH = 100  # deeper than any Kubernetes object; PyYAML recurses per level


class _KubernetesLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: an unquoted ``2020-01-01`` stays a string, not a date; a
    key set twice in one map is an error; aliases and nesting are bounded."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_document(self) -> Any:  # type: ignore[override]
        node = super().compose_document()
        if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise _Refusal("yaml: document contains excessive aliasing")
        return node

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refusal(
                f"yaml: line {mark.line + 1}: exceeded max depth of {MAX_DEPTH} "
                "(a Kubernetes object never nests this deep)"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _Refusal(
                    "error converting YAML to JSON: yaml: unmarshal errors: "
                    f'line {key_node.start_mark.line + 1}: key "{key}" already set in map'
                )
            if isinstance(key, str | int | float | bool):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` holds once every alias is expanded (memoised per node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = min(size, MAX_EXPANDED_NODES + 1)
    return sizes[id(node)]


class _Refusal(Exception):
    """A refusal found while reading the stream, in go-yaml's or kubectl's words."""


_KubernetesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str) -> list[dict[str, Any]]:
    """Parse a YAML stream the way ``kubectl apply -f`` reads it (empty documents skipped).

    Raises InvalidResource with one line: a syntax error's position, a key set twice,
    excessive aliasing or nesting, or a stream or object beyond the API server's limits.
    """
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_REQUEST_BYTES:
        raise InvalidResource(
            f"Request entity too large: limit is {MAX_REQUEST_BYTES} (the YAML stream is "
            f"{size} bytes: apply it in smaller parts)"
        )
    try:
        documents = [d for d in yaml.load_all(text, Loader=_KubernetesLoader) if d is not None]
    except _Refusal as refusal:
        raise InvalidResource(str(refusal)) from None
    except RecursionError:
        raise InvalidResource(
            f"yaml: exceeded max depth of {MAX_DEPTH} (a Kubernetes object never nests this deep)"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InvalidResource(
            f"error parsing YAML{where}: {problem} (fix the indentation or quoting of that line)"
        ) from None
    for index, document in enumerate(documents):
        try:
            encoded = json.dumps(document)
        except (TypeError, ValueError) as error:
            raise InvalidResource(
                f"error converting YAML to JSON: document {index + 1}: {error} "
                "(Kubernetes objects hold only strings, numbers, booleans, lists and maps)"
            ) from None
        if not isinstance(document, dict):
            raise InvalidResource(
                f"error parsing YAML: document {index + 1} is a {type(document).__name__}, "
                "not an object with apiVersion, kind, metadata and spec"
            )
        if len(encoded) > MAX_OBJECT_BYTES:
            raise InvalidResource(
                f"etcdserver: request is too large (document {index + 1} is {len(encoded)} "
                f"bytes as JSON; an object may hold at most {MAX_OBJECT_BYTES})"
            )
    if not documents:
        raise InvalidResource("no objects passed to apply (the YAML stream is empty)")
    return documents


def read_manifest(data: bytes, source: str) -> str:
    """A file's bytes as the text kubectl would parse, or one line saying why not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidResource(
            f"error parsing {source}: byte {error.start} is not UTF-8 text "
            "(kubectl reads YAML or JSON manifests)"
        ) from None
