"""Istio's admission of ServiceEntry and VirtualService, in Istio's and Kubernetes' words.

``kubectl apply`` of an Istio resource can be refused at four points, each with its own
wording; the suite reproduces each so that a failing step reads like the real cluster:

1. kubectl: no apiVersion/kind, or a kind and version the cluster does not serve;
2. the API server's strict decoding: unknown fields;
3. the API server's validation against the CRD: its OpenAPI schema, then (only when the
   schema found no blocking error) its CEL rules, ``x-kubernetes-validations``;
4. Istio's validating webhook ``validation.istio.io``.

Layer 3 is a table (:data:`SCHEMAS`) transcribing the parts of Istio 1.30's CRDs that the
suite's resources use, read by three small walkers; layer 4 mirrors Istio's rules. Many
webhook rules (no hosts, bare ``*``, port range, duplicate ports, endpoints with NONE,
duration below 1ms, missing destination) are unreachable since the CRD refuses first, so
only the reachable ones are here. Every message is a single line.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from clusters.istio import kubectl_documents as kubectl
from clusters.protocol import InvalidResource

GROUP = "networking.istio.io"
VERSIONS = ("v1", "v1beta1", "v1alpha3")
# Istio serves these networking kinds too, but the suite's local mesh does not implement them.
OTHER_KINDS = frozenset(
    {"DestinationRule", "EnvoyFilter", "Gateway", "ProxyConfig", "Sidecar", "WorkloadEntry"}
    | {"WorkloadGroup"}
)
RESOLUTIONS = ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS")  # CRD order
LOCAL_RESOLUTIONS = frozenset(RESOLUTIONS) - {"DYNAMIC_DNS"}
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB"})
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
PROTOCOLS = HTTP_PROTOCOLS | TLS_PROTOCOLS | {"TCP", "UDP", "MONGO", "REDIS", "MYSQL"}
WEBHOOK = "validation.istio.io"
RETRY_ON = frozenset(
    {"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure"}
    | {"envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes"}
    | {"retriable-headers", "http3-post-connect-failure"}
    | {"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}
)


# Durations ------------------------------------------------------------------------------

_NANOS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9}
_NANOS |= {"m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_MAX_NANOS = 2**63 - 1


def duration_seconds(text: str) -> float:
    """Seconds in ``text``, read as Go's ``time.ParseDuration`` reads it.

    Both checks of an Istio duration use Go's parser (the CRD's CEL ``duration()`` and
    istiod), so ``1m30s`` and ``.5h`` are valid and ``3`` or ``3 s`` are not. Raises
    InvalidResource with Go's message.
    """
    return _nanoseconds(text) / 1e9


def _nanoseconds(text: str) -> int:
    rest, sign = text, 1
    if rest[:1] in ("+", "-"):
        rest, sign = rest[1:], -1 if rest[0] == "-" else 1
    if rest == "0":
        return 0
    if not rest:
        raise InvalidResource(f"time: invalid duration {_quote(text)}")
    total = 0
    while rest:
        match = _DURATION_PART.match(rest)
        assert match is not None  # every part of the pattern is optional
        whole, fraction, unit = match.groups()
        if not whole and not fraction:
            raise InvalidResource(f"time: invalid duration {_quote(text)}")
        if not unit:
            raise InvalidResource(f"time: missing unit in duration {_quote(text)}")
        if unit not in _NANOS:
            raise InvalidResource(f"time: unknown unit {_quote(unit)} in duration {_quote(text)}")
        total += int(Decimal(f"{whole or 0}.{fraction or 0}") * _NANOS[unit])
        rest = rest[match.end() :]
    if total > _MAX_NANOS:
        raise InvalidResource(f"time: invalid duration {_quote(text)}")
    return sign * total


# Layer 3: the CRD's schema --------------------------------------------------------------


class _RuleError(Exception):
    """A CEL rule failed to evaluate (rather than evaluating to false)."""


Rule = tuple[Callable[[Any], bool], str]


@dataclass(frozen=True)
class Schema:
    """One node of a CRD's OpenAPI v3 schema, with the keywords Istio's CRDs use."""

    type: str = "any"  # object, array, string, integer, boolean; "any" is not checked
    properties: Mapping[str, Schema] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    items: Schema | None = None
    values: Schema | None = None  # additionalProperties: a map
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    one_of: tuple[str, ...] = ()  # a proto oneof: at most one of these fields
    map_keys: tuple[str, ...] = ()  # x-kubernetes-list-type: map
    rules: tuple[Rule, ...] = ()  # x-kubernetes-validations
    preserve_unknown: bool = False


def _obj(properties: Mapping[str, Schema], required: Sequence[str] = (), **kw: Any) -> Schema:
    return Schema("object", properties=properties, required=tuple(required), **kw)


def _array(items: Schema, **kw: Any) -> Schema:
    return Schema("array", items=items, **kw)


def _at_least_1ms(text: str) -> bool:
    try:
        return _nanoseconds(text) >= 10**6
    except InvalidResource:
        raise _RuleError(
            "type conversion error from 'string' to 'google.protobuf.Duration'"
        ) from None


def _has_cidr_and_resolves(spec: Mapping[str, Any]) -> bool:
    cidr = any("/" in address for address in spec.get("addresses", ()))
    return cidr and spec.get("resolution", "NONE") not in ("NONE", "STATIC")


def _fields(names: str, schema: Schema) -> dict[str, Schema]:
    """Several fields of one schema, e.g. the Istio fields the suite leaves unchecked."""
    return dict.fromkeys(names.split(), schema)


ANY = Schema()
OPAQUE = Schema("object", preserve_unknown=True)  # Istio checks it; the suite does not look
STRING = Schema("string")
STRINGS = _array(STRING)
STRING_MAP = Schema("object", values=STRING)
BOOLEAN = Schema("boolean")
INT32 = Schema("integer")
UINT32 = Schema("integer", minimum=0, maximum=4294967295)
PORT_RULE: Rule = (lambda port: 0 < port <= 65535, "port must be between 1-65535")
PORT = Schema("integer", minimum=0, maximum=4294967295, rules=(PORT_RULE,))
DURATION = Schema("string", rules=((_at_least_1ms, "must be a valid duration greater than 1ms"),))

OBJECT_META = _obj(
    _fields("name namespace", STRING)
    | _fields("labels annotations", STRING_MAP)
    | _fields("generateName uid resourceVersion generation creationTimestamp selfLink", ANY)
    | _fields("deletionTimestamp deletionGracePeriodSeconds finalizers ownerReferences", ANY)
    | _fields("managedFields", ANY)
)

# ServiceEntry (networking.istio.io, every served version has the same schema)
SE_ENDPOINT_PORTS = Schema(
    "object",
    values=PORT,
    rules=((lambda ports: all(map(_is_port_name, ports)), "port name must be valid"),),
)
SE_ENDPOINT = _obj(
    _fields("address locality network serviceAccount", STRING)
    | {"labels": STRING_MAP, "ports": SE_ENDPOINT_PORTS, "weight": UINT32},
    rules=(
        (lambda endpoint: "address" in endpoint or "network" in endpoint, "Address is required"),
    ),
)
SE_HOST = Schema("string", rules=((lambda host: host != "*", "hostname cannot be wildcard"),))
SE_PORT = _obj(
    {"name": STRING, "number": PORT, "protocol": STRING, "targetPort": PORT},
    required=["number", "name"],
)
SE_UNIQUE_NUMBERS: Rule = (
    lambda ports: len({port["number"] for port in ports}) == len(ports),
    "port number cannot be duplicated",
)
SELECTOR_VALUE = Schema(
    "string", rules=((lambda value: "*" not in value, "wildcard is not supported in selector"),)
)
SE_RULES: tuple[Rule, ...] = (
    (
        lambda spec: not ("workloadSelector" in spec and "endpoints" in spec),
        "only one of WorkloadSelector or Endpoints can be set",
    ),
    (
        lambda spec: not _has_cidr_and_resolves(spec),
        "CIDR addresses are allowed only for NONE/STATIC resolution types",
    ),
    (
        lambda spec: spec.get("resolution", "NONE") != "NONE" or "endpoints" not in spec,
        "NONE mode cannot set endpoints",
    ),
    (
        lambda spec: (
            spec.get("resolution") != "DNS_ROUND_ROBIN" or len(spec.get("endpoints", ())) <= 1
        ),
        "DNS_ROUND_ROBIN mode cannot have multiple endpoints",
    ),
)
SERVICE_ENTRY = _obj(
    _fields("addresses exportTo subjectAltNames", STRINGS)
    | {
        "endpoints": _array(SE_ENDPOINT),
        "hosts": _array(SE_HOST, min_items=1),
        "location": Schema("string", enum=("MESH_EXTERNAL", "MESH_INTERNAL")),
        "ports": _array(SE_PORT, map_keys=("name",), rules=(SE_UNIQUE_NUMBERS,)),
        "resolution": Schema("string", enum=RESOLUTIONS),
        "workloadSelector": _obj({"labels": Schema("object", values=SELECTOR_VALUE)}),
    },
    required=["hosts"],
    rules=SE_RULES,
)

# VirtualService
STRING_MATCH = _obj(_fields("exact prefix regex", STRING), one_of=("exact", "prefix", "regex"))
DESTINATION = _obj(
    {"host": STRING, "subset": STRING, "port": _obj({"number": UINT32})}, required=["host"]
)
ROUTE_DESTINATION = _obj({"destination": DESTINATION, "weight": INT32}, required=["destination"])
HTTP_ROUTE_DESTINATION = _obj(
    {"destination": DESTINATION, "weight": INT32, "headers": OPAQUE}, required=["destination"]
)
HTTP_MATCH = _obj(
    _fields("authority headers method queryParams scheme withoutHeaders", OPAQUE)
    | _fields("name sourceNamespace statPrefix", STRING)
    | {"gateways": STRINGS, "ignoreUriCase": BOOLEAN, "port": UINT32}
    | {"sourceLabels": STRING_MAP, "uri": STRING_MATCH}
)
HTTP_RETRY = _obj(
    _fields("backoff perTryTimeout", DURATION)
    | _fields("retryIgnorePreviousHosts retryRemoteLocalities", BOOLEAN)
    | {"attempts": INT32, "retryOn": STRING}
)
HTTP_ROUTE = _obj(
    _fields("corsPolicy delegate directResponse fault headers mirror redirect rewrite", OPAQUE)
    | _fields("mirrorPercentage", OPAQUE)
    | _fields("mirrorPercent mirror_percent", UINT32)
    | {"match": _array(HTTP_MATCH), "mirrors": _array(OPAQUE), "name": STRING}
    | {"retries": HTTP_RETRY, "route": _array(HTTP_ROUTE_DESTINATION), "timeout": DURATION}
)
L4_MATCH = _fields("destinationSubnets gateways", STRINGS) | {
    "port": UINT32,
    "sourceLabels": STRING_MAP,
    "sourceNamespace": STRING,
}
TCP_ROUTE = _obj(
    {
        "match": _array(_obj(L4_MATCH | {"sourceSubnet": STRING})),
        "route": _array(ROUTE_DESTINATION),
    }
)
TLS_MATCH = _obj(L4_MATCH | {"sniHosts": STRINGS}, required=["sniHosts"])
TLS_ROUTE = _obj(
    {"match": _array(TLS_MATCH), "route": _array(ROUTE_DESTINATION)}, required=["match"]
)
VIRTUAL_SERVICE = _obj(
    _fields("exportTo gateways hosts", STRINGS)
    | {"http": _array(HTTP_ROUTE), "tcp": _array(TCP_ROUTE), "tls": _array(TLS_ROUTE)}
)


def _resource(spec: Schema) -> Schema:
    envelope = {"apiVersion": STRING, "kind": STRING, "metadata": OBJECT_META}
    return _obj(envelope | {"spec": spec, "status": OPAQUE}, required=["spec"])


SCHEMAS: Mapping[str, Schema] = {
    "ServiceEntry": _resource(SERVICE_ENTRY),
    "VirtualService": _resource(VIRTUAL_SERVICE),
}


@dataclass(frozen=True)
class _FieldError:
    """Kubernetes' ``field.Error``: the path, then the body (type, value, detail)."""

    path: str
    body: str
    blocking: bool = False  # such errors stop the CEL rules from running

    def __str__(self) -> str:
        return f"{self.path}: {self.body}"


# The API server's note when a blocking error kept the CEL rules from running.
_RULES_SKIPPED = _FieldError(
    "<nil>",
    "Invalid value: null: some validation rules were not checked because the object was "
    "invalid; correct the existing errors to complete validation",
)


def _unknown_fields(value: Any, schema: Schema, path: str) -> Iterator[str]:
    """Paths the strict decoder does not know, in JSON (sorted key) order."""
    if schema.preserve_unknown:
        return
    if schema.type == "object" and isinstance(value, Mapping):
        for key in sorted(value, key=str):
            child = schema.properties.get(key, schema.values)
            if child is None:
                yield _join(path, key)
            else:
                yield from _unknown_fields(value[key], child, _join(path, key))
    elif schema.type == "array" and isinstance(value, list) and schema.items:
        for index, item in enumerate(value):
            yield from _unknown_fields(item, schema.items, f"{path}[{index}]")


def _schema_errors(value: Any, schema: Schema, path: str) -> Iterator[_FieldError]:
    """The OpenAPI checks, worded as the API server converts kube-openapi's results."""
    if schema.type == "any":
        return
    actual = _type_name(value)
    if actual != schema.type and not (schema.type == "integer" and _is_integral(value)):
        detail = f"{path} in body must be of type {schema.type}: {_quote(actual)}"
        yield _FieldError(path, f"Invalid value: {_quote(actual)}: {detail}", blocking=True)
        return
    if schema.enum and value not in schema.enum:
        supported = ", ".join(map(_quote, schema.enum))
        body = f"Unsupported value: {_render(value)}: supported values: {supported}"
        yield _FieldError(path, body, blocking=True)
    if schema.minimum is not None and value < schema.minimum:
        detail = f"should be greater than or equal to {_go_float(schema.minimum)}"
        yield _FieldError(path, f"Invalid value: {_render(value)}: {path} in body {detail}")
    if schema.maximum is not None and value > schema.maximum:
        detail = f"should be less than or equal to {_go_float(schema.maximum)}"
        yield _FieldError(path, f"Invalid value: {_render(value)}: {path} in body {detail}")
    if schema.min_items is not None and len(value) < schema.min_items:
        detail = f"{path} in body should have at least {schema.min_items} items"
        yield _FieldError(path, f"Invalid value: {len(value)}: {detail}")
    if schema.type == "object":
        yield from _object_errors(value, schema, path)
    elif schema.type == "array" and schema.items:
        for index, item in enumerate(value):
            yield from _schema_errors(item, schema.items, f"{path}[{index}]")


def _object_errors(value: Mapping[str, Any], schema: Schema, path: str) -> Iterator[_FieldError]:
    for name in schema.required:
        if value.get(name) is None:  # the API server prunes nulls of non-nullable fields
            yield _FieldError(_join(path, name), "Required value", blocking=True)
    alternatives = [name for name in schema.one_of if value.get(name) is not None]
    if len(alternatives) > 1:
        detail = f"{_quote(path)} must validate one and only one schema (oneOf). "
        yield _FieldError(
            "<nil>", f'Invalid value: "": {detail}Found {len(alternatives)} valid alternatives'
        )
    for name, child in schema.properties.items():
        if value.get(name) is not None:
            yield from _schema_errors(value[name], child, _join(path, name))
    if schema.values:
        for key, item in value.items():
            yield from _schema_errors(item, schema.values, _join(path, key))


def _duplicate_keys(value: Any, schema: Schema, path: str) -> Iterator[_FieldError]:
    """``x-kubernetes-list-type: map``: no two items may share their key fields."""
    if isinstance(value, list) and schema.items:
        if schema.map_keys:
            seen: set[str] = set()
            for index, item in enumerate(value):
                if not isinstance(item, Mapping):
                    continue
                key = {name: item[name] for name in schema.map_keys if name in item}
                if json.dumps(key, sort_keys=True) in seen:
                    yield _FieldError(f"{path}[{index}]", f"Duplicate value: {_go_map(key)}")
                seen.add(json.dumps(key, sort_keys=True))
        for index, item in enumerate(value):
            yield from _duplicate_keys(item, schema.items, f"{path}[{index}]")
    elif isinstance(value, Mapping):
        for name, child in schema.properties.items():
            if value.get(name) is not None:
                yield from _duplicate_keys(value[name], child, _join(path, name))


def _rule_errors(value: Any, schema: Schema, path: str) -> Iterator[_FieldError]:
    """The CEL rules, a node's own before its children's, as the API server runs them."""
    for check, message in schema.rules:
        try:
            passed = check(value)
        except _RuleError as error:
            detail = f"Invalid value: {_quote(schema.type)}: {error} evaluating rule: {message}"
            yield _FieldError(path, detail)
            continue
        if not passed:
            yield _FieldError(path, f"{_rule_value(value, schema)}{message}")
    if schema.type == "object" and isinstance(value, Mapping):
        for name, child in schema.properties.items():
            if value.get(name) is not None:
                yield from _rule_errors(value[name], child, _join(path, name))
        if schema.values:
            for key, item in value.items():
                yield from _rule_errors(item, schema.values, f"{path}[{key}]")
    elif schema.type == "array" and schema.items:
        for index, item in enumerate(value):
            yield from _rule_errors(item, schema.items, f"{path}[{index}]")


def _rule_value(value: Any, schema: Schema) -> str:
    """How Kubernetes (1.36) prints the value a failed CEL rule looked at: scalars as
    themselves, objects and lists not at all; a rule that failed to evaluate names the
    type instead (see _RuleError)."""
    if schema.type in ("object", "array"):
        return "Invalid value: "
    return f"Invalid value: {_render(value)}: "


# Layer 4: Istio's validating webhook ------------------------------------------------------

_LABEL = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_WILDCARD_LABEL = re.compile(r"\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_NUMERIC = re.compile(r"[+-]?[0-9]+")


def _is_port_name(name: str) -> bool:
    return len(name) < 63 and _LABEL.fullmatch(name) is not None


def _is_label(text: str, pattern: re.Pattern[str] = _LABEL) -> bool:
    return len(text) <= 63 and pattern.fullmatch(text) is not None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _domain_error(domain: str, *, wildcard: bool = False) -> str | None:
    """Istio's checks of an FQDN, or of a host whose first label may be a wildcard."""
    if len(domain) > 255:
        return f"domain name {_quote(domain)} too long (max 255)"
    if not domain:
        return "empty domain name not allowed"
    if not wildcard:
        return _labels_error(domain)
    first, dot, rest = domain.partition(".")
    if not _is_label(first, _WILDCARD_LABEL):
        return f"domain name {_quote(domain)} invalid (label {_quote(first)} invalid)"
    return _labels_error(rest) if dot else None


def _labels_error(domain: str) -> str | None:
    labels = domain.split(".")
    if _NUMERIC.fullmatch(labels[-1]):
        top = _quote(labels[-1])
        return (
            f"domain name {_quote(domain)} invalid (top level domain {top} cannot be all-numeric)"
        )
    for index, label in enumerate(labels):
        if index == len(labels) - 1 and not label:  # a trailing dot, as in "istio.io."
            return None
        if not _is_label(label):
            return f"domain name {_quote(domain)} invalid (label {_quote(label)} invalid)"
    return None


def _subnet_error(address: str) -> str | None:
    if address.count("/") == 1:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            return f"{address} is not a valid CIDR block"
        return None
    return None if _is_ip(address) else f"{address} is not a valid IP"


def _port_error(number: int) -> str | None:
    return None if 1 <= number <= 65535 else f"port number {number} must be in the range 1..65535"


def _precision_error(text: str) -> str | None:
    return (
        None if _nanoseconds(text) % 10**6 == 0 else "only durations to ms precision are supported"
    )


def _service_entry_webhook(spec: Mapping[str, Any]) -> list[str | None]:
    hosts, ports = spec["hosts"], spec.get("ports", [])
    resolution = spec.get("resolution", "NONE")
    endpoints = spec.get("endpoints", [])
    port_names = {port["name"] for port in ports}
    errors = [_domain_error(host, wildcard=True) for host in hosts]
    errors += [_subnet_error(address) for address in spec.get("addresses", ())]
    for port in ports:
        protocol = port.get("protocol", "")  # empty means "sniffed"
        errors.append(None if _is_label(port["name"]) else f"invalid port name: {port['name']}")
        errors.append(
            None
            if not protocol or protocol.upper() in PROTOCOLS
            else f"unsupported protocol: {protocol}"
        )
    if resolution in ("DNS", "DNS_ROUND_ROBIN") and not endpoints:
        fqdn_needed = (
            "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided "
            f"for resolution mode {resolution}"
        )
        errors += [f"{fqdn_needed}, {_domain_error(host)}" for host in hosts if _domain_error(host)]
    if resolution in ("STATIC", "DNS", "DNS_ROUND_ROBIN"):
        for endpoint in endpoints:
            errors += _endpoint_errors(endpoint, port_names, allow_fqdn=resolution != "STATIC")
    if resolution != "NONE" and len(hosts) > 1 and not all(map(_differentiates_hosts, ports)):
        errors.append("multiple hosts provided with non-HTTP, non-TLS ports")
    return errors


def _differentiates_hosts(port: Mapping[str, Any]) -> bool:
    """HTTP has the Host header and TLS the SNI; plain TCP cannot tell hosts apart."""
    return port.get("protocol", "").upper() in HTTP_PROTOCOLS | TLS_PROTOCOLS


def _endpoint_errors(
    endpoint: Mapping[str, Any], port_names: set[str], *, allow_fqdn: bool
) -> list[str | None]:
    address = endpoint.get("address", "")
    errors: list[str | None] = []
    if address.startswith("unix://"):
        pass  # a Unix domain socket: the CRD checks its form
    elif not allow_fqdn and address and not _is_ip(address):
        errors.append(f"endpoint address {_quote(address)} is not a valid IP address")
    elif allow_fqdn and not _is_ip(address) and _domain_error(address):
        errors.append(f"endpoint address {_quote(address)} is not a valid FQDN or an IP address")
    for name, number in endpoint.get("ports", {}).items():
        if name not in port_names:
            errors.append(f"endpoint port {number} is not defined by the service entry")
    return errors


def _virtual_service_webhook(spec: Mapping[str, Any]) -> list[str | None]:
    hosts, gateways = spec.get("hosts", []), spec.get("gateways", [])
    http, tcp, tls = spec.get("http", []), spec.get("tcp", []), spec.get("tls", [])
    errors: list[str | None] = []
    if not hosts:  # a delegate, only reachable from a gateway's VirtualService
        errors.append(
            "delegate virtual service must have no gateways specified" if gateways else None
        )
        errors.append("delegate virtual service must have no tls route specified" if tls else None)
        errors.append("delegate virtual service must have no tcp route specified" if tcp else None)
    errors += _gateway_errors(gateways)
    errors += _virtual_host_errors(hosts, to_mesh=not gateways or "mesh" in gateways)
    if not (http or tcp or tls):
        errors.append("http, tcp or tls must be provided in virtual service")
    for route in http:
        errors += _http_route_errors(route)
    for route in tls:
        errors += _tls_route_errors(route, hosts)
    for route in tcp:
        errors += [_port_error(m["port"]) for m in route.get("match", ()) if m.get("port")]
        errors.append(None if route.get("route") else "TCP route is required")
        errors += _destinations_errors(route.get("route", []))
    return errors


def _gateway_errors(gateways: Sequence[str]) -> list[str | None]:
    errors: list[str | None] = []
    for name in gateways:
        namespace, slash, gateway = name.partition("/")
        if not slash:
            return [*errors, _domain_error(name)]  # Istio stops at the first short name
        if not (namespace and gateway):
            errors.append("config namespace and gateway name cannot be empty")
        if not _is_label(namespace):
            errors.append(f"invalid value for namespace: {_quote(namespace)}")
        if not _is_label(gateway):
            errors.append(f"invalid value for gateway name: {_quote(gateway)}")
    return errors


def _virtual_host_errors(hosts: Sequence[str], *, to_mesh: bool) -> list[str | None]:
    errors: list[str | None] = []
    for host in hosts:
        error = _domain_error(host, wildcard=True)
        if error and not _is_ip(host):
            errors.append(error)
        elif to_mesh and host == "*":
            errors.append(
                "wildcard host * is not allowed for virtual services bound to the mesh gateway"
            )
    if not any(errors):
        for index, first in enumerate(hosts):
            for second in hosts[index + 1 :]:
                if _overlap(first, second):
                    errors.append(f"duplicate hosts in virtual service: {first} & {second}")
    return errors


def _overlap(first: str, second: str) -> bool:
    """Istio's ``host.Name.Matches``: equal, or one wildcard covering the other."""
    if first.startswith("*") and second.startswith("*"):
        shorter, longer = sorted((first[1:], second[1:]), key=len)
        return longer.endswith(shorter)
    if first.startswith("*"):
        return second.endswith(first[1:])
    if second.startswith("*"):
        return first.endswith(second[1:])
    return first == second


def _subset_of(host: str, of: str) -> bool:
    """Istio's ``host.Name.SubsetOf``: every name ``host`` matches, ``of`` matches too."""
    if host.startswith("*"):
        return of.startswith("*") and host[1:].endswith(of[1:])
    return host.endswith(of[1:]) if of.startswith("*") else host == of


def _http_route_errors(route: Mapping[str, Any]) -> list[str | None]:
    errors: list[str | None] = []
    destinations = route.get("route", [])
    if "delegate" not in route:
        if "redirect" in route and destinations:
            errors.append("HTTP route cannot contain both route and redirect")
        elif "directResponse" in route and destinations:
            errors.append("HTTP route cannot contain both route and direct_response")
        elif not ("redirect" in route or "directResponse" in route or destinations):
            errors.append("HTTP route, redirect or direct_response is required")
    for match in route.get("match", ()):
        errors.append(_regex_error(match.get("uri", {}).get("regex")))
        errors.append(_port_error(match["port"]) if match.get("port") else None)
    errors += _retry_errors(route.get("retries"))
    errors += _destinations_errors(destinations)
    errors.append(_precision_error(route["timeout"]) if "timeout" in route else None)
    return errors


def _regex_error(regex: str | None) -> str | None:
    if regex is None:
        return None
    if not regex:
        return '"uri": regex string match should not be empty'
    if len(regex) > 1024:
        return '"uri": regex is too large, max length allowed is 1024'
    try:
        re.compile(regex)
    except re.error as error:  # Python's reason; RE2 words it differently
        return (
            f'"uri": error parsing regexp: {error}; Istio uses RE2 style regex-based match '
            "(https://github.com/google/re2/wiki/Syntax)"
        )
    return None


def _retry_errors(retries: Mapping[str, Any] | None) -> list[str | None]:
    if retries is None:
        return []
    attempts = retries.get("attempts", 0)
    configured = retries.get("retryOn") or {"perTryTimeout", "retryRemoteLocalities"} & set(retries)
    errors: list[str | None] = [
        "attempts cannot be negative" if attempts < 0 else None,
        "http retry policy configured when attempts are set to 0 (disabled)"
        if attempts == 0 and configured
        else None,
    ]
    errors += [
        _precision_error(retries[key]) for key in ("perTryTimeout", "backoff") if key in retries
    ]
    for policy in retries["retryOn"].split(",") if retries.get("retryOn") else ():
        if policy not in RETRY_ON and not _is_status_code(policy):
            errors.append(f"{_quote(policy)} is not a valid retryOn policy")
    return errors


def _is_status_code(text: str) -> bool:
    try:
        HTTPStatus(int(text))
    except ValueError:
        return False
    return True


def _destinations_errors(destinations: Sequence[Mapping[str, Any]]) -> list[str | None]:
    errors: list[str | None] = []
    for target in destinations:
        destination = target["destination"]
        host, subset = destination["host"], destination.get("subset", "")
        if host == "*":
            errors.append(f"invalid destination host {host}")
        else:
            errors.append(_domain_error(host, wildcard=True))
        errors.append(
            None if not subset or _is_label(subset) else f"subset name is invalid: {subset}"
        )
        if "port" in destination:
            errors.append(_port_error(destination["port"].get("number", 0)))
        weight = target.get("weight", 0)
        errors.append(f"weight {weight} < 0" if weight < 0 else None)
    if len(destinations) > 1 and sum(target.get("weight", 0) for target in destinations) == 0:
        errors.append("total destination weight = 0")
    return errors


def _tls_route_errors(route: Mapping[str, Any], hosts: Sequence[str]) -> list[str | None]:
    errors: list[str | None] = []
    if not route["match"]:
        errors.append("TLS route must have at least one match condition")
    for match in route["match"]:
        if not match["sniHosts"]:
            errors.append("TLS match must have at least one SNI host")
        for sni in match["sniHosts"]:
            error = _domain_error(sni, wildcard=True)
            if error:
                errors.append(None if _is_ip(sni) else error)  # an IP only draws a warning
            elif not any(_subset_of(sni, host) for host in hosts):
                errors.append(
                    f"SNI host {_quote(sni)} is not a compatible subset of any of the virtual "
                    f"service hosts: [{', '.join(hosts)}]"
                )
        errors.append(_port_error(match["port"]) if match.get("port") else None)
    errors.append(None if route.get("route") else "TLS route is required")
    errors += _destinations_errors(route.get("route", []))
    return errors


WEBHOOKS: Mapping[str, Callable[[Mapping[str, Any]], list[str | None]]] = {
    "ServiceEntry": _service_entry_webhook,
    "VirtualService": _virtual_service_webhook,
}


# The whole admission ----------------------------------------------------------------------

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{_SUBDOMAIN}')"
)


def validate(document: Mapping[str, Any]) -> None:
    """Refuse ``document`` as ``kubectl apply`` against Istio 1.30 would, or return.

    Raises InvalidResource with the first layer's refusal, on one line.
    """
    kind, version = _served_kind(document)
    document = _pruned(document)
    schema = SCHEMAS[kind]
    unknown = list(_unknown_fields(document, schema, ""))
    if unknown:
        fields = ", ".join(f"unknown field {_quote(path)}" for path in unknown)
        raise InvalidResource(
            f"{kind} in version {_quote(version)} cannot be handled as a {kind}: "
            f"strict decoding error: {fields}"
        )
    errors = [*_metadata_errors(document.get("metadata")), *_schema_errors(document, schema, "")]
    errors += _duplicate_keys(document, schema, "")
    if any(error.blocking for error in errors):
        errors.append(_RULES_SKIPPED)
    else:
        errors += _rule_errors(document, schema, "")
    if errors:
        raise InvalidResource(_invalid(kind, document, errors))
    denials = [error for error in WEBHOOKS[kind](document["spec"]) if error]
    if denials:
        raise InvalidResource(_denied(denials))
    resolution = document["spec"].get("resolution", "NONE")
    if kind == "ServiceEntry" and resolution not in LOCAL_RESOLUTIONS:
        supported = ", ".join(sorted(LOCAL_RESOLUTIONS, key=RESOLUTIONS.index))
        raise InvalidResource(
            f"spec.resolution: {resolution} is valid in Istio but not supported by this suite's "
            f"local mesh, which implements {supported}"
        )


def _served_kind(document: Mapping[str, Any]) -> tuple[str, str]:
    """kubectl's checks before anything reaches the server: the kind and version."""
    kubectl.check_kind_set(document)
    api_version, kind = document.get("apiVersion"), str(document.get("kind"))
    group, _, version = str(api_version).rpartition("/")
    if group == GROUP and kind in OTHER_KINDS:
        raise InvalidResource(_not_local(kind, api_version))
    if group == GROUP and (version not in VERSIONS or kind not in SCHEMAS):
        raise InvalidResource(kubectl.mapping_not_found(document))
    if group != GROUP:
        raise InvalidResource(_not_local(kind, api_version))
    return kind, version


def _pruned(value: Any) -> Any:
    """The object without null fields: the API server drops them before validating."""
    if isinstance(value, Mapping):
        return {key: _pruned(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def _not_local(kind: str, api_version: Any) -> str:
    return (
        f"kind {_quote(kind)} ({api_version}) is not implemented by the local mesh's model "
        "control plane, which applies only networking.istio.io ServiceEntry and "
        "VirtualService: use --control-plane istiod"
    )


def _metadata_errors(metadata: Any) -> Iterator[_FieldError]:
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if name is None:
        yield _FieldError("metadata.name", "Required value: name or generateName is required", True)
    elif isinstance(name, str):
        invalid = f"Invalid value: {_quote(name)}"
        if len(name) > 253:
            yield _FieldError("metadata.name", f"{invalid}: must be no more than 253 characters")
        if not re.fullmatch(_SUBDOMAIN, name):
            yield _FieldError("metadata.name", f"{invalid}: {_SUBDOMAIN_MESSAGE}")


def _invalid(kind: str, document: Mapping[str, Any], errors: Sequence[_FieldError]) -> str:
    """kubectl's rendering of the API server's Invalid status."""
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    causes = str(errors[0]) if len(errors) == 1 else f"[{', '.join(map(str, errors))}]"
    return f"The {kind} {_quote(name if isinstance(name, str) else '')} is invalid: {causes}"


def _denied(errors: Sequence[str]) -> str:
    """kubectl's rendering of the webhook's denial: Istio's multierror list, on one line."""
    reason = (
        errors[0]
        if len(errors) == 1
        else f"{len(errors)} errors occurred: " + " ".join(f"* {error}" for error in errors)
    )
    denial = f"admission webhook {_quote(WEBHOOK)} denied the request"
    return f"{denial}: configuration is invalid: {reason}"


# Go's and Kubernetes' renderings ----------------------------------------------------------


def _quote(text: str) -> str:
    """Go's ``%q`` of the strings that reach these messages."""
    return json.dumps(text, ensure_ascii=False)


def _render(value: Any) -> str:
    """How ``field.Error`` prints a bad value: strings quoted, numbers and booleans bare."""
    if isinstance(value, bool):
        return str(value).lower()
    return _quote(value) if isinstance(value, str) else str(value)


def _go_map(key: Mapping[str, Any]) -> str:
    """How Kubernetes (1.36) prints a duplicated list-map key: compact JSON."""
    return json.dumps(dict(key), separators=(",", ":"), ensure_ascii=False)


def _go_float(number: int) -> str:
    """How Kubernetes (1.36) prints a schema bound: the integer as written."""
    return str(number)


def _type_name(value: Any) -> str:
    """The JSON type the API server sees for a value parsed from YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "string"  # str, and YAML timestamps, which kubectl sends as strings


def _is_integral(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
