"""``python -m clusters.kind.kit``: build the offline kit ahead of a run, by hand or by make.

- ``node``: build what is missing of the kind node image (progress on stderr) and print
  its name; a daemon started for it is stopped again unless ``--keep-daemon``.
- ``smoke``: build, create a kind cluster, wait for the node and CoreDNS, delete it.
- ``kind``: print the path of the ``kind`` binary (built when missing).
- ``tools``: build what is missing of the page's programs (kubectl, istioctl, helm) and
  print the directory that ``--literal`` puts first on PATH; ``tools helm``: helm's path.
- ``config PATH --image IMAGE``: write the kind cluster config.
- ``daemon-up`` / ``daemon-down``: start the project's Docker daemon and print its
  DOCKER_HOST / stop it and restore the host state.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from clusters.kind import docker
from clusters.kind.kit import config, node, programs, smoke, tools
from clusters.protocol import ClusterError
from clusters.shared import cache


def _node(args: argparse.Namespace) -> None:
    started = time.monotonic()
    daemon = docker.DockerDaemon.ensure()
    try:
        built = node.ensure_node_image(daemon, args.kubernetes_version)
        node.kind_binary()
    finally:
        if not args.keep_daemon:
            for line in daemon.stop():
                cache.say(f"restored: {line}")
    cache.say(f"node image ready in {time.monotonic() - started:.0f} s")
    print(built.image)


def _smoke(args: argparse.Namespace) -> None:
    daemon = docker.DockerDaemon.ensure()
    try:
        built = node.ensure_node_image(daemon, args.kubernetes_version)
        result = smoke.run_smoke(daemon, built)
    finally:
        for line in daemon.stop():
            cache.say(f"restored: {line}")
    print(result.pods)
    for step, seconds in result.timings.items():
        print(f"{step}: {seconds:.1f} s")


def _daemon_up(_: argparse.Namespace) -> None:
    daemon = docker.DockerDaemon.ensure()
    if daemon.owned:  # held until daemon-down, not by this short-lived process
        docker.take_lease(docker.MANUAL_LEASE)
        if daemon.lease is not None:
            daemon.lease.unlink(missing_ok=True)
    print(f"DOCKER_HOST={daemon.host}")


def _daemon_down(_: argparse.Namespace) -> None:
    daemon = docker.DockerDaemon.running()
    if daemon is None:
        cache.say("the project's Docker daemon is not running")
        return
    daemon.lease = docker.LEASES / docker.MANUAL_LEASE
    restored = daemon.stop()
    for line in restored:
        cache.say(f"restored: {line}")
    if not docker.live_leases():
        cache.say("stopped the project's Docker daemon")


def _tools(args: argparse.Namespace) -> None:
    if args.program == "helm":
        print(tools.helm_binary())
    else:
        print(tools.tools_dir(tools.binaries()))


def _config(args: argparse.Namespace) -> None:
    path = config.write_cluster_config(
        Path(args.path), args.image, kubernetes_version=args.kubernetes_version
    )
    print(path)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusters.kind.kit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("node", help="build the kind node image; print its name")
    build.add_argument("--kubernetes-version", default=programs.KUBERNETES_VERSION)
    build.add_argument("--keep-daemon", action="store_true", help="leave the daemon running")
    build.set_defaults(run=_node)
    check = commands.add_parser("smoke", help="create a cluster, check it, delete it")
    check.add_argument("--kubernetes-version", default=programs.KUBERNETES_VERSION)
    check.set_defaults(run=_smoke)
    commands.add_parser("kind", help="print the kind binary").set_defaults(
        run=lambda _: print(node.kind_binary())
    )
    page_tools = commands.add_parser("tools", help="build kubectl, istioctl, helm; print their dir")
    page_tools.add_argument("program", nargs="?", choices=("helm",), help="print only helm's path")
    page_tools.set_defaults(run=_tools)
    write = commands.add_parser("config", help="write the kind cluster config")
    write.add_argument("path")
    write.add_argument("--image", required=True)
    write.add_argument("--kubernetes-version", default=programs.KUBERNETES_VERSION)
    write.set_defaults(run=_config)
    commands.add_parser("daemon-up", help="start the project's Docker daemon").set_defaults(
        run=_daemon_up
    )
    commands.add_parser("daemon-down", help="stop it, restore the host").set_defaults(
        run=_daemon_down
    )
    args = parser.parse_args(argv)
    # Ctrl-C, and a CI cancel or make's SIGTERM, unwind through the builds' cleanup (no
    # half-written cache entry, build processes and containers ended); a shell's `&`
    # leaves SIGINT ignored, so it is set again.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        args.run(args)
    except ClusterError as error:
        print(f"egress-conformance: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("egress-conformance: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
