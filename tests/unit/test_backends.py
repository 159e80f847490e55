"""The registry: one line per backend, each declared by its own package, none of which
imports the registry back; and a backend is loaded only when it is asked for."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from clusters import backends
from clusters.plugin import Backend
from clusters.protocol import ClusterError

ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_has_one_line_per_backend() -> None:
    source = (ROOT / "clusters/backends.py").read_text()
    for name, target in backends.REGISTRY.items():
        module, _, attribute = target.partition(":")
        line = f'    "{name}": "{target}",'
        assert source.count(line) == 1, f"{name}: not one line of its own"
        assert module == f"clusters.{'kube' if name == 'existing' else name}.backend"
        assert attribute == "BACKEND"
    assert set(backends.names()) == {"local", "kind", "existing", "fake"}


@pytest.mark.parametrize("name", backends.names())
def test_each_backend_declares_itself(name: str) -> None:
    declared = backends.backend(name)
    assert isinstance(declared, Backend) and declared.name == name
    assert declared.description and "\n" not in declared.description
    defaults = declared.options_from({})
    assert isinstance(defaults, declared.options_type) and defaults.waits == declared.waits
    for option in declared.options:
        assert option.flag.startswith("--") and option.help


def test_an_unknown_backend_is_refused_in_argparses_words() -> None:
    with pytest.raises(ClusterError) as refused:
        backends.backend("minikube")
    assert str(refused.value) == (
        "invalid choice: 'minikube' (choose from 'local', 'kind', 'existing', 'fake')"
    )


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_backend_imports_the_registry() -> None:
    """The registry knows the backends; they know only the protocol and the plugin type
    (a user of the registry, such as clusters/fidelity, is no backend)."""
    packages = {target.split(":")[0].rsplit(".", 1)[0] for target in backends.REGISTRY.values()}
    offenders = [
        str(path.relative_to(ROOT))
        for package in sorted(packages)
        for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py"))
        if "clusters.backends" in imported_modules(path)
    ]
    assert packages == {"clusters.local", "clusters.kind", "clusters.kube", "clusters.fake"}
    assert offenders == []
    plugin = imported_modules(ROOT / "clusters/plugin.py")
    assert {m.split(".")[1] for m in plugin if m.startswith("clusters.")} == {"protocol"}


def test_the_suites_options_import_no_backends_implementation() -> None:
    """Listing every backend's options (pytest --help) loads their declarations only: a
    run on local never imports kubernetes, and no run imports a mesh it does not start."""
    script = (
        "import sys; import pytest; from fixtures import options;"
        "options.pytest_addoption(pytest.Parser(_ispytest=True));"
        "heavy = ['kubernetes', 'clusters.local.mesh', 'clusters.kind.cluster',"
        " 'clusters.kube.cluster', 'clusters.kube.existing'];"
        "print([m for m in heavy if m in sys.modules])"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert found.stdout.strip() == "[]", found.stderr
