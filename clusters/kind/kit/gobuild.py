"""Static Go binaries from published modules, built once per version into the kit cache.

Nothing can be pulled from a registry here, so every binary of the node and of the
control-plane images is compiled from its Go module (the module proxy is reachable).
Each program gets a generated wrapper module under the cache that ``require``s the
upstream module at the pinned version (plus ``replace`` lines, e.g. Kubernetes' staging
modules), optionally with a tiny ``main.go`` of our own. Builds are ``CGO_ENABLED=0``,
``-trimpath``, and share the user's Go build cache, so a second program that needs the
same dependencies compiles only what is new.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clusters.kind.kit import cache
from clusters.local.gobuild import go_binary
from clusters.protocol import ClusterError

WRAPPER_GO_VERSION = "1.24"  # go get raises it to what the required modules declare


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
            _build(program, staging, note)
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


def _build(program: GoProgram, staging: Path, note: Callable[[str], None]) -> None:
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
