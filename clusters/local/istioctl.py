"""``istioctl`` for the local mesh: ``istioctl kube-inject -f FILE``, as the page pipes it
into kubectl (``kubectl apply -f <(istioctl kube-inject -f samples/sleep/sleep.yaml)``),
and ``istioctl proxy-config listener POD -o json``, today's way to see the mode a
sidecar enforces.

The injection is Istio's own: egress-istiod runs istioctl's inject.IntoResourceFile with
the mesh's istio-sidecar-injector and mesh config, and this module prints what it wrote,
as istioctl does (warnings on stderr). proxy-config reads the sidecar's Envoy config dump
and prints its listeners as istioctl does (protojson field names, four-space indent). It
re-attaches to the run as the shell's kubectl does (EGRESS_MESH_RUN_ROOT,
EGRESS_MESH_RUN_ID). Other istioctl commands are refused in one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from clusters.local import kubectl

ANSWERED = "kube-inject and proxy-config listener"
# Map fields of Envoy's protos: their keys are data, not field names (protojson keeps them).
MAP_FIELDS = {"typed_filter_metadata", "typed_per_filter_config"}


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
    session = kubectl.Session.from_environ(environ)
    try:
        if args[:2] == ["proxy-config", "listener"] or args[:2] == ["pc", "listener"]:
            out.write(proxy_config_listener(session, args[2:]))
            return 0
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
    if commands[0] != "kube-inject" or args.index(commands[0]) != 0:
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
    if not socket.exists():
        raise Refused(
            "the run's istiod is not running: istioctl kube-inject has no injector "
            "(Istio's injector runs in egress-istiod)"
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


def proxy_config_listener(session: kubectl.Session, args: list[str]) -> str:
    """``istioctl proxy-config listener POD[.NAMESPACE] [--port N] [--address A] -o json``:
    the sidecar's listeners (dynamic, active), filtered as istioctl filters them."""
    import json

    from clusters.istio.proxyconfig import LISTENERS, configs
    from clusters.protocol import ClusterError

    pod, port, address, output = "", 0, "", "short"
    while args:
        arg = args.pop(0)
        name, _, inline = arg.partition("=")
        if name in ("--port", "--address", "-o", "--output", "-n", "--namespace"):
            value = inline or (args.pop(0) if args else "")
            if not value:
                raise Refused(f"flag needs an argument: {name}")
            if name == "--port":
                if not value.isdigit():
                    raise Refused(f'invalid argument "{value}" for "--port" flag')
                port = int(value)
            elif name == "--address":
                address = value
            elif name in ("-o", "--output"):
                output = value
        elif arg.startswith("-"):
            raise Refused(
                f"unknown flag: {arg} (the local mesh's istioctl takes --port, --address, -o)"
            )
        elif not pod:
            pod = arg
        else:
            raise Refused(f'unexpected argument "{arg}"')
    if not pod:
        raise Refused("proxy-config requires pod name or --file parameter")
    if output not in ("json", "yaml"):
        raise Refused(
            "the local mesh's istioctl prints proxy-config as json or yaml (-o json), not "
            "as istioctl's table"
        )
    name = pod.split(".")[0]
    if not any(kubectl.name_of(p) == name for p in session.pods(None)):
        raise Refused(f'pods "{name}" not found')
    try:
        dump = session.mesh.sidecar_config_dump(LISTENERS)
    except ClusterError as error:
        raise Refused(str(error)) from None
    listeners = []
    for listener in configs(dump, "listener"):
        socket = (listener.get("address") or {}).get("socket_address") or {}
        if port and int(socket.get("port_value") or 0) != port:
            continue
        if address and str(socket.get("address", "")).lower() != address.lower():
            continue
        listeners.append(_protojson({k: v for k, v in listener.items() if k != "@type"}))
    text = json.dumps(listeners, indent=4, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if output == "yaml":
        text = kubectl.kubeargs.to_yaml(listeners).rstrip("\n")
    return text + "\n"


def _protojson(value: object, *, map_keys: bool = False, data: bool = False) -> object:
    """Envoy's config dump (snake_case field names) as protojson writes it (lowerCamel):
    a map field's keys, and a Struct's content (metadata, a TypedStruct's value), are
    data and stay as they are."""
    if isinstance(value, list):
        return [_protojson(item, data=data) for item in value]
    if not isinstance(value, dict):
        return value
    if data:
        return value
    typed_struct = str(value.get("@type", "")).endswith("TypedStruct")
    out = {}
    for key, item in value.items():
        name = key if map_keys or key.startswith("@") else _camel(key)
        out[name] = _protojson(
            item,
            map_keys=key in MAP_FIELDS,
            data=key == "filter_metadata" or (typed_struct and key == "value"),
        )
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


if __name__ == "__main__":
    sys.exit(main())
