"""The model control plane's view of Istio's networking API: the resources it implements.

Documents are validated (``validation.validate``, the model's transcription of Istio's
rules) before they are turned into these models, so the models may assume well-formed
input; what the model does not implement is refused in one line. Field names follow the Istio API
in snake_case; defaults are the ones Istio applies (unset resolution is NONE, unset
location is MESH_EXTERNAL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clusters.istio.kubectl_documents import NETWORKING_GROUP, load_documents
from clusters.local.pilot import validation
from clusters.protocol import InvalidResource, ResourceRef


@dataclass(frozen=True)
class ServicePort:
    number: int
    name: str
    protocol: str | None = None  # upper case; None means "sniffed"
    target_port: int | None = None


@dataclass(frozen=True)
class WorkloadEntry:
    address: str
    ports: Mapping[str, int] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    weight: int | None = None


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    namespace: str
    hosts: tuple[str, ...]
    ports: tuple[ServicePort, ...]
    addresses: tuple[str, ...] = ()
    location: str = "MESH_EXTERNAL"
    resolution: str = "NONE"
    endpoints: tuple[WorkloadEntry, ...] = ()
    export_to: tuple[str, ...] = ()

    kind = "ServiceEntry"


@dataclass(frozen=True)
class Destination:
    host: str
    subset: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class RouteDestination:
    destination: Destination
    weight: int | None = None


@dataclass(frozen=True)
class HTTPRetry:
    attempts: int
    per_try_timeout: float | None = None  # seconds
    retry_on: str | None = None


@dataclass(frozen=True)
class StringMatch:
    kind: str  # exact, prefix, regex
    value: str


@dataclass(frozen=True)
class HTTPMatchRequest:
    uri: StringMatch | None = None
    port: int | None = None
    name: str | None = None
    ignore_uri_case: bool = False


@dataclass(frozen=True)
class HTTPRoute:
    route: tuple[RouteDestination, ...]
    name: str | None = None
    match: tuple[HTTPMatchRequest, ...] = ()
    timeout: float | None = None  # seconds; None means "not set"
    retries: HTTPRetry | None = None


@dataclass(frozen=True)
class VirtualService:
    name: str
    namespace: str
    hosts: tuple[str, ...]
    http: tuple[HTTPRoute, ...] = ()
    gateways: tuple[str, ...] = ()
    export_to: tuple[str, ...] = ()

    kind = "VirtualService"


Resource = ServiceEntry | VirtualService

# The fields the model control plane (clusters/local/pilot) turns into Envoy config. Any
# other field Istio accepts is refused by name rather than silently ignored, so the model
# never serves something other than what istiod would (see ``make fidelity``).
IMPLEMENTED_FIELDS: Mapping[str, frozenset[str]] = {
    "ServiceEntry": frozenset(
        {"hosts", "ports", "addresses", "location", "resolution", "endpoints", "exportTo"}
    ),
    "ServiceEntry.endpoint": frozenset(
        {"address", "ports", "labels", "weight", "locality", "serviceAccount"}
    ),
    "VirtualService": frozenset({"hosts", "http", "gateways", "exportTo"}),
    "HTTPRoute": frozenset({"name", "match", "route", "timeout", "retries"}),
    "HTTPMatchRequest": frozenset({"uri", "port", "name", "ignoreUriCase"}),
    "HTTPRouteDestination": frozenset({"destination", "weight"}),
    "HTTPRetry": frozenset({"attempts", "perTryTimeout", "retryOn"}),
}


def not_implemented(kind: str, name: str, path: str) -> InvalidResource:
    """One line naming a field the model ignores, and the control plane that has it."""
    return InvalidResource(
        f'{kind} "{name}": {path} is not implemented by the local mesh\'s model control '
        "plane: use --control-plane istiod"
    )


def _check_implemented(kind: str, name: str, spec: Mapping[str, Any]) -> None:
    """Refuse the first field of a valid spec that the model would not turn into config."""
    for path, part, value in _spec_parts(kind, spec):
        for key in value:
            if key not in IMPLEMENTED_FIELDS[part] and value[key] is not None:
                raise not_implemented(kind, name, f"{path}.{key}")


def _spec_parts(kind: str, spec: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """``(path, part, object)`` for the spec and each nested object the table covers."""
    parts: list[tuple[str, str, Mapping[str, Any]]] = [("spec", kind, spec)]
    if kind == "ServiceEntry":
        for index, endpoint in enumerate(spec.get("endpoints") or ()):
            parts.append((f"spec.endpoints[{index}]", "ServiceEntry.endpoint", endpoint))
        return parts
    for index, route in enumerate(spec.get("http") or ()):
        at = f"spec.http[{index}]"
        parts.append((at, "HTTPRoute", route))
        for position, match in enumerate(route.get("match") or ()):
            parts.append((f"{at}.match[{position}]", "HTTPMatchRequest", match))
        for position, target in enumerate(route.get("route") or ()):
            parts.append((f"{at}.route[{position}]", "HTTPRouteDestination", target))
        if route.get("retries"):
            parts.append((f"{at}.retries", "HTTPRetry", route["retries"]))
    return parts


def parse_resources(text: str) -> list[Resource]:
    """Validate and model every document of a YAML stream, all or nothing."""
    return [from_document(document) for document in load_documents(text)]


def from_document(document: Mapping[str, Any]) -> Resource:
    """Validate one document as Istio would, then build its model."""
    validation.validate(document)
    kind = document["kind"]
    metadata = document.get("metadata") or {}
    name = metadata["name"]
    namespace = metadata.get("namespace") or "default"
    spec = document.get("spec") or {}
    if kind in ("ServiceEntry", "VirtualService"):
        _check_implemented(kind, name, spec)
    if kind == "ServiceEntry":
        return _service_entry(name, namespace, spec)
    if kind == "VirtualService":
        return _virtual_service(name, namespace, spec)
    raise InvalidResource(  # validation lets only supported kinds through
        f'no matches for kind "{kind}" in group "{NETWORKING_GROUP}"'
    )


def ref(resource: Resource) -> ResourceRef:
    return ResourceRef(resource.kind, resource.name, resource.namespace)


def parse_duration(text: str) -> float:
    """Seconds in a protobuf duration as Istio accepts it (``3s``, ``500ms``, ``1m``, ``1.5s``).

    validation.validate has already checked the syntax.
    """
    return validation.duration_seconds(text)


def _service_entry(name: str, namespace: str, spec: Mapping[str, Any]) -> ServiceEntry:
    ports = tuple(
        ServicePort(
            number=int(port["number"]),
            name=port["name"],
            protocol=(port.get("protocol") or "").upper() or None,
            target_port=port.get("targetPort"),
        )
        for port in spec.get("ports") or ()
    )
    endpoints = tuple(
        WorkloadEntry(
            address=endpoint["address"],
            ports=dict(endpoint.get("ports") or {}),
            labels=dict(endpoint.get("labels") or {}),
            weight=endpoint.get("weight"),
        )
        for endpoint in spec.get("endpoints") or ()
    )
    return ServiceEntry(
        name=name,
        namespace=namespace,
        hosts=tuple(spec.get("hosts") or ()),
        ports=ports,
        addresses=tuple(spec.get("addresses") or ()),
        location=spec.get("location") or "MESH_EXTERNAL",
        resolution=spec.get("resolution") or "NONE",
        endpoints=endpoints,
        export_to=tuple(spec.get("exportTo") or ()),
    )


def _virtual_service(name: str, namespace: str, spec: Mapping[str, Any]) -> VirtualService:
    return VirtualService(
        name=name,
        namespace=namespace,
        hosts=tuple(spec.get("hosts") or ()),
        http=tuple(_http_route(route) for route in spec.get("http") or ()),
        gateways=tuple(spec.get("gateways") or ()),
        export_to=tuple(spec.get("exportTo") or ()),
    )


def _http_route(route: Mapping[str, Any]) -> HTTPRoute:
    retries = route.get("retries")
    timeout = route.get("timeout")
    return HTTPRoute(
        name=route.get("name"),
        match=tuple(_match(match) for match in route.get("match") or ()),
        route=tuple(
            RouteDestination(
                destination=Destination(
                    host=target["destination"]["host"],
                    subset=target["destination"].get("subset"),
                    port=(target["destination"].get("port") or {}).get("number"),
                ),
                weight=target.get("weight"),
            )
            for target in route.get("route") or ()
        ),
        timeout=parse_duration(timeout) if timeout else None,
        retries=(
            HTTPRetry(
                attempts=int(retries.get("attempts") or 0),
                per_try_timeout=(
                    parse_duration(retries["perTryTimeout"])
                    if retries.get("perTryTimeout")
                    else None
                ),
                retry_on=retries.get("retryOn"),
            )
            if retries is not None
            else None
        ),
    )


def _match(match: Mapping[str, Any]) -> HTTPMatchRequest:
    uri = match.get("uri")
    string_match = None
    if uri:
        (kind, value), *_ = uri.items()
        string_match = StringMatch(kind=kind, value=value)
    return HTTPMatchRequest(
        uri=string_match,
        port=match.get("port"),
        name=match.get("name"),
        ignore_uri_case=bool(match.get("ignoreUriCase")),
    )
