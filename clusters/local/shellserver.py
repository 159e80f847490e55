"""The run's shell programs, started warm: a fork server for ``kubectl`` and ``istioctl``.

The page's commands run in bash as written, and each ``kubectl`` in them was a Python
process of its own that spent most of its ~0.25 s importing the mesh's modules. This
server imports them once per run and forks a child per command. The child takes the
caller's inherited descriptors at their own numbers (stdin, stdout, stderr and any
other, such as bash's ``<(...)`` pipes; passed over the Unix socket as SCM_RIGHTS), its
working directory, environment, umask and arguments, then runs the program's ``main``
exactly as ``python -m`` would, so what it prints, where, and its exit status are the
program's. ``clusters/local/shellclient.py`` is the other end, and runs the program in a
process of its own whenever this server is not there.

The protocol, one connection per command:

- the client sends a 4-byte big-endian length, then that much JSON (``program``,
  ``argv``, ``cwd``, ``env``, ``umask``, ``fds``: the numbers of the descriptors it
  passes, in order), with the descriptors attached to the first bytes;
- the server answers ``pid <N>\\n`` once the child runs (the client forwards its signals
  there), then ``exit <status>\\n`` (a negative status: killed by that signal).

The server is single-threaded, so forking it is safe; a client that hangs up before its
child ends has the child sent SIGTERM, as a shell's job would be.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import importlib
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Each program's main (returns its exit status), and what it imports only when called.
PROGRAMS: Mapping[str, str] = {
    "kubectl": "clusters.local.kubectl:main",
    "istioctl": "clusters.local.istioctl:main",
}
WARM_IMPORTS = ("clusters.local.mesh", "yaml", "httpx")
MAX_REQUEST = 1 << 20
MAX_FDS = 253  # the kernel's SCM_MAX_FD: the most one message carries
READY_LINE = "egress-shell-server: listening"


class BadRequest(Exception):
    """A request this server does not take (its one line goes back to the client)."""


@dataclass
class Request:
    program: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    umask: int
    fds: list[int]  # the caller's descriptor numbers, in the order they were attached

    @classmethod
    def parse(cls, payload: bytes, received: list[int]) -> Request:
        try:
            data = json.loads(payload)
            request = cls(
                program=str(data["program"]),
                argv=[str(a) for a in data["argv"]],
                cwd=str(data["cwd"]),
                env={str(k): str(v) for k, v in dict(data["env"]).items()},
                umask=int(data["umask"]),
                fds=[int(fd) for fd in data["fds"]],
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BadRequest(f"malformed request: {error}") from None
        if request.program not in PROGRAMS:
            raise BadRequest(f"unknown program {request.program!r}")
        if (
            len(request.fds) != len(received)
            or len(set(request.fds)) != len(request.fds)
            or any(fd < 0 or fd >= 65536 for fd in request.fds)
        ):
            raise BadRequest("the request's descriptors do not match its fds")
        return request


def entry_point(program: str) -> Callable[[], int]:
    module, _, function = PROGRAMS[program].partition(":")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def read_request(connection: socket.socket) -> tuple[bytes, list[int]]:
    """The request's JSON and the descriptors that came with it."""
    fds = array.array("i")
    data, ancillary, _flags, _address = connection.recvmsg(
        65536, socket.CMSG_SPACE(MAX_FDS * fds.itemsize)
    )
    for level, kind, item in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(item[: len(item) - (len(item) % fds.itemsize)])
    received = list(fds)
    try:
        while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
            if len(data) >= 4 and struct.unpack(">I", data[:4])[0] > MAX_REQUEST:
                raise BadRequest("request too large")
            chunk = connection.recv(65536)
            if not chunk:
                raise BadRequest("the client hung up mid-request")
            data += chunk
    except BaseException:
        for fd in received:
            os.close(fd)
        raise
    return data[4:], received


def run_child(request: Request, received: list[int]) -> int:
    """In the forked child: become the caller's process, run the program, its status.

    A process group of its own: the client's forwarded signals, and a hang-up's SIGTERM,
    reach what the program started too, as a terminal's reach a foreground job."""
    os.setpgid(0, 0)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    _place_descriptors(request.fds, received)
    os.chdir(request.cwd)
    os.umask(request.umask)
    os.environ.clear()
    os.environ.update(request.env)
    # Python's own start-up: a terminal's stdout is line-buffered, stderr never buffered.
    # The streams are the process's own, open until it exits (no context manager).
    stdin = open(0, "rb", closefd=False)  # noqa: SIM115
    stdout = open(1, "wb", closefd=False)  # noqa: SIM115
    stderr = open(2, "wb", closefd=False)  # noqa: SIM115
    sys.stdin = io.TextIOWrapper(stdin, encoding=_encoding())
    sys.stdout = io.TextIOWrapper(stdout, encoding=_encoding(), line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(
        stderr, encoding=_encoding(), errors="backslashreplace", line_buffering=True
    )
    sys.argv = [PROGRAMS[request.program].partition(":")[0], *request.argv]
    try:
        status: object = entry_point(request.program)()
    except SystemExit as exit_:
        status = exit_.code
    except KeyboardInterrupt:
        status = 128 + signal.SIGINT
    except BaseException:  # as python -m reports an uncaught exception
        import traceback

        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if status is None:
        return 0
    if isinstance(status, int):
        return status & 0xFF
    print(status, file=sys.stderr)
    return 1


def _place_descriptors(targets: list[int], received: list[int]) -> None:
    """Put each received descriptor at the caller's number for it; 0, 1 and 2 that the
    caller had closed become /dev/null, as Python's own start-up does.

    Received numbers may be some other descriptor's target, so all are first moved
    above every target and every received number, then put in place."""
    floor = max([*targets, *received, 2]) + 1
    parked = [fcntl.fcntl(fd, fcntl.F_DUPFD, floor) for fd in received]
    for fd in received:
        os.close(fd)
    for target, source in zip(targets, parked, strict=True):
        os.dup2(source, target, inheritable=True)
        os.close(source)
    for target in (0, 1, 2):
        if target not in targets:
            null = os.open(os.devnull, os.O_RDWR)
            if null != target:
                os.dup2(null, target)
                os.close(null)


def _encoding() -> str:
    return sys.getfilesystemencoding() or "utf-8"


class Server:
    """Accepts commands on ``path``; one forked child per command, reaped here."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.children: dict[int, socket.socket] = {}
        self.wakeup_r, self.wakeup_w = os.pipe()
        self.stopping = False

    def serve(self) -> None:
        for fd in (self.wakeup_r, self.wakeup_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGHUP, self._stop)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.listener.bind(str(self.path))
        self.path.chmod(0o600)
        self.listener.listen(64)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "signal")
        print(READY_LINE, flush=True)
        try:
            while not self.stopping or self.children:
                for key, _events in self.selector.select(timeout=1.0):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "signal":
                        with contextlib.suppress(BlockingIOError):
                            os.read(self.wakeup_r, 512)
                    else:
                        self._hung_up(key.data)
                self._reap()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _stop(self, signum: int, frame: object) -> None:
        """SIGTERM: no new commands; the running ones are ended too."""
        self.stopping = True
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        self.listener.close()
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)

    def _accept(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except (BlockingIOError, OSError):
            return
        connection.settimeout(5.0)
        try:
            self._check_peer(connection)
            payload, received = read_request(connection)
        except (BadRequest, OSError) as error:
            _answer(connection, f"error {error}\n")
            connection.close()
            return
        try:
            request = Request.parse(payload, received)
        except BadRequest as error:
            for fd in received:
                os.close(fd)
            _answer(connection, f"error {error}\n")
            connection.close()
            return
        pid = os.fork()
        if pid == 0:  # the child: nothing of the server's but the program's modules
            code = 1
            try:
                self.selector.close()
                self.listener.close()
                connection.close()
                for other in self.children.values():
                    other.close()
                os.close(self.wakeup_r)
                os.close(self.wakeup_w)
                code = run_child(request, received)
            finally:
                os._exit(code)
        with contextlib.suppress(OSError):  # as the child does: whichever runs first
            os.setpgid(pid, pid)
        for fd in received:
            os.close(fd)
        self.children[pid] = connection
        _answer(connection, f"pid {pid}\n")
        self.selector.register(connection, selectors.EVENT_READ, pid)

    def _check_peer(self, connection: socket.socket) -> None:
        credentials = connection.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
        )
        _pid, uid, _gid = struct.unpack("3i", credentials)
        if uid not in (0, os.getuid()):
            raise BadRequest(f"uid {uid} may not run this run's commands")

    def _hung_up(self, pid: int) -> None:
        """The client went away (killed): its command goes too."""
        connection = self.children.get(pid)
        if connection is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.children.pop(pid, None)
            if connection is None:
                continue
            code = (
                -os.WTERMSIG(status)
                if os.WIFSIGNALED(status)
                else os.waitstatus_to_exitcode(status)
            )
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(connection)
            _answer(connection, f"exit {code}\n")
            connection.close()


def _answer(connection: socket.socket, line: str) -> None:
    with contextlib.suppress(OSError):
        connection.sendall(line.encode())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m clusters.local.shellserver SOCKET", file=sys.stderr)
        return 2
    for name in (*WARM_IMPORTS, *(p.partition(":")[0] for p in PROGRAMS.values())):
        importlib.import_module(name)
    Server(Path(args[0])).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
