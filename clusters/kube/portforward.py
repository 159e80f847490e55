"""HTTP GETs to a port inside a pod, through the API server's port-forward, as istioctl
reads istiod's debug endpoints (15014) and a sidecar's Envoy admin (15000).

Both answer without a token only to a client on the pod's own loopback, which is where a
port-forward connects. An exec of ``pilot-discovery request`` or ``pilot-agent request``
gets the same answer, but starts a process in the pod for each read: about 130 ms on a
two-core kind node, against 2 ms for istiod's /debug/syncz over a forward kept open (one
websocket, one HTTP/1.1 connection with keep-alive). A run reads syncz a few hundred
times, so each (namespace, pod, port) keeps its forward until the pod changes.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward

from clusters.protocol import ClusterError

Key = tuple[str, str, int]  # namespace, pod, port
# What a forward that the pod's side closed (its server, or the pod going) raises on reuse:
# http.client's RemoteDisconnected, BadStatusLine and the like, or the socket's own error.
CLOSED = (http.client.HTTPException, OSError)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str


def _handshake_refusal(error: ApiException) -> str:
    """The API server's Status message from a refused websocket handshake: the client
    puts the status line, the headers and the body in one reason, split by ``-+-+-``."""
    reason = str(error.reason or error)
    try:
        status = json.loads(reason.rsplit("-+-+-", 1)[-1])
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return reason.strip().splitlines()[0]


class _ForwardedConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection whose socket is a port-forward's stream. It never dials:
    http.client reconnects by itself after a ``Connection: close``, and here that would be
    the host's own loopback, not the pod's."""

    def connect(self) -> None:
        raise ConnectionError("the port-forward's stream is closed")


@dataclass
class _Forward:
    session: Any  # kubernetes.stream.ws_client.PortForward
    connection: _ForwardedConnection

    def close(self) -> None:
        self.connection.close()
        self.session.close()


class PortForwards:
    """Open forwards by (namespace, pod, port); a second pod on the same namespace and port
    (the sample replaced, istiod rolled) closes the first one's."""

    def __init__(self, core: Any) -> None:
        self.core = core  # kubernetes.client.CoreV1Api
        self._open: dict[Key, _Forward] = {}

    def get(self, namespace: str, pod: str, port: int, path: str, timeout: float) -> HttpAnswer:
        """``GET path`` on ``pod``'s ``port``; a kept forward the pod's side has closed is
        opened again once."""
        key = (namespace, pod, port)
        reused = key in self._open
        try:
            return self._request(key, path, timeout)
        except CLOSED as error:
            refusal = self._refusal(key, path, error)
            if not reused:
                raise refusal from None
        try:
            return self._request(key, path, timeout)
        except CLOSED as error:
            raise self._refusal(key, path, error) from None

    def close(self) -> None:
        for key in list(self._open):
            self._drop(key)

    def _request(self, key: Key, path: str, timeout: float) -> HttpAnswer:
        forward = self._open.get(key) or self._start(key)
        forward.connection.sock.settimeout(timeout)
        try:
            forward.connection.request("GET", path, headers={"Host": "localhost"})
            response = forward.connection.getresponse()
            body = response.read().decode(errors="replace")
        except TimeoutError:
            self._drop(key)
            namespace, pod, port = key
            raise ClusterError(
                f"GET :{port}{path} in pod {pod} ({namespace}): no answer within {timeout:g}s"
            ) from None
        if response.will_close:
            self._drop(key)
        return HttpAnswer(response.status, body)

    def _start(self, key: Key) -> _Forward:
        namespace, pod, port = key
        for other in [k for k in self._open if k[0] == namespace and k[2] == port]:
            self._drop(other)
        try:
            session = portforward(
                self.core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port)
            )
        except ApiException as error:
            raise ClusterError(
                f"port-forward to pod {pod} port {port}: {_handshake_refusal(error)}"
            ) from None
        connection = _ForwardedConnection("localhost", port)
        connection.sock = session.socket(port)
        forward = self._open[key] = _Forward(session, connection)
        return forward

    def _drop(self, key: Key) -> None:
        forward = self._open.pop(key, None)
        if forward is not None:
            forward.close()

    def _refusal(self, key: Key, path: str, error: BaseException) -> ClusterError:
        """The forward is closed: dropped, and why in the kubelet's own words where it
        sent them on the error channel (``error forwarding port 15000 to pod ...:
        connection refused``), else in the connection's."""
        namespace, pod, port = key
        forward = self._open.get(key)
        sent = forward.session.error(port) if forward is not None else None
        self._drop(key)
        reason = sent.strip().splitlines()[-1] if sent else str(error) or type(error).__name__
        return ClusterError(f"GET :{port}{path} in pod {pod} ({namespace}): {reason}")
