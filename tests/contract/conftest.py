"""The contract's clusters: each registered backend started once per session, on first
use, and closed at its end; the contract tests and any other test of this folder that
asks ``started_cluster(name)`` share them.

``fake`` runs everywhere; ``local`` needs root; ``kind`` and ``existing`` run when
EGRESS_CONTRACT_BACKENDS names them (``kind,existing``), since they need a cluster.
``existing`` uses $KUBECONFIG's cluster, else the session's kind cluster, which it only
finds and uses, as it would someone else's.

The local mesh and kind both serve the fidelity corpus' fake internet
(clusters/fidelity/sites.yaml: the page's sites and the few the corpus adds), so the
fidelity comparison (local against kind) runs on these same clusters.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clusters import backends
from clusters.fidelity.corpus import SITES_FILE
from clusters.plugin import Common
from clusters.protocol import Cluster
from clusters.shared.cleanup import CleanupStack

REQUESTED = set(filter(None, os.environ.get("EGRESS_CONTRACT_BACKENDS", "").split(",")))
WORKER = "contract"
SUMMARY: list[str] = []  # lines a test leaves for the terminal summary, -s or not

StartedCluster = Callable[[str], Cluster]


def skip_reason(name: str) -> str | None:
    """Why the named backend cannot run here, or None."""
    if name == "local" and os.geteuid() != 0:
        return "the local backend needs root"
    if name in ("kind", "existing") and name not in REQUESTED:
        return f"set EGRESS_CONTRACT_BACKENDS={name} to run the contract on a real cluster"
    return None


@pytest.fixture(scope="session")
def started_cluster() -> Iterator[StartedCluster]:
    """``started_cluster(name)``: the named backend's running cluster (started on first
    use, the same one afterwards); a backend that cannot run here skips the test."""
    running: dict[str, Cluster] = {}
    failed: dict[str, BaseException] = {}
    with CleanupStack() as cleanup:

        def options(name: str) -> Any:
            chosen = backends.backend(name).options_from({}, Common(worker=WORKER))
            if name in ("local", "kind"):
                chosen = dataclasses.replace(chosen, sites_file=SITES_FILE)
            if name == "local":  # a private run root, removed whole at the end
                from clusters.local import runstate

                root = Path(tempfile.mkdtemp(prefix="egc-contract-", dir="/run"))
                root.chmod(0o755)  # the sidecar's uid reads its config under it
                cleanup.push(f"run root {root}", lambda: runstate.remove_private_root(root))
                return dataclasses.replace(chosen, run_root=root)
            if name == "existing" and not os.environ.get("KUBECONFIG"):
                theirs: Any = started("kind")  # someone else's, as far as it can tell
                return dataclasses.replace(
                    chosen,
                    kubeconfig=theirs.settings.kubeconfig,
                    istioctl=theirs.settings.istioctl,
                )
            return chosen

        def started(name: str) -> Cluster:
            if reason := skip_reason(name):
                pytest.skip(reason)
            if name in failed:  # once is enough to wait for a start that fails
                raise failed[name]
            if name not in running:
                try:
                    cluster = backends.backend(name).start(options(name))
                except BaseException as error:
                    failed[name] = error
                    raise
                cleanup.push(f"the {name} cluster", cluster.close)
                running[name] = cluster
            return running[name]

        yield started


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
