"""The fake internet's httpbin, loaded before it is told where to serve.

Run as a script (not ``-m``), so that nothing of the project is imported: the process
loads httpbin and waitress first (about 0.4 s of CPU here, Flask most of it, more than
the whole control plane takes to start), says so with one byte on stdout, and only then
reads one JSON line on stdin naming its place: the network namespace to enter, the
address to listen on and its log files. It then serves as ``python -m waitress`` does
(waitress's own runner, same options and logging). End of input before that line means
nobody needs it any more: the process that started it has gone or let it go, so it ends.

Why: a mesh's fake internet no longer waits for Python to import httpbin. The backend
starts this process as soon as a run knows it will make a mesh (see httpbin_preload).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys

import httpbin  # noqa: F401  the point of the process: loaded before it is needed
import waitress.runner

CLONE_NEWNET = 0x40000000
LOADED = b"L"  # the byte that says httpbin is loaded


def enter_namespace(path: str) -> None:
    """setns(2) into a network namespace: the whole process, as no thread runs yet.
    (os.setns is Python 3.12's; this runs on the project's 3.11 too.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path) as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns({path}): {os.strerror(error)}")


def redirect(stdout: str, stderr: str) -> None:
    """Its output from now on goes to the run's log files, as a spawned process's does;
    what it printed while loading (stderr, a file its starter made) goes first."""
    try:
        loading = os.pread(2, 1 << 20, 0)
    except OSError:  # stderr is a terminal or a pipe: run by hand
        loading = b""
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if fd == 2:
            os.write(target, loading)
        os.dup2(target, fd)
        os.close(target)


def main() -> int:
    with contextlib.suppress(BrokenPipeError):  # nobody waited: its place may be on stdin
        os.write(1, LOADED)
    order = sys.stdin.readline()
    if not order:
        return 0
    place = json.loads(order)
    redirect(place["stdout"], place["stderr"])
    sys.stdin.close()
    enter_namespace(place["namespace"])
    return waitress.runner.run(["waitress", *place["arguments"], "httpbin:app"])


if __name__ == "__main__":
    sys.exit(main())
