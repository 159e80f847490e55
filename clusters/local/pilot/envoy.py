"""Small builders for Envoy v3 JSON shared by listeners, routes and clusters.

Everything is a plain JSON-ready dict in proto field names (snake_case), the way
``istioctl proxy-config ... -o json`` prints istiod's output, so a reader can diff the
two. Only what upstream Envoy understands is emitted: Istio's own extensions
(istio.stats, istio.metadata_exchange, istio.alpn) and anything needing SDS are left out.
"""

from __future__ import annotations

from typing import Any

from clusters.istio.accesslog import ISTIO_TEXT_FORMAT
from clusters.local.snapshot import MeshConfig

JSON = dict[str, Any]

TYPE_PREFIX = "type.googleapis.com/"
LISTENER_TYPE = TYPE_PREFIX + "envoy.config.listener.v3.Listener"
ROUTE_TYPE = TYPE_PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE = TYPE_PREFIX + "envoy.config.cluster.v3.Cluster"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

# istiod's ADS config source; the delivery layer (xds) rewrites it for file-based xDS.
ADS_CONFIG_SOURCE: JSON = {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}


def typed(message: str, **fields: Any) -> JSON:
    """A ``google.protobuf.Any``: the message's type URL plus its fields."""
    return {"@type": TYPE_PREFIX + message, **fields}


def extension(name: str, message: str, **fields: Any) -> JSON:
    """A named extension (filter, access logger) with its typed config."""
    return {"name": name, "typed_config": typed(message, **fields)}


def duration(seconds: float) -> str:
    """A protobuf JSON duration: ``3s``, ``0.5s``, ``0s``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def socket_address(address: str, port: int) -> JSON:
    return {"socket_address": {"address": address, "port_value": port}}


def access_log_format(mesh: MeshConfig) -> str:
    """meshConfig.accessLogFormat; Istio's default when empty, always newline-terminated."""
    text = mesh.access_log_format or ISTIO_TEXT_FORMAT
    return text if text.endswith("\n") else text + "\n"


def access_logs(mesh: MeshConfig, flags_filter: tuple[str, ...] = ()) -> list[JSON]:
    """The file access log of meshConfig.accessLogFile (none when it is empty).

    ``flags_filter`` restricts it to those response flags, as istiod does for the
    listener-level log of virtualOutbound (``NR``: no filter chain matched).
    """
    if not mesh.access_log_file:
        return []
    log = extension(
        "envoy.access_loggers.file",
        "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path=mesh.access_log_file,
        log_format={"text_format_source": {"inline_string": access_log_format(mesh)}},
    )
    if flags_filter:
        log["filter"] = {"response_flag_filter": {"flags": list(flags_filter)}}
    return [log]


def tcp_proxy(cluster: str, mesh: MeshConfig | None, stat_prefix: str | None = None) -> JSON:
    """A tcp_proxy network filter to one cluster; ``mesh=None`` means no access log."""
    config: JSON = {"stat_prefix": stat_prefix or cluster, "cluster": cluster}
    if mesh is not None and (logs := access_logs(mesh)):
        config["access_log"] = logs
    return extension(
        "envoy.filters.network.tcp_proxy",
        "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        **config,
    )


def listener_filter(kind: str) -> JSON:
    """The listener filters istiod uses, configured as istiod configures them."""
    if kind == "tls_inspector":
        # istiod lowers the read buffer from Envoy's 64 KiB default.
        return extension(
            "envoy.filters.listener.tls_inspector",
            "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
            initial_read_buffer_size=512,
        )
    if kind == "http_inspector":
        return extension(
            "envoy.filters.listener.http_inspector",
            "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
        )
    if kind == "original_dst":
        return extension(
            "envoy.filters.listener.original_dst",
            "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
        )
    raise ValueError(f"unknown listener filter {kind}")
