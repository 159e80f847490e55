"""``python -m clusters.kind.kit.images_cli istio|samples|internet ...``: part B of the kit.

Builds ahead of a run what the kind backend loads into its node (Istio's images and
istioctl, the samples), and runs the fake internet by hand. It sits on top of the three
modules it drives; none of them imports it. Every line it prints to
stdout is a result (an image name, a path, a flag, a Corefile); progress goes to stderr.
``add_subcommands`` lets a kit-wide ``__main__`` offer the same subcommands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from clusters.kind.docker import DockerDaemon
from clusters.kind.kit import fake_internet, istio_images, samples
from clusters.protocol import ClusterError


def add_subcommands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``istio``, ``samples`` and ``internet`` subcommands, on any parser."""
    istio = subparsers.add_parser("istio", help="build pilot, proxyv2 and istioctl")
    istio.add_argument("--istio-version", help="a pinned Istio (default: 1.31-dev)")
    istio.add_argument(
        "--print",
        choices=("images", "flags", "istioctl", "tag"),
        default="images",
        help="what to print: the image names (default), istioctl install's flags "
        "(no build), istioctl's path, or the tag (no build)",
    )
    istio.set_defaults(run=_istio)
    samples = subparsers.add_parser("samples", help="build the sleep and httpbin images")
    samples.add_argument("--istio-version", help="whose samples/httpbin/httpbin.yaml to read")
    samples.set_defaults(run=_samples)
    internet = subparsers.add_parser("internet", help="the fake internet on the kind network")
    internet.add_argument("action", choices=("image", "up", "down", "corefile", "ca"))
    internet.add_argument("--sites", type=Path, help="a sites file (default: the local mesh's)")
    internet.add_argument(
        "--corefile",
        type=Path,
        help="for 'corefile': the cluster's Corefile (default: stdin); prints it patched",
    )
    internet.set_defaults(run=_internet)


def _istio(args: argparse.Namespace) -> list[str]:
    istio = istio_images.release(args.istio_version)
    if args.print == "flags":
        return [" ".join(istio_images.install_flags(istio))]
    if args.print == "tag":
        return [istio.tag]
    if args.print == "istioctl":
        return [str(istio_images.istioctl(istio))]
    daemon = _daemon()
    try:
        return istio_images.ensure_images(daemon, istio)
    finally:
        daemon.stop()  # gives its lease back; the daemon ends if no one else uses it


def _samples(args: argparse.Namespace) -> list[str]:
    daemon = _daemon()
    try:
        return samples.ensure_images(daemon, args.istio_version)
    finally:
        daemon.stop()


def _internet(args: argparse.Namespace) -> list[str]:
    if args.action == "ca":
        return [str(fake_internet.ca_bundle())]
    sites = fake_internet.kind_sites(args.sites)
    if args.action == "corefile":
        text = args.corefile.read_text() if args.corefile else sys.stdin.read()
        return [fake_internet.patched_corefile(text, sites).rstrip("\n")]
    daemon = _daemon()
    if args.action == "image":
        try:
            return [fake_internet.ensure_image(daemon)]
        finally:
            daemon.stop()
    if args.action == "down":
        return fake_internet.stop(daemon)
    started = fake_internet.start(daemon, sites)
    return [json.dumps({site.host: site.address for site in started})]


def _daemon() -> DockerDaemon:
    """The project's Docker daemon, started when it is not running."""
    return DockerDaemon.ensure()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clusters.kind.kit.images_cli",
        description="The kind kit's images: Istio, the samples, the fake internet.",
    )
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        lines = args.run(args)
    except ClusterError as error:
        print(f"egress-conformance: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
