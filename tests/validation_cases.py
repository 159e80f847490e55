"""The manifests the validation tests send: the page's own, and mistakes a reader makes.

Each case is a manifest and an id; what Istio answers for it is in
clusters/istio/recorded/validation.json (Istio's own words, recorded from the pinned build).
"""

from __future__ import annotations

import textwrap

from fixtures.page import manifests

HTTPBIN_PORTS = """\
ports:
- number: 80
  name: http
  protocol: HTTP
"""


def resource(kind: str, *spec: str, name: str = "httpbin-ext", version: str = "v1") -> str:
    """A manifest as the page writes one; ``spec`` holds the YAML under ``spec:``."""
    header = f"apiVersion: networking.istio.io/{version}\nkind: {kind}\nmetadata:\n  name: {name}\n"
    body = "".join(map(textwrap.dedent, spec))
    return header + "spec:\n" + textwrap.indent(body, "  ")


def service_entry(*spec: str, **kw: str) -> str:
    return resource("ServiceEntry", *spec, **kw)


def virtual_service(*spec: str, **kw: str) -> str:
    return resource("VirtualService", *spec, **kw)


# The page's own resources ----------------------------------------------------------------


def spec_of(manifest: str) -> str:
    """The YAML under ``spec:`` of one of the page's manifests."""
    return textwrap.dedent(manifest.split("spec:\n", 1)[1])


HTTPBIN_EXT = spec_of(manifests.httpbin_service_entry())
GOOGLE = spec_of(manifests.google_service_entry())
HTTPBIN_TIMEOUT = spec_of(manifests.httpbin_timeout_virtual_service())


# id -> manifest, in the order of the tables they came from: accepted ones first.
CASES: dict[str, str] = {
    "page-httpbin-ext-v1alpha3": service_entry(HTTPBIN_EXT, version="v1alpha3"),
    "page-httpbin-ext-v1": service_entry(HTTPBIN_EXT),
    "page-google-v1alpha3": service_entry(GOOGLE, name="google", version="v1alpha3"),
    "page-google-v1": service_entry(GOOGLE, name="google"),
    "page-vs-v1alpha3": virtual_service(HTTPBIN_TIMEOUT, version="v1alpha3"),
    "page-vs-v1": virtual_service(HTTPBIN_TIMEOUT),
    "page-vs-v1beta1": virtual_service(HTTPBIN_TIMEOUT, version="v1beta1"),
    "wildcard-host-with-resolution-none": service_entry(
        "hosts: ['*.example.com']\nresolution: NONE\n" + HTTPBIN_PORTS
    ),
    "resolution-defaults-to-none": service_entry("hosts: ['*.example.com']\n" + HTTPBIN_PORTS),
    "wildcard-host-with-dns-endpoint": service_entry(
        """\
            hosts: ['*.example.com']
            resolution: DNS
            endpoints: [{address: httpbin.org}]
            """,
        HTTPBIN_PORTS,
    ),
    "static-with-endpoints-and-cidr": service_entry(
        """\
            hosts: [api.example.com]
            addresses: [192.0.2.0/24]
            resolution: STATIC
            endpoints:
            - {address: 192.0.2.10, ports: {http: 8080}, labels: {app: api}, weight: 3}
            """,
        HTTPBIN_PORTS,
    ),
    "weights-need-not-add-up-to-100": virtual_service(
        """\
            hosts: [httpbin.org]
            http:
            - name: split
              match: [{uri: {prefix: /status}, port: 80}]
              route:
              - {destination: {host: httpbin.org, subset: v1, port: {number: 80}}, weight: 30}
              - {destination: {host: httpbin.org, subset: v2}, weight: 30}
              retries: {attempts: 3, perTryTimeout: 1m30s, retryOn: "5xx,connect-failure,503"}
            """
    ),
    "tls-and-tcp-routes": virtual_service(
        """\
            hosts: [www.google.com]
            tls:
            - match: [{port: 443, sniHosts: [www.google.com]}]
              route: [{destination: {host: www.google.com, port: {number: 443}}}]
            tcp:
            - route: [{destination: {host: www.google.com}}]
            """
    ),
    "metadata-and-status-pass": virtual_service(
        "hosts: [httpbin.org]\nhttp: [{route: [{destination: {host: a.b}}]}]\n"
    ).replace("name: httpbin-ext", "name: httpbin-ext\n  namespace: default\n  labels: {a: b}")
    + "status: {validationMessages: []}\n",
    "unserved-version": service_entry(HTTPBIN_EXT, version="v2"),
    "misspelt-kind": resource("ServiceEntri", HTTPBIN_EXT),
    "no-apiversion": service_entry(HTTPBIN_EXT).replace("apiVersion: networking.istio.io/v1\n", ""),
    "name-not-dns-subdomain": service_entry(HTTPBIN_EXT, name="Foo_Bar"),
    "unknown-field": service_entry("hostz: [httpbin.org]\n"),
    "unknown-field-in-a-list": service_entry(
        HTTPBIN_EXT.replace("  name: http\n", "  nmae: http\n"), version="v1alpha3"
    ),
    "hosts-not-a-list": service_entry("hosts: httpbin.org\n"),
    "resolution-enum": service_entry(HTTPBIN_EXT.replace("resolution: DNS", "resolution: DSN")),
    "port-number-required": service_entry(HTTPBIN_EXT.replace("- number: 80\n  name", "- name")),
    "port-number-above-65535": service_entry(HTTPBIN_EXT.replace("number: 80", "number: 70000")),
    "port-number-negative": service_entry(HTTPBIN_EXT.replace("number: 80", "number: -1")),
    "port-number-beyond-uint32": service_entry(
        HTTPBIN_EXT.replace("number: 80", "number: 5000000000")
    ),
    "bare-wildcard-host": service_entry(HTTPBIN_EXT.replace("- httpbin.org", "- '*'")),
    "endpoints-with-resolution-none": service_entry(
        """\
            hosts: [httpbin.org]
            endpoints: [{address: 203.0.113.10}]
            """
    ),
    "duplicate-port-number": service_entry(
        "hosts: [httpbin.org]\n", HTTPBIN_PORTS, "- number: 80\n  name: http-alt\n"
    ),
    "timeout-not-a-duration": virtual_service(HTTPBIN_TIMEOUT.replace("3s", "3x")),
    "timeout-below-1ms": virtual_service(HTTPBIN_TIMEOUT.replace("3s", "500us")),
    "destination-host-required": virtual_service(
        HTTPBIN_TIMEOUT.replace("host: httpbin.org", "subset: v1")
    ),
    "unsupported-protocol": service_entry(HTTPBIN_EXT.replace("protocol: HTTP", "protocol: FOO")),
    "wildcard-host-with-dns": service_entry(
        HTTPBIN_EXT.replace("- httpbin.org", "- '*.httpbin.org'")
    ),
    "two-webhook-errors": service_entry(
        HTTPBIN_EXT.replace("- httpbin.org", "- '*.httpbin.org'").replace(
            "name: http\n", "name: http_1\n"
        )
    ),
    "no-routes": virtual_service("hosts: [httpbin.org]\n"),
    "destination-rule": resource("DestinationRule", "host: httpbin.org\n"),
    "not-an-istio-resource": "apiVersion: v1\nkind: Service\nmetadata: {name: httpbin}\nspec: {}\n",
    "name-required": service_entry(HTTPBIN_EXT).replace(
        "  name: httpbin-ext\n", "  labels: {app: x}\n"
    ),
    "spec-required": (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\n"
    ),
    "no-hosts": service_entry("hosts: []\n"),
    "null-hosts-pruned": service_entry("hosts:\n"),
    "port-number-quoted": service_entry(HTTPBIN_EXT.replace("number: 80", 'number: "80"')),
    "location-enum": service_entry(HTTPBIN_EXT.replace("MESH_EXTERNAL", "EXTERNAL")),
    "duplicate-port-name": service_entry(
        "hosts: [httpbin.org]\n", HTTPBIN_PORTS, "- number: 8080\n  name: http\n"
    ),
    "target-port-zero": service_entry(
        HTTPBIN_EXT.replace("  protocol: HTTP\n", "  targetPort: 0\n")
    ),
    "cidr-with-dns": service_entry(HTTPBIN_EXT + "addresses: [192.0.2.0/24]\n"),
    "endpoint-address-required": service_entry(
        """\
            hosts: [httpbin.org]
            resolution: DNS
            endpoints: [{ports: {http: 80}}]
            """
    ),
    "endpoint-port-zero": service_entry(
        """\
            hosts: [httpbin.org]
            resolution: STATIC
            endpoints: [{address: 203.0.113.10, ports: {http: 0}}]
            """
    ),
    "destination-required": virtual_service(
        HTTPBIN_TIMEOUT.replace("    - destination:\n        host: httpbin.org\n      ", "    - ")
    ),
    "per-try-timeout-not-a-duration": virtual_service(
        HTTPBIN_TIMEOUT + "  retries: {attempts: 2, perTryTimeout: 2 s}\n"
    ),
    "uri-two-match-kinds": virtual_service(
        """\
            hosts: [httpbin.org]
            http:
            - match: [{uri: {exact: /headers, prefix: /}}]
              route: [{destination: {host: httpbin.org}}]
            """
    ),
    "weight-not-a-number": virtual_service(HTTPBIN_TIMEOUT.replace("weight: 100", "weight: ten")),
    "host-label-invalid": service_entry(HTTPBIN_EXT.replace("- httpbin.org", "- httpbin_org.com")),
    "ip-as-host": service_entry("hosts: [203.0.113.10]\nresolution: NONE\n", HTTPBIN_PORTS),
    "static-endpoint-not-an-ip": service_entry(
        """\
            hosts: [httpbin.org]
            resolution: STATIC
            endpoints: [{address: httpbin.org}]
            """,
        HTTPBIN_PORTS,
    ),
    "endpoint-port-undefined": service_entry(
        """\
            hosts: [httpbin.org]
            resolution: STATIC
            endpoints: [{address: 203.0.113.10, ports: {https: 443}}]
            """,
        HTTPBIN_PORTS,
    ),
    "multiple-hosts-tcp": service_entry(
        HTTPBIN_EXT.replace("- httpbin.org", "- httpbin.org\n- example.org").replace("HTTP", "TCP")
    ),
    "address-not-an-ip": service_entry("hosts: [httpbin.org]\naddresses: [203.0.113.300]\n"),
    "timeout-below-ms-precision": virtual_service(HTTPBIN_TIMEOUT.replace("3s", "1500us")),
    "negative-weight": virtual_service(HTTPBIN_TIMEOUT.replace("weight: 100", "weight: -1")),
    "weights-all-zero": virtual_service(
        HTTPBIN_TIMEOUT.replace("weight: 100", "weight: 0")
        + "    - destination: {host: httpbin.org, subset: v2}\n      weight: 0\n"
    ),
    "negative-attempts": virtual_service(HTTPBIN_TIMEOUT + "  retries: {attempts: -1}\n"),
    "retry-on-without-attempts": virtual_service(HTTPBIN_TIMEOUT + "  retries: {retryOn: 5xx}\n"),
    "retry-on-unknown-policy": virtual_service(
        HTTPBIN_TIMEOUT + "  retries: {attempts: 2, retryOn: '5xx,sometimes'}\n"
    ),
    "wildcard-vs-host": virtual_service(HTTPBIN_TIMEOUT.replace("  - httpbin.org", "  - '*'")),
    "wildcard-destination": virtual_service(
        HTTPBIN_TIMEOUT.replace("host: httpbin.org", "host: '*'")
    ),
    "overlapping-hosts": virtual_service(
        HTTPBIN_TIMEOUT.replace("  - httpbin.org", "  - httpbin.org\n  - '*.org'")
    ),
    "destination-port-zero": virtual_service(
        HTTPBIN_TIMEOUT.replace("host: httpbin.org", "host: httpbin.org\n        port: {}")
    ),
    "http-without-route": virtual_service("hosts: [httpbin.org]\nhttp: [{timeout: 3s}]\n"),
    "sni-outside-hosts": virtual_service(
        """\
            hosts: [www.google.com]
            tls:
            - match: [{sniHosts: [edition.cnn.com]}]
              route: [{destination: {host: www.google.com}}]
            """
    ),
    "dynamic-dns": service_entry(
        "hosts: ['*.example.com']\nresolution: DYNAMIC_DNS\n" + HTTPBIN_PORTS
    ),
}
