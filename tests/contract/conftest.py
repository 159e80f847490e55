"""The contract tests' clusters: one per backend for the whole session, started on first
use through ``started_cluster(name)`` and torn down at the end, so the protocol's
contract and the fidelity comparison (local against kind) share one kind cluster.

Both the local mesh and kind serve the fidelity corpus' fake internet
(clusters/fidelity/sites.yaml): the page's sites plus the few the corpus adds, so the
contract (which reaches httpbin.org only) runs unchanged on it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from clusters.backends import BackendOptions, start_backend
from clusters.fidelity.corpus import SITES_FILE
from clusters.local import runstate
from clusters.protocol import Cluster

WORKER = "contract"
SUMMARY: list[str] = []  # lines a test leaves for the terminal summary, -s or not


@pytest.fixture(scope="session")
def started_cluster() -> Iterator[Callable[[str], Cluster]]:
    """``started_cluster("kind")``: the session's cluster of that backend."""
    clusters: dict[str, Cluster] = {}
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="egc-contract-", dir="/run"))
        root.chmod(0o755)  # the sidecar's uid must reach the local run directories
        stack.callback(runstate.remove_private_root, root)

        def start(name: str) -> Cluster:
            if name not in clusters:
                options = BackendOptions(run_root=root, worker=WORKER, sites_file=SITES_FILE)
                clusters[name] = stack.enter_context(start_backend(name, options))
            return clusters[name]

        yield start


@pytest.fixture(scope="session")
def terminal_summary() -> list[str]:
    """Lines for pytest's terminal summary (shown with or without ``-s``). A fixture, not
    an import: pytest loads this file under a module name of its own."""
    return SUMMARY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("fidelity: local vs kind")
        for line in SUMMARY:
            terminalreporter.write_line(line)
