"""GETs through a kept port-forward: one forward per pod and port, opened again once when
the pod's side closed it, never a connection to the host's own loopback, and the
kubelet's or the API server's words when the forward is refused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from clusters.kube import portforward
from clusters.kube.portforward import PortForwards
from clusters.protocol import ClusterError


class FakeSession:
    """A port-forward whose far end is a small HTTP/1.1 server on a socket pair: it
    answers ``answers`` requests, then closes the stream (``None``: keeps answering)."""

    def __init__(self, answers: int | None, close_header: bool = False) -> None:
        self._mine, theirs = socket.socketpair()
        self.closed = False
        self.sent_error: str | None = None
        self.paths: list[str] = []
        self._serve = threading.Thread(
            target=self._answer, args=(theirs, answers, close_header), daemon=True
        )
        self._serve.start()

    def _answer(self, theirs: socket.socket, answers: int | None, close_header: bool) -> None:
        with theirs:
            buffered = b""
            while answers is None or answers > 0:
                while b"\r\n\r\n" not in buffered:
                    chunk = theirs.recv(4096)
                    if not chunk:
                        return
                    buffered += chunk
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1].decode()
                self.paths.append(path)
                body = f"answer to {path}".encode()
                close = b"Connection: close\r\n" if close_header else b""
                theirs.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), close, body)
                )
                if answers is not None:
                    answers -= 1

    def socket(self, port: int) -> socket.socket:
        return self._mine

    def error(self, port: int) -> str | None:
        return self.sent_error

    def close(self) -> None:
        self.closed = True
        self._mine.close()


def refused(port: int) -> FakeSession:
    """What a forward to a port nothing listens on looks like: the kubelet's words on the
    error channel, and the stream closed."""
    session = FakeSession(answers=0)
    session.sent_error = (
        f"error forwarding port {port} to pod abc, uid : failed to connect to localhost:{port}"
        " inside namespace: connect: connection refused"
    )
    return session


@dataclass
class Forwarded:
    """Each forward opened (namespace, pod, session), and how a pod's session is made."""

    opened: list[tuple[str, str, FakeSession]] = field(default_factory=list)
    make: dict[str, Callable[[int], FakeSession]] = field(default_factory=dict)


@pytest.fixture
def forwarded(monkeypatch: pytest.MonkeyPatch) -> Forwarded:
    seen = Forwarded()

    def fake_portforward(_call: Any, pod: str, namespace: str, ports: str) -> FakeSession:
        session = seen.make.get(pod, lambda _port: FakeSession(answers=None))(int(ports))
        seen.opened.append((namespace, pod, session))
        return session

    monkeypatch.setattr(portforward, "portforward", fake_portforward)
    return seen


def forwards() -> PortForwards:
    return PortForwards(core=type("Core", (), {"connect_get_namespaced_pod_portforward": None}))


def test_reads_on_one_pod_and_port_share_one_forward(forwarded: Forwarded) -> None:
    pool = forwards()
    first = pool.get("istio-system", "istiod-1", 15014, "/debug/syncz", 5.0)
    second = pool.get("istio-system", "istiod-1", 15014, "/debug/syncz", 5.0)
    assert (first.status, first.body) == (200, "answer to /debug/syncz")
    assert second == first
    assert len(forwarded.opened) == 1
    pool.close()
    assert forwarded.opened[0][2].closed


def test_a_forward_the_pod_closed_is_opened_again_once(forwarded: Forwarded) -> None:
    forwarded.make["istiod-1"] = lambda _port: FakeSession(answers=1)
    pool = forwards()
    pool.get("istio-system", "istiod-1", 15014, "/debug/syncz", 5.0)
    answer = pool.get("istio-system", "istiod-1", 15014, "/debug/syncz", 5.0)
    assert answer.body == "answer to /debug/syncz"
    assert len(forwarded.opened) == 2 and forwarded.opened[0][2].closed


def test_connection_close_drops_the_forward_and_nothing_dials_the_host(
    forwarded: Forwarded,
) -> None:
    forwarded.make["sleep-1"] = lambda _port: FakeSession(answers=None, close_header=True)
    pool = forwards()
    for _ in range(2):
        assert pool.get("default", "sleep-1", 15000, "/ready", 5.0).status == 200
    assert len(forwarded.opened) == 2  # a new forward, not http.client's reconnect to localhost


def test_the_forwarded_connection_never_dials() -> None:
    with pytest.raises(ConnectionError):
        portforward._ForwardedConnection("localhost", 15000).connect()


def test_a_refused_port_is_the_kubelets_words_and_not_retried(forwarded: Forwarded) -> None:
    forwarded.make["sleep-1"] = refused
    pool = forwards()
    with pytest.raises(ClusterError, match=r"connect: connection refused") as error:
        pool.get("default", "sleep-1", 15999, "/x", 5.0)
    assert "GET :15999/x in pod sleep-1 (default)" in str(error.value)
    assert len(forwarded.opened) == 1


def test_another_pod_on_the_same_port_closes_the_first_ones_forward(forwarded: Forwarded) -> None:
    pool = forwards()
    pool.get("default", "sleep-1", 15000, "/ready", 5.0)
    pool.get("istio-system", "istiod-1", 15014, "/debug/syncz", 5.0)
    pool.get("default", "sleep-2", 15000, "/ready", 5.0)
    closed = {pod: session.closed for _ns, pod, session in forwarded.opened}
    assert closed == {"sleep-1": True, "istiod-1": False, "sleep-2": False}


def test_a_refused_handshake_is_the_api_servers_message(monkeypatch: pytest.MonkeyPatch) -> None:
    body = '{"kind":"Status","message":"pods \\"nopod\\" not found","code":404}'

    def handshake(*_args: Any, **_kwargs: Any) -> None:
        raise ApiException(
            status=0, reason=f"Handshake status 404 Not Found -+-+- {{}} -+-+- {body}"
        )

    monkeypatch.setattr(portforward, "portforward", handshake)
    with pytest.raises(ClusterError) as error:
        forwards().get("default", "nopod", 15000, "/ready", 5.0)
    assert str(error.value) == 'port-forward to pod nopod port 15000: pods "nopod" not found'
