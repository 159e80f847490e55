"""The shell client's hand-over to the run's server: a command runs once, never twice.

The server may run a command, answer and hang up the moment its last byte arrives, before
the client is scheduled again; these tests make that happen on purpose with a socket
pair, instead of waiting for a loaded machine to."""

from __future__ import annotations

import socket
import struct
import threading

from clusters.local import shellclient


class _SendsThenWaits(socket.socket):
    """A client socket that, once its sendmsg is done, lets the server finish first."""

    server_done: threading.Event

    def sendmsg(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent = super().sendmsg(*args, **kwargs)
        assert self.server_done.wait(10), "the server never answered"
        return sent


def _pair() -> tuple[_SendsThenWaits, socket.socket]:
    client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    slow = _SendsThenWaits(socket.AF_UNIX, socket.SOCK_STREAM, fileno=client.detach())
    slow.server_done = threading.Event()
    return slow, server


def _read_request(server: socket.socket) -> bytes:
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        data, _ancillary, _flags, _address = server.recvmsg(1 << 20, socket.CMSG_SPACE(64))
    return data


def test_a_server_that_answered_and_hung_up_has_run_the_command() -> None:
    """Answer, exit and close before the client's next step: the client reads the
    answer (it outlives the close) and does not take the command as refused."""
    client, server = _pair()
    message = shellclient.request("kubectl", ["get", "pods"], [])

    def serve() -> None:
        _read_request(server)
        server.sendall(b"pid 4242\nexit 0\n")
        server.close()
        client.server_done.set()

    thread = threading.Thread(target=serve)
    thread.start()
    first, reader = shellclient.hand_over(client, message, [])
    thread.join()
    assert first == ["pid", "4242"]
    assert reader is not None and reader.readline() == b"exit 0\n"
    client.close()


def test_a_server_that_hung_up_before_the_request_ran_nothing() -> None:
    client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server.close()
    first, reader = shellclient.hand_over(
        client, shellclient.request("kubectl", ["get", "pods"], []), []
    )
    assert (first, reader) == ([], None)
    client.close()


def test_a_request_larger_than_the_socket_buffer_arrives_whole() -> None:
    client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    args = ["x" * 1000] * 2000  # about 2 MB of JSON, many socket buffers
    message = shellclient.request("kubectl", args, [])
    received: list[bytes] = []

    def serve() -> None:
        data = b""
        while len(data) < len(message):
            chunk = server.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        received.append(data)
        server.sendall(b"pid 7\n")
        server.close()

    thread = threading.Thread(target=serve)
    thread.start()
    first, _reader = shellclient.hand_over(client, message, [])
    thread.join()
    assert first == ["pid", "7"]
    assert received == [message]
    client.close()
