"""The run's ``kubectl`` and ``istioctl`` as bash runs them: hand the command to the
run's warm server (clusters/local/shellserver.py), else run it in a process of its own.

Run by path with ``python -I -S`` (no site, no project imports), so it starts in a few
milliseconds: ``shellclient.py SOCKET PROGRAM MODULE [ARG...]``. It passes the
descriptors it inherited (stdin, stdout, stderr, and any other, such as a ``<(...)``
pipe named ``/dev/fd/63`` in its arguments) to the server, forwards the signals a
shell sends its job (SIGINT, SIGTERM, SIGHUP, SIGQUIT) to the command's process group,
and exits with that command's status, or dies of its signal. With no server listening
(not started yet, or gone) it becomes ``python -m MODULE ARG...``, which answers the same.
"""

import array
import contextlib
import json
import os
import signal
import socket
import struct
import sys

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _fallback(module, args):
    python = sys.executable
    os.execv(python, [python, "-m", module, *args])


def _connect(path):
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    return connection


MAX_FDS = 250  # the kernel takes at most 253 descriptors in one SCM_RIGHTS message


def _inherited_fds(connection):
    """The descriptors ``python -m`` would have inherited: 0, 1, 2 and every other one
    open without close-on-exec, such as bash's ``<(...)`` pipe behind ``/dev/fd/63``.
    What this process opened itself is close-on-exec (PEP 446), so it stays here."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd == connection.fileno():
            continue
        try:
            inherited = os.get_inheritable(fd)
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if fd <= 2 or inherited:
            fds.append(fd)
    return sorted(fds)


def request(program, args, fds):
    """The request's bytes: a 4-byte big-endian length, then that much JSON."""
    umask = os.umask(0)
    os.umask(umask)
    payload = json.dumps(
        {
            "program": program,
            "argv": args,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
            "fds": fds,
        }
    ).encode()
    return struct.pack(">I", len(payload)) + payload


def hand_over(connection, message, fds):
    """Send the request; the server's first answer line, split (``pid N``, or ``error
    ...`` for a refusal), and a reader for the rest. An empty answer: the server ran
    nothing, so the command may run here instead.

    Once the whole request is sent the server may run it at any moment, answer and
    hang up before this process is scheduled again; so nothing is sent after the last
    byte (a send to a closed peer fails, and taking that for a refusal ran the command
    twice), and the answer, which outlives the server's close, is read all the same."""
    try:
        sent = connection.sendmsg(
            [message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        )
        if sent < len(message):
            connection.sendall(message[sent:])
    except OSError:
        return [], None  # it hung up before it had the request: it ran nothing
    reader = connection.makefile("rb")
    try:
        return reader.readline().decode().split(), reader
    except OSError:
        return [], None


def main():
    if len(sys.argv) < 4:
        sys.stderr.write("usage: shellclient.py SOCKET PROGRAM MODULE [ARG...]\n")
        return 2
    path, program, module, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    connection = _connect(path)
    if connection is None:
        _fallback(module, args)
    fds = _inherited_fds(connection)
    if len(fds) > MAX_FDS:
        connection.close()
        _fallback(module, args)
    first, reader = hand_over(connection, request(program, args, fds), fds)
    if not first or first[0] != "pid":
        # A server that refused (it names why) or went away before it ran anything.
        connection.close()
        _fallback(module, args)
    child = int(first[1])

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child, signum)  # the command's group: what it started hears it too

    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            line = reader.readline().decode().split()
            break
        except InterruptedError:
            continue
    if len(line) != 2 or line[0] != "exit":
        sys.stderr.write(f"{program}: the run's shell server went away during the command\n")
        return 1
    status = int(line[1])
    if status < 0:
        for signum in FORWARDED:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        return 128 - status
    return status


if __name__ == "__main__":
    sys.exit(main())
