"""`make venv` installs the checkout in editable mode without setuptools' warning text.

pip runs the build backend's PEP 660 hook (`build_editable`) in a subprocess and relays
its warnings; a fresh `make conformance` used to print setuptools' "Editable installation"
notice (a BuildBackendWarning under pip) every time. The test calls the same hook, offline,
with the venv's setuptools (the dev extra pins it at build-system.requires), on a copy of
the project's pyproject.toml beside empty packages of the names it includes.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"

BUILD = (
    "import sys; from setuptools import build_meta; print(build_meta.build_editable(sys.argv[1]))"
)


def _included_packages(pyproject: dict) -> list[str]:
    """The top-level package names that packages.find includes (`clusters*` → clusters)."""
    find = pyproject["tool"]["setuptools"]["packages"]["find"]
    return sorted({pattern.rstrip("*").split(".")[0] for pattern in find["include"]})


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    copy = tmp_path / "project"
    copy.mkdir()
    (copy / "pyproject.toml").write_text(PYPROJECT.read_text(encoding="utf-8"), "utf-8")
    for name in _included_packages(pyproject):
        (copy / name).mkdir()
        (copy / name / "__init__.py").write_text("", "utf-8")
    return copy


def test_the_venvs_setuptools_is_what_an_isolated_build_fetches() -> None:
    """Older setuptools (Python 3.11's bundled 65) never printed the notice: a pass there
    would say nothing about what pip's isolated build prints."""
    import setuptools

    major = int(setuptools.__version__.split(".")[0])
    assert major >= 68, (
        f"the venv has setuptools {setuptools.__version__}; `make venv` installs the dev "
        "extra, which requires setuptools>=68"
    )


def test_the_editable_build_prints_no_warning_and_adds_the_checkout(
    project_copy: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", BUILD, str(wheels)],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"build_editable failed:\n{done.stderr[-2000:]}"
    for text in ("Editable installation", "Warning:"):
        assert text not in done.stderr, (
            f"the editable build printed {text!r} (pip relays it on every fresh make venv):\n"
            f"{done.stderr[-2000:]}"
        )
    wheel = wheels / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        pth = [n for n in archive.namelist() if n.endswith(".pth")]
        assert len(pth) == 1, f"expected one .pth in the editable wheel, found {pth}"
        entries = archive.read(pth[0]).decode().split()
    assert entries == [str(project_copy.resolve())], (
        f"the editable install should put the checkout on sys.path, its .pth holds {entries}"
    )
