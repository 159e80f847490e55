"""What the project's tests share: the markers that say what a test needs, and the
fixtures of the integration tests.

The tests live in folders by what they test: unit/ (no mesh, no cluster), local/ (the
embedded mesh), kind/ (the kit, kind and kube backends), reports/ (the report plugins)
and contract/ (the Cluster protocol on every backend, and fidelity).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.local import runstate
from tests import small_run as small_run_module

KIT_ENV = "EGRESS_KIND_E2E"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``root`` and ``kit`` tests are skipped where what they need is missing, each with
    the one line that says how to run them."""
    not_root = pytest.mark.skip(reason="needs root (the local backend): run as root")
    no_kit = pytest.mark.skip(
        reason=f"needs the kind kit: set {KIT_ENV}=1 (make test-kind, make page-patch-kind)"
    )
    for item in items:
        if item.get_closest_marker("root") and os.geteuid() != 0:
            item.add_marker(not_root)
        if item.get_closest_marker("kit") and os.environ.get(KIT_ENV) != "1":
            item.add_marker(no_kit)


@pytest.fixture(scope="module")
def run_root() -> Iterator[Path]:
    """A private run root per test module, removed whole at the end (pytest's tmp dirs are
    not searchable by the sidecar's uid, so it lives under /run)."""
    root = Path(tempfile.mkdtemp(prefix="egc-tests-", dir="/run"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        runstate.remove_private_root(root)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reports of a small conformance run (tests/small_run.py): ten sections, one
    scenario failing with its diagnostics, one outdated (drift), the rest passing."""
    directory = tmp_path_factory.mktemp("small-run")
    done = small_run_module.run(directory)
    assert "1 failed, 9 passed, 1 outdated" in done.stdout, done.stdout[-2000:] + done.stderr
    (directory / "pytest.out").write_text(done.stdout)  # its summary line, for the report tests
    return directory / "reports"
