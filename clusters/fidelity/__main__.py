"""``python -m clusters.fidelity`` (``make fidelity``): the local mesh against kind.

Starts a kind cluster through the kind backend (or, with ``--reuse-cluster NAME``, uses
a running one) and a local mesh, both serving the corpus' fake internet (sites.yaml),
checks that they run the same Istio build, and runs the corpus on both. Prints
``local vs kind: N/M identical``, each differing case's differences and the distinct
differences with their cases, and writes every detail to ``reports/fidelity.json``.
Exits 0 whatever the count (differences are the measurement); 2 when a side cannot
start or the builds differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from clusters import backends
from clusters.fidelity.corpus import CORPUS_DIR, SITES_FILE, CorpusError, load_corpus
from clusters.fidelity.known import KNOWN_FILE, load_known
from clusters.fidelity.measure import measure
from clusters.fidelity.report import render
from clusters.protocol import Cluster, ClusterError, PrerequisiteMissing

DEFAULT_REPORT = Path("reports/fidelity.json")
MARKS = {"identical": ".", "differs": "D", "flaky": "f", "error": "E"}


@contextmanager
def started_sides(
    reuse_cluster: str | None = None, istio_version: str | None = None
) -> Iterator[dict[str, Cluster]]:
    """The local mesh and a kind cluster, both with the corpus' sites, for the block."""
    kind_backend, local_backend = backends.backend("kind"), backends.backend("local")
    with ExitStack() as stack:
        kind = stack.enter_context(
            kind_backend.start(
                kind_backend.options_type(
                    sites_file=SITES_FILE, reuse_cluster=reuse_cluster, istio_version=istio_version
                )
            )
        )
        local = stack.enter_context(
            local_backend.start(
                local_backend.options_type(
                    sites_file=SITES_FILE, istio_version=istio_version, owner="fidelity"
                )
            )
        )
        yield {"local": local, "kind": kind}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusters.fidelity", description=__doc__)
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="the cases' directory")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="the JSON report")
    parser.add_argument("--reuse-cluster", metavar="NAME", help="a running kind cluster")
    parser.add_argument("--istio-version", help="the pinned Istio build (default: the default)")
    parser.add_argument(
        "--sequential", action="store_true", help="one side at a time (slower; for debugging)"
    )
    args = parser.parse_args(argv)
    try:
        cases = load_corpus(args.corpus, args.case)
        known = load_known(KNOWN_FILE)
        with started_sides(args.reuse_cluster, args.istio_version) as sides:
            report = measure(sides, cases, parallel=not args.sequential, progress=_progress)
    except (CorpusError, ClusterError, PrerequisiteMissing) as error:
        print(f"fidelity: {error}", file=sys.stderr)
        return 2
    print()
    print(render(report, known))
    write(report, args.report)
    print(f"details: {args.report} ({report['elapsed_s']:.1f} s)")
    return 0


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def _progress(name: str, verdict: str) -> None:
    print(MARKS[verdict], end="", flush=True)


if __name__ == "__main__":
    sys.exit(main())
