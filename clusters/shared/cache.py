"""The build cache: where artefacts live, one lock each, progress lines, commands run.

Every artefact of the offline kind kit (Go programs, the debootstrap rootfs, docker
images) is expensive to make and cheap to keep, so each one is built once per version
under ``~/.cache/egress-conformance/kind/`` and found again by a name that carries a
digest of its inputs (a directory, an image tag). Builds write to a temporary path and
rename it into place, so an interrupted build leaves nothing that a later run could
mistake for a finished one; a lock per artefact keeps two processes (pytest workers, the
Istio images helper) from building the same thing twice. The directory keeps the name of
its first user, the kit: renaming it would orphan every cached build.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from clusters.protocol import ClusterError, PrerequisiteMissing

PREFIX = "egress-conformance:"
PROGRESS_EVERY_S = 15.0


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/egress-conformance/NAME`` (``~/.cache`` when unset): what the
    project builds or compiles once per user (kind's kit, istiod, Python and template
    bytecode)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "egress-conformance" / name


def cache_root() -> Path:
    """The kind kit's cache (:func:`user_cache_dir`)."""
    return user_cache_dir("kind")


_say_lock = threading.Lock()


def say(message: str) -> None:
    """One progress line on stderr, prefixed like the rest of the project's; one write
    under a lock, so that parallel builds never share a line."""
    with _say_lock:
        sys.stderr.write(f"{PREFIX} {message}\n")
        sys.stderr.flush()


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the lock of artefact ``name`` (an flock on ``locks/NAME.lock``).

    The lock is per artefact, not global, so independent builds run in parallel.
    """
    directory = cache_root() / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{name.replace('/', '_')}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write(target: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Write ``target`` through a temporary sibling and a rename: never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    data = text.encode() if isinstance(text, str) else text
    try:
        temporary.write_bytes(data)
        temporary.chmod(mode)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a leftover named after a dead pid is stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_leftovers(directory: Path, prefix: str) -> list[Path]:
    """``.PREFIX.PID.*`` entries in ``directory`` whose PID is gone: what a killed build
    (SIGKILL, power loss) left behind, which the next build removes."""
    found = []
    for entry in directory.glob(f".{prefix}.*"):
        parts = entry.name[len(prefix) + 2 :].split(".")
        if parts and parts[0].isdigit() and not pid_alive(int(parts[0])):
            found.append(entry)
    return found


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A fresh temporary directory next to ``target``, renamed onto it on success.

    On any error (or Ctrl-C) the temporary directory is removed and ``target`` is left as
    it was, which is how "no half-written cache entry" is kept.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_leftovers(target.parent, target.name):
        shutil.rmtree(stale, ignore_errors=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        yield temporary
        if target.exists():
            shutil.rmtree(target)
        os.replace(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


@contextlib.contextmanager
def progress(what: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Announce a long step, repeat ``building WHAT ... (N s)`` every 15 s, and say how
    long it took: compiles and debootstrap print nothing useful for minutes.

    Yields a function that records the latest output line, shown in the next report.
    """
    started = time.monotonic()
    latest: list[str] = []
    done = threading.Event()

    def report() -> None:
        while not done.wait(PROGRESS_EVERY_S):
            doing = f": {latest[-1][:100]}" if latest else ""
            say(f"building {what} ... ({time.monotonic() - started:.0f} s){doing}")

    if not quiet:
        say(f"building {what} ...")
        threading.Thread(target=report, daemon=True).start()
    try:
        yield latest.append
    except BaseException:
        done.set()
        if not quiet:
            say(f"building {what} failed after {time.monotonic() - started:.0f} s")
        raise
    done.set()
    if not quiet:
        say(f"built {what} in {time.monotonic() - started:.0f} s")


def run(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    timeout: float = 3600.0,
    note: Callable[[str], None] | None = None,
) -> str:
    """Run ``argv`` to completion and return its stdout; on failure raise ClusterError
    with the command's last lines, so the one-line error names what went wrong."""
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as error:
        raise ClusterError(f"{what}: {argv[0]} not found ({error})") from None
    errors: list[str] = []
    chunks: list[bytes] = []

    def follow_stderr() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                errors.append(line)
                if note:
                    note(line)

    def collect_stdout() -> None:
        assert process.stdout is not None
        chunks.extend(iter(lambda: process.stdout.read(65536), b""))  # type: ignore[union-attr]

    readers = [threading.Thread(target=f, daemon=True) for f in (follow_stderr, collect_stdout)]
    for reader in readers:
        reader.start()
    try:
        if stdin is not None:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(stdin)
            process.stdin.close()
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise ClusterError(f"{what}: timed out after {timeout:.0f} s") from None
    except BaseException:
        process.kill()
        process.wait()
        raise
    for reader in readers:
        reader.join(timeout=10)
    if process.returncode != 0:
        last = " | ".join(errors[-3:]) or f"exit {process.returncode}"
        raise ClusterError(f"{what} failed: {last}")
    return b"".join(chunks).decode(errors="replace")


SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def ensure_installed(command: str, package: str, *, fix: str) -> str:
    """``command``'s path, apt-get installing Debian's ``package`` first when it is
    missing; ``fix`` says what to do when that cannot be done."""
    found = shutil.which(command, path=SYSTEM_PATH)
    if found:
        return found
    say(f"{command} is missing: apt-get install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": SYSTEM_PATH}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
    ):
        try:
            run(argv, what=" ".join(argv[:2]), env=env, timeout=1200)
        except ClusterError as error:
            raise PrerequisiteMissing(f"{command} is missing and {error}: {fix}") from None
    found = shutil.which(command, path=SYSTEM_PATH)
    if not found:
        raise PrerequisiteMissing(f"apt-get installed {package} but {command} is not on PATH")
    return found
