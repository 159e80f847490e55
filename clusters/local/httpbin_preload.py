"""httpbin servers started before the mesh that will use them (httpbin_server.py).

Importing httpbin takes longer than istiod takes to start, so a mesh that started its
httpbin with the rest of the fake internet waited for Python's imports. A run that
knows it will make a mesh (pytest's configure in the process that will run scenarios,
``egress-mesh up`` at its start) calls :func:`preload` first; the mesh's
:func:`take` then finds httpbin loaded and only tells it where to serve. Without a
preload, :func:`take` starts one at once, the same program on the same path.

A preloaded server no mesh took ends by itself: its stdin is a pipe from this process,
closed when this process exits or calls :func:`release`.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PROGRAM = Path(__file__).resolve().with_name("httpbin_server.py")
LOADED = b"L"  # what httpbin_server.py writes once httpbin is loaded


@dataclass
class Preloaded:
    """One httpbin process that waits for its place (or has been given one)."""

    process: subprocess.Popen[bytes]
    early_output: IO[bytes]  # its stderr until it has log files (an import error, say)

    def wait_loaded(self, timeout: float) -> bool:
        """True once httpbin is imported; False if the process ended or is still loading
        after ``timeout`` seconds (the mesh does not need this: it waits for the port)."""
        import select

        stdout = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], timeout)
        return bool(readable) and os.read(stdout.fileno(), 1) == LOADED

    def serve(self, namespace: Path, arguments: Sequence[str], stdout: Path, stderr: Path) -> None:
        """Tell it where to serve: it enters ``namespace`` and runs waitress's runner
        with ``arguments``, logging to the two files. If it has already ended, what it
        printed goes to ``stderr``, so that the mesh's death message can quote it."""
        stdin, early = self.process.stdin, self.early_output
        assert stdin is not None
        order = {
            "namespace": str(namespace),
            "arguments": list(arguments),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        try:
            stdin.write(json.dumps(order).encode() + b"\n")
            stdin.close()
        except BrokenPipeError:  # it ended before its place came
            early.seek(0)
            with stderr.open("ab") as log:
                log.write(early.read())
        finally:
            early.close()
            if self.process.stdout is not None:
                self.process.stdout.close()

    def release(self) -> None:
        """No mesh will take it: end of input, and it ends by itself."""
        for stream in (self.process.stdin, self.process.stdout, self.early_output):
            if stream is not None:
                stream.close()
        self.process.terminate()  # at once, rather than after httpbin has loaded
        try:
            self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_waiting: list[Preloaded] = []


def start() -> Preloaded:
    """One server, started now in the caller's namespaces, in a session of its own (a
    Ctrl-C reaches pytest, whose teardown ends it), loading httpbin at once."""
    early = tempfile.TemporaryFile(prefix="httpbin-")  # noqa: SIM115 (kept by Preloaded)
    process = subprocess.Popen(
        [sys.executable, str(PROGRAM)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=early,
        start_new_session=True,
    )
    return Preloaded(process, early)


def preload(count: int) -> None:
    """Start ``count`` servers now, for the meshes this process is about to make."""
    _waiting.extend(start() for _ in range(count - len(_waiting)))


def take() -> Preloaded:
    """A preloaded server if one is still running, else one started now."""
    while _waiting:
        server = _waiting.pop(0)
        if server.process.poll() is None:
            return server
        server.release()
    return start()


def waiting() -> list[Preloaded]:
    """The servers preloaded and not yet taken (bench waits for them to load)."""
    return list(_waiting)


@atexit.register
def release() -> None:
    """End the servers no mesh took."""
    while _waiting:
        _waiting.pop().release()
