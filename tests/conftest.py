"""Fixtures the integration tests share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.local import runstate
from tests import small_run as small_run_module


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
    return directory / "reports"
