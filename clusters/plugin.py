"""What a backend declares to be one: a :class:`Backend`, in its own package's
``backend.py``, named by one line of the registry (``backends.py`` beside this module).

The declaration is data plus two functions, so that the suite can list every backend's
options (pytest's ``--help``, ``egress-mesh up``) without importing any backend's
implementation: ``start`` imports that when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from clusters.protocol import Cluster, Waits


@dataclass(frozen=True)
class Option:
    """A command-line option as data: its flag, argparse's keyword arguments and help."""

    flag: str  # --local-sites
    help: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # type, choices, default, ...

    @property
    def dest(self) -> str:
        """The attribute argparse (and pytest's getoption) stores the value under."""
        return str(self.kwargs.get("dest") or self.flag.lstrip("-").replace("-", "_"))

    @property
    def default(self) -> Any:
        if self.kwargs.get("action") == "store_true":
            return self.kwargs.get("default", False)
        return self.kwargs.get("default")


@dataclass(frozen=True)
class Common:
    """What every backend's options are built from besides its own options."""

    worker: str = "main"  # pytest-xdist's worker id (gw0...), so parallel runs never collide
    propagation_timeout: float | None = None  # --propagation-timeout (None: the backend's)
    exec_timeout: float | None = None  # --exec-timeout (None: the backend's)
    report_dir: Path = Path("reports")  # where the run's reports (and kind's logs) go

    def waits(self, defaults: Waits) -> Waits:
        """The backend's default waits with the user's bounds put in."""
        return replace(
            defaults,
            propagation=defaults.propagation
            if self.propagation_timeout is None
            else self.propagation_timeout,
            exec=defaults.exec if self.exec_timeout is None else self.exec_timeout,
        )


class BackendOptions(Protocol):
    """Every backend's options dataclass holds its resolved waits."""

    @property
    def waits(self) -> Waits: ...


OptionsT = TypeVar("OptionsT", bound=BackendOptions)


@dataclass(frozen=True)
class Backend(Generic[OptionsT]):
    """One backend: its name, what it is, its options and how to start it."""

    name: str  # the --cluster value
    description: str  # one line
    options_type: type[OptionsT]
    waits: Waits  # its defaults
    options: tuple[Option, ...]  # its command-line options
    # Its options dataclass, from its options' values (by dest) and the common settings.
    build: Callable[[Mapping[str, Any], Common], OptionsT]
    start: Callable[[OptionsT], Cluster]  # a running cluster; the caller closes it
    # Before anything starts (pytest_configure, `egress-mesh up`): the machine's
    # prerequisites and the options' values that can be checked without starting, each
    # mistake raised as PrerequisiteMissing or ClusterError in one line, so a run that
    # cannot start stops before it writes any report.
    check: Callable[[OptionsT], None] | None = None
    # In the process that will start the cluster, as soon as it knows it will (an xdist
    # worker's configure, before its collection): work the start would otherwise wait
    # for, begun in the background. It must be cheap to call and safe to leave unused.
    prepare: Callable[[OptionsT], None] | None = None

    def options_from(self, values: Mapping[str, Any], common: Common | None = None) -> OptionsT:
        """Its options from the values given (by dest; the rest take their defaults)."""
        given = {option.dest: option.default for option in self.options}
        given.update({key: value for key, value in values.items() if key in given})
        return self.build(given, common or Common())
