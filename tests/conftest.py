"""Fixtures the integration tests share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.local import runstate


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
