"""``istioctl`` for the local mesh: ``istioctl kube-inject -f FILE``, as the page pipes it
into kubectl (``kubectl apply -f <(istioctl kube-inject -f samples/sleep/sleep.yaml)``).

The injection is Istio's own: egress-istiod runs istioctl's inject.IntoResourceFile with
the mesh's istio-sidecar-injector and mesh config, and this module prints what it wrote,
as istioctl does (warnings on stderr). It re-attaches to the run as the shell's kubectl
does (EGRESS_MESH_RUN_ROOT, EGRESS_MESH_RUN_ID). Other istioctl commands are refused in
one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from clusters.local import kubectl

ANSWERED = "kube-inject"


class Refused(Exception):
    """What istioctl prints on stderr (cobra's ``Error: ...``) before it exits 1."""


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(environ.get(kubectl.RUN_ROOT_ENV) or "/run/egress-conformance")
    session = kubectl.Session(root, environ.get(kubectl.RUN_ID_ENV) or kubectl.DEFAULT_RUN_ID)
    try:
        filenames = parse(args)
        manifest, warnings = kube_inject(session, filenames)
    except Refused as refused:
        print(f"Error: {refused}", file=err)
        return 1
    except kubectl.KubectlError as error:  # the run is missing or damaged
        print(f"Error: {error.text.removeprefix('error: ')}", file=err)
        return 1
    out.write(manifest)
    if warnings:
        print(file=err)
        for warning in warnings:
            print(warning, file=err)
    return 0


def parse(args: list[str]) -> list[str]:
    """``kube-inject -f FILE`` (``--filename=FILE``, ``-f -``): the files to inject."""
    commands = [a for a in args if not a.startswith("-")]
    if not args or not commands:
        raise Refused(f"the local mesh's istioctl answers {ANSWERED} only")
    if commands[0] != ANSWERED or args.index(commands[0]) != 0:
        raise Refused(
            f'the local mesh\'s istioctl answers {ANSWERED} only (not "istioctl {commands[0]}")'
        )
    filenames: list[str] = []
    rest = args[1:]
    while rest:
        arg = rest.pop(0)
        if arg in ("-f", "--filename"):
            if not rest:
                raise Refused(f"flag needs an argument: {arg}")
            filenames.append(rest.pop(0))
        elif arg.startswith("--filename="):
            filenames.append(arg.split("=", 1)[1])
        elif arg.startswith("-f") and len(arg) > 2:
            filenames.append(arg[2:].removeprefix("="))
        else:
            raise Refused(f"unknown flag or argument {arg!r} (the local mesh's istioctl takes -f)")
    if not filenames:
        raise Refused("filename not specified (see --filename or -f)")
    return filenames


def kube_inject(session: kubectl.Session, filenames: Sequence[str]) -> tuple[str, list[str]]:
    """Each file through Istio's kube-inject in egress-istiod: the stream and warnings."""
    import httpx

    socket = session.directory / "istiod" / "control.sock"
    if session.state.control_plane != "istiod" or not socket.exists():
        raise Refused(
            f"the {session.state.control_plane} control plane has no istioctl kube-inject "
            "(Istio's injector runs in egress-istiod: --control-plane istiod)"
        )
    manifest, warnings = "", []
    with httpx.Client(
        transport=httpx.HTTPTransport(uds=str(socket), verify=False), base_url="http://istiod"
    ) as client:
        for filename in filenames:
            try:
                data = sys.stdin.buffer.read() if filename == "-" else Path(filename).read_bytes()
            except OSError as error:
                raise Refused(f"open {filename}: {(error.strerror or '').lower()}") from None
            try:
                response = client.post("/kube-inject", content=data)
            except httpx.HTTPError as error:
                raise Refused(f"istiod's control API failed: {error}") from None
            body = response.json()
            if response.status_code != 200:
                raise Refused(str(body.get("error") or response.text))
            manifest += body["manifest"]
            warnings += [str(w) for w in body.get("warnings") or ()]
    return manifest, warnings


if __name__ == "__main__":
    sys.exit(main())
