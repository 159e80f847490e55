"""``egress-mesh``: the local backend by hand, the way a reviewer uses kubectl.

Every subcommand but ``up`` re-attaches to the mesh through its run directory, so the
mesh outlives each command until ``egress-mesh down`` (or the next ``up``) removes it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from clusters.istio.kubectl_documents import load_documents, read_manifest
from clusters.local import runstate
from clusters.local.backend import BACKEND
from clusters.local.kubeargs import to_yaml
from clusters.local.kubectl import deleted_line, kind_text, no_resources, operation_line
from clusters.local.mesh import DEFAULT_NAMESPACE, READY_TIMEOUT_S, LocalCluster
from clusters.protocol import ClusterError, Injection, OutboundTrafficPolicy
from clusters.shared import processes
from clusters.shared.cli_values import seconds

RUN_ID = "cli"


STATUS_NAMES = 20  # status lists this many names of a kind; get lists them all


def names_line(names: list[str], kind: str) -> str:
    """A kind's names for status, cut short as kubectl's describe would not list 10,000."""
    if len(names) <= STATUS_NAMES:
        return ", ".join(names) or "-"
    shown = ", ".join(names[:STATUS_NAMES])
    return f"{shown}, ... ({len(names)} in all: egress-mesh get {kind.lower()})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ClusterError as error:
        print(f"egress-mesh: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `egress-mesh status | head -1`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="egress-mesh",
        description="Drive the embedded mesh of egress-conformance (one run, kept in a run "
        "directory) the way the page drives a cluster with kubectl.",
    )
    parser.add_argument(
        "--run-root",
        type=Path,
        default=None,
        help=f"where run directories live (default {runstate.DEFAULT_RUN_ROOT})",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="start the mesh (removing any left by a crash)")
    up.add_argument("--sites", type=Path, help="a sites file for the fake internet")
    up.add_argument("--replace", action="store_true", help="replace a mesh that is still up")
    up.add_argument("--istio-version", help="a pinned Istio build for istiod")
    up.set_defaults(handler=_up)

    apply = commands.add_parser("apply", help="apply ServiceEntry/VirtualService YAML")
    apply.add_argument("-f", "--filename", required=True, help="a YAML file, or - for stdin")
    apply.set_defaults(handler=_apply)

    delete = commands.add_parser("delete", help="delete a resource: KIND NAME...")
    delete.add_argument("kind")
    delete.add_argument("names", nargs="+")
    delete.add_argument("--ignore-not-found", action="store_true")
    delete.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE)
    delete.set_defaults(handler=_delete)

    get = commands.add_parser("get", help="show resources of a kind: KIND [NAME]")
    get.add_argument("kind")
    get.add_argument("name", nargs="?")
    get.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE)
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-o", "--output", choices=("name", "yaml"), default=None)
    get.set_defaults(handler=_get)

    mode = commands.add_parser("mode", help="show or set meshConfig.outboundTrafficPolicy.mode")
    mode.add_argument("mode", nargs="?", choices=[m.value for m in OutboundTrafficPolicy])
    mode.set_defaults(handler=_mode)

    run = commands.add_parser("exec", help="run a command in the source pod: exec -- curl ...")
    run.add_argument("--timeout", type=seconds, default=60.0, metavar="SECONDS")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(handler=_exec)

    logs = commands.add_parser("logs", help="the sidecar's access log")
    logs.add_argument("--tail", type=_count, default=None, help="only the last N lines")
    logs.set_defaults(handler=_logs)

    pod = commands.add_parser("pod", help="re-create the source pod")
    pod.add_argument("--include-ip-ranges", help="comma-separated CIDRs the sidecar intercepts")
    pod.add_argument("--manual", action="store_true", help="as if injected by istioctl kube-inject")
    pod.set_defaults(handler=_pod)

    status = commands.add_parser("status", help="describe the mesh and its source pod")
    status.set_defaults(handler=_status)

    down = commands.add_parser("down", help="remove the mesh and everything it created")
    down.add_argument("--all", action="store_true", help="also remove runs left by crashes")
    down.set_defaults(handler=_down)
    return parser


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines (0 or more)")
    return int(text)


def _attach(args: argparse.Namespace) -> LocalCluster:
    return LocalCluster.attach(args.run_root, RUN_ID)


def _up(args: argparse.Namespace) -> int:
    running = _running_mesh(args.run_root or runstate.DEFAULT_RUN_ROOT)
    if running and not args.replace:
        raise ClusterError(
            f"a mesh is already up in {running}: use it, `egress-mesh down` it, "
            "or `egress-mesh up --replace`"
        )
    # The backend's options as pytest builds them, for the CLI's own run (kept until down).
    options = BACKEND.options_from({"local_sites": args.sites, "istio_version": args.istio_version})
    mesh = BACKEND.start(replace(options, run_root=args.run_root, owner="cli"))
    assert isinstance(mesh, LocalCluster)
    pod = mesh.source_pod()
    facts = mesh.describe()
    print(f"mesh ready in {mesh.timings['ready_s']:.2f}s; source pod {pod.name}")
    print(f"control plane: {facts['control_plane']}; Istio {facts['istio']}")
    print("try: egress-mesh exec -- curl -sSI https://www.google.com")
    return 0


def _running_mesh(root: Path) -> Path | None:
    """The CLI's run directory if its mesh is whole (every process alive), else None: a
    run with a dead process is what a crash left, and ``up`` removes it."""
    directory = root / RUN_ID
    try:
        state = runstate.RunState.load(directory)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    alive = state.processes and all(processes.is_running(p) for p in state.processes)
    return directory if alive else None


def _apply(args: argparse.Namespace) -> int:
    """kubectl apply: print what was created or configured once the API took it, then
    wait for the sidecar, whose failure is reported as such (the change stays applied,
    as on a cluster)."""
    data = sys.stdin.buffer.read() if args.filename == "-" else _read(Path(args.filename))
    text = read_manifest(data, "STDIN" if args.filename == "-" else args.filename)
    mesh = _attach(args)
    before = _present(mesh, load_documents(text))
    refs = mesh.apply(text)
    for ref in refs:
        names = mesh.kind_names(ref.kind)
        verb = "configured" if (ref.kind, ref.namespace, ref.name) in before else "created"
        print(operation_line(ref.kind, names.group, ref.name, verb), flush=True)
    try:
        mesh.wait_for_proxy_config(READY_TIMEOUT_S)
    except ClusterError as error:
        raise ClusterError(f"applied, but the sidecar did not take it: {error}") from None
    return 0


def _present(mesh: LocalCluster, documents: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of what the stream's kinds already hold, to tell
    ``created`` from ``configured``."""
    present = set()
    for kind, namespace in {
        (str(d.get("kind")), str((d.get("metadata") or {}).get("namespace") or DEFAULT_NAMESPACE))
        for d in documents
    }:
        try:
            items = mesh.get(kind, namespace)
        except ClusterError:
            continue  # a kind the mesh does not serve: apply refuses it in its own words
        present |= {(kind, namespace, item["metadata"]["name"]) for item in items}
    return present


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ClusterError(f"cannot read {path}: {error.strerror}") from None


def _delete(args: argparse.Namespace) -> int:
    mesh = _attach(args)
    kind = mesh.kind_names(args.kind)
    for name in args.names:
        deleted = mesh.delete(
            args.kind, name, ignore_not_found=args.ignore_not_found, namespace=args.namespace
        )
        if deleted:
            print(deleted_line(kind.kind, kind.group, name, args.namespace))
    mesh.wait_for_proxy_config(READY_TIMEOUT_S)
    return 0


def _get(args: argparse.Namespace) -> int:
    """kubectl get: names (``NAME`` and, with -A, ``NAMESPACE``), or the objects as YAML."""
    mesh = _attach(args)
    kind = mesh.kind_names(args.kind)
    namespace = None if args.all_namespaces else args.namespace
    items = mesh.get(args.kind, namespace)
    if args.name:
        items = [item for item in items if item["metadata"]["name"] == args.name]
        if not items:
            raise ClusterError(f'{kind.plural}.{kind.group} "{args.name}" not found')
    if not items:
        print(no_resources(namespace), file=sys.stderr)
        return 0
    if args.output == "yaml":
        body = items[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": items}
        sys.stdout.write(to_yaml(body))
        return 0
    for item in items:
        metadata = item["metadata"]
        if args.output == "name":
            print(f"{kind_text(kind.kind, kind.group)}/{metadata['name']}")
        elif namespace is None:
            print(f"{metadata['namespace']:<20} {metadata['name']}")
        else:
            print(metadata["name"])
    return 0


def _mode(args: argparse.Namespace) -> int:
    mesh = _attach(args)
    if args.mode:
        mesh.set_outbound_traffic_policy(OutboundTrafficPolicy(args.mode))
        mesh.wait_for_proxy_config(READY_TIMEOUT_S)
    print(mesh.outbound_traffic_policy().value)
    return 0


def _exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ClusterError("nothing to run: egress-mesh exec -- curl -sSI https://www.google.com")
    result = _attach(args).exec_in_source_pod(command, timeout=args.timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.exit_code:
        print(f"command terminated with exit code {result.exit_code}", file=sys.stderr)
    return result.exit_code


def _logs(args: argparse.Namespace) -> int:
    lines = _attach(args).sidecar_log()
    for line in lines if args.tail is None else lines[len(lines) - args.tail :]:
        print(line)
    return 0


def _pod(args: argparse.Namespace) -> int:
    ranges = args.include_ip_ranges.split(",") if args.include_ip_ranges else None
    injection = Injection.MANUAL if args.manual else Injection.AUTOMATIC
    pod = _attach(args).deploy_source_pod(injection, ranges)
    print(f"pod/{pod.name} created (include ranges: {','.join(pod.include_ip_ranges or ['*'])})")
    return 0


def _status(args: argparse.Namespace) -> int:
    """Every process of the mesh and whether it runs, then what the mesh holds."""
    mesh = _attach(args)
    dead = []
    for name, pid, alive in mesh.processes_status():
        print(f"process {name}: pid {pid} {'running' if alive else 'NOT RUNNING'}")
        if not alive:
            dead.append(name)
    if dead:  # the mesh cannot answer for its config: say what is wrong instead
        print(
            f"egress-mesh: error: the mesh is broken ({', '.join(dead)} not running): "
            "`egress-mesh up --replace` starts a new one",
            file=sys.stderr,
        )
        return 1
    for key, value in mesh.describe().items():
        print(f"{key}: {value}")
    pod = mesh.source_pod()
    print(f"pod: {pod.name} containers={','.join(pod.containers)} ready={pod.ready}")
    print(f"mode: {mesh.outbound_traffic_policy().value}")
    for kind in ("ServiceEntry", "VirtualService"):
        print(f"{kind}: {names_line(mesh.resources(kind), kind)}")
    return 0


def _down(args: argparse.Namespace) -> int:
    root = args.run_root or runstate.DEFAULT_RUN_ROOT
    directory = root / RUN_ID
    if (directory / "state.json").exists():
        try:
            state = runstate.RunState.load(directory)
        except (OSError, ValueError, KeyError, TypeError):
            runstate.destroy_damaged(directory)
            print("damaged mesh removed (its namespaces and the processes inside them)")
        else:
            runstate.destroy(state)
            print("mesh removed")
    removed = runstate.sweep(root, include_cli=True) if args.all else []
    if removed:
        print(f"removed runs left behind: {', '.join(removed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
