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

from clusters.local import kubectl, runstate, sourcepod
from clusters.local.backend import BACKEND
from clusters.local.mesh import READY_TIMEOUT_S, LocalCluster
from clusters.protocol import ClusterError, Injection, OutboundTrafficPolicy
from clusters.shared import processes, runtime
from clusters.shared.cli_values import seconds

RUN_ID = "cli"
KUBECTL_VERBS = {
    "apply": "kubectl apply: -f FILE (or - for stdin), as the page applies YAML",
    "delete": "kubectl delete: KIND NAME... or -f FILE",
    "get": "kubectl get: KIND [NAME] [-n NS | -A] [-o yaml|json|name|wide]",
}


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

    # apply, delete and get are the mesh's own kubectl (clusters/local/kubectl.py, the
    # one the page's commands run), so they answer as kubectl does: its flags, columns,
    # `unchanged`, its errors. Their arguments go to it as they are.
    for verb, what in KUBECTL_VERBS.items():
        verb_parser = commands.add_parser(verb, help=what, prefix_chars="\0", add_help=False)
        verb_parser.add_argument("args", nargs=argparse.REMAINDER)
        verb_parser.set_defaults(handler=_kubectl, verb=verb)

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
    if BACKEND.check is not None:  # what pytest checks before a run: one line, nothing made
        BACKEND.check(options)
    if BACKEND.prepare is not None:  # httpbin loads while the rest of up begins
        BACKEND.prepare(options)
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


def _kubectl(args: argparse.Namespace) -> int:
    """The verb as the mesh's kubectl runs it; after a change that kubectl took, the
    wait for the sidecar, whose failure is reported as such (the change stays, as on a
    cluster)."""
    if any(arg in ("-h", "--help") for arg in args.args):  # the mesh's kubectl has no help
        print(f"usage: egress-mesh {args.verb} ARGS...\n\n{KUBECTL_VERBS[args.verb]}")
        return 0
    environ = {kubectl.RUN_ID_ENV: RUN_ID}
    if args.run_root is not None:
        environ[kubectl.RUN_ROOT_ENV] = str(args.run_root)
    code = kubectl.main([args.verb, *args.args], environ=environ)
    if code != 0 or args.verb == "get":
        return code
    if any(a.startswith("--dry-run") and a != "--dry-run=none" for a in args.args):
        return code
    try:
        _attach(args).wait_for_proxy_config(READY_TIMEOUT_S)
    except ClusterError as error:
        raise ClusterError(f"{args.verb} done, but the sidecar did not take it: {error}") from None
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
    mesh = _attach(args)
    refusal = sourcepod.runtime_refusal(command)
    if refusal is not None:  # as `kubectl exec` prints the runtime's refusal, no more
        sys.stderr.write(runtime.kubectl_error(refusal))
        return runtime.REFUSED_EXIT_CODE
    result = mesh.exec_in_source_pod(command, timeout=args.timeout)
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
