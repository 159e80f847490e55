"""istiod's debug endpoints (``/debug/syncz``) read over one kept port-forward.

istiod answers its debug endpoints without a token only to requests from localhost.
A port-forward's connection arrives inside istiod's pod, from localhost, as istioctl's
own port-forwarded reads do; so one forward to the monitoring port (15014) and one
HTTP/1.1 keep-alive connection over it serve every read of a run, a round trip each.
The alternative, an exec of ``pilot-discovery request GET /debug/syncz`` in istiod's
container, starts a large Go program for every read: the steps read syncz before and
after each change, so that start was paid several times a scenario.

Where the API server refuses the forward (RBAC without ``pods/portforward`` on an
existing cluster) the reader says so once and reads by exec from then on, as before.
"""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Callable
from typing import Any

from clusters.kube.api import KubeApi
from clusters.protocol import ClusterError

MONITORING_PORT = 15014  # istiod's HTTP port for /metrics and, by default, /debug


class _ForwardedConnection(http.client.HTTPConnection):
    """An HTTP connection whose only stream is the forward's: where http.client would
    connect by itself (after a ``Connection: close``), it fails instead, so the reader
    opens a new forward rather than a TCP connection to this machine's own port."""

    def connect(self) -> None:
        raise ConnectionResetError("the forwarded connection was closed")


class IstiodDebug:
    """GETs to istiod's debug endpoints of the pod ``pod()`` names (re-read each call, so
    a replaced istiod pod gets a new forward)."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        pod: Callable[[], str],
        by_exec: Callable[[str, float], bytes],
        note: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.api, self.namespace, self.pod = api, namespace, pod
        self.by_exec, self.note = by_exec, note
        self._forward: Any = None  # kubernetes.stream.ws_client.PortForward
        self._connection: _ForwardedConnection | None = None
        self._forwarded_pod: str | None = None
        self.refused: str | None = None  # why forwarding is off for this run

    def get(self, path: str, timeout: float) -> bytes:
        """The endpoint's body; a kept connection that broke is re-opened once."""
        if self.refused is not None:
            return self.by_exec(path, timeout)
        for attempt in (1, 2):
            try:
                connection = self._connect(timeout)
            except ClusterError as error:
                self.refused = str(error)
                self.note(f"reading istiod's {path} by exec: {error}")
                return self.by_exec(path, timeout)
            try:
                connection.request("GET", path, headers={"Host": "localhost"})
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if attempt == 2:
                    raise ClusterError(f"istiod's {path} over a port-forward: {error}") from None
                continue
            if response.status != 200:
                reason = body.decode(errors="replace").strip().splitlines() or [response.reason]
                raise ClusterError(f"istiod's {path}: HTTP {response.status}: {reason[0]}")
            return body
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _connect(self, timeout: float) -> _ForwardedConnection:
        pod = self.pod()
        kept = self._connection is not None and pod == self._forwarded_pod
        if kept and self._forward is not None and self._forward.connected:
            assert self._connection is not None
            self._connection.sock.settimeout(timeout)
            return self._connection
        self.close()
        self._forward = self.api.port_forward(self.namespace, pod, MONITORING_PORT)
        sock = self._forward.socket(MONITORING_PORT)
        sock.setblocking(True)
        sock.settimeout(timeout)
        connection = _ForwardedConnection("localhost", MONITORING_PORT, timeout=timeout)
        connection.sock = sock  # the forward's stream stands for the TCP connection
        self._connection, self._forwarded_pod = connection, pod
        return connection

    def close(self) -> None:
        """The connection and its forward (whose proxy thread then ends)."""
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
        if self._forward is not None:
            with contextlib.suppress(OSError):
                self._forward.close()
        self._connection = self._forward = self._forwarded_pod = None
