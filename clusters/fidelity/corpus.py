"""The fidelity corpus: Istio configs as data, one case per YAML file under ``corpus/``.

A case is a sequence of steps run on a freshly reset mesh. The first step's fields sit at
the top of the file (``mode``, ``apply``, ``probes``); ``then:`` lists later steps, which
is how mode changes, deletions and configs created a second later are expressed.
Addresses that differ by backend are placeholders (``${address:httpbin.org}``,
clusters/fidelity/addresses.py). Loading checks every field, so a typo in a case fails
in one line instead of silently probing nothing.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusters.fidelity.addresses import PLACEHOLDER
from clusters.protocol import OutboundTrafficPolicy

CORPUS_DIR = Path(__file__).with_name("corpus")
SITES_FILE = Path(__file__).with_name("sites.yaml")
# What a probe can record: curl's view, then the sidecar's access-log line for it.
RECORDABLE = ("http_code", "exit_code", "upstream_cluster", "response_flags", "route_name")
DEFAULT_MAX_TIME_S = 10.0
CASE_KEYS = frozenset({"name", "description", "mode", "apply", "delete", "probes", "then"})
STEP_KEYS = frozenset({"sleep_s", "mode", "apply", "delete", "probes"})
# The API server stores creationTimestamp to the second, and istiod orders configs for
# one host by it: a later step that must create its configs in a later second than the
# step before says so with ``sleep_s: 1``.
MAX_SLEEP_S = 5.0
PROBE_KEYS = frozenset({"curl", "record", "max_time"})


class CorpusError(ValueError):
    """A corpus file that does not describe a case; one line naming the file and field."""


@dataclass(frozen=True)
class Probe:
    """A curl command run in the source pod, and which of its observations count."""

    curl: str
    record: tuple[str, ...] = RECORDABLE
    max_time: float = DEFAULT_MAX_TIME_S

    @property
    def argv(self) -> list[str]:
        """The command with what every probe needs: silent, no body, the status on stdout,
        bounded in time (curl honours the last ``-w`` and ``--max-time``, so these go first
        and a probe may override them)."""
        words = shlex.split(self.curl)
        return [
            words[0],
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            f"{self.max_time:g}",
            *words[1:],
        ]


@dataclass(frozen=True)
class Step:
    """One change of the mesh (after a pause, mode, deletions, then one apply), then the
    probes."""

    sleep_s: float = 0.0
    mode: OutboundTrafficPolicy | None = None
    apply: str | None = None
    delete: tuple[tuple[str, str], ...] = ()  # (kind, name)
    probes: tuple[Probe, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    steps: tuple[Step, ...]
    path: Path | None = field(default=None, compare=False)

    @property
    def mode(self) -> OutboundTrafficPolicy:
        return self.steps[0].mode or OutboundTrafficPolicy.ALLOW_ANY

    def texts(self) -> list[str]:
        """Every manifest and probe command, where placeholders may be."""
        return [
            text
            for step in self.steps
            for text in (step.apply or "", *(probe.curl for probe in step.probes))
            if text
        ]


def load_corpus(directory: Path = CORPUS_DIR, names: Sequence[str] | None = None) -> list[Case]:
    """Every case of the corpus, sorted by file name; only ``names`` when given."""
    cases = [load_case(path) for path in sorted(directory.glob("*.yaml"))]
    if names:
        known = {case.name for case in cases}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise CorpusError(f"no corpus case named {', '.join(unknown)} in {directory}")
        cases = [case for case in cases if case.name in names]
    return cases


def load_case(path: Path) -> Case:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CorpusError(f"{path}: {' '.join(str(error).split())}") from None
    where = str(path)
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: expected a mapping with name, mode, apply and probes")
    _check_keys(data, CASE_KEYS, where)
    name = data.get("name")
    if name != path.stem:
        raise CorpusError(f"{where}: name {name!r} must be the file's name ({path.stem!r})")
    first = _step(data, where, first=True)
    later = data.get("then") or []
    if not isinstance(later, list):
        raise CorpusError(f"{where}.then: expected a list of steps")
    steps = [first]
    for index, item in enumerate(later):
        at = f"{where}.then[{index}]"
        if not isinstance(item, dict):
            raise CorpusError(f"{at}: expected a mapping with mode, apply, delete or probes")
        _check_keys(item, STEP_KEYS, at)
        steps.append(_step(item, at, first=False))
    if not any(step.probes for step in steps):
        raise CorpusError(f"{where}: a case needs at least one probe")
    for step in steps:
        for text in (step.apply or "", *(probe.curl for probe in step.probes)):
            for unknown in re.findall(r"\$\{[^}]*\}", text):
                if not PLACEHOLDER.fullmatch(unknown):
                    raise CorpusError(
                        f"{where}: {unknown} is not a placeholder "
                        "(${address:HOST}, ${cidr:HOST/N}, ${vip:SERVICE})"
                    )
    return Case(
        name=name,
        description=" ".join(str(data.get("description") or "").split()),
        steps=tuple(steps),
        path=path,
    )


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CorpusError(f"{where}: unknown field {unknown[0]!r} (known: {sorted(allowed)})")


def _step(data: Mapping[str, Any], where: str, *, first: bool) -> Step:
    mode = data.get("mode")
    if mode is None and first:
        raise CorpusError(f"{where}.mode: required (ALLOW_ANY or REGISTRY_ONLY)")
    try:
        policy = OutboundTrafficPolicy(mode) if mode is not None else None
    except ValueError:
        raise CorpusError(f"{where}.mode: {mode!r} is not ALLOW_ANY or REGISTRY_ONLY") from None
    apply = data.get("apply")
    if apply is not None and not isinstance(apply, str):
        raise CorpusError(f"{where}.apply: expected a YAML stream as a block string (|)")
    deletes = []
    for index, item in enumerate(data.get("delete") or ()):
        kind, _, name = str(item).partition("/")
        if not (kind and name):
            raise CorpusError(f"{where}.delete[{index}]: expected kind/name, got {item!r}")
        deletes.append((kind, name))
    probes = tuple(
        _probe(item, f"{where}.probes[{index}]")
        for index, item in enumerate(data.get("probes") or ())
    )
    sleep_s = data.get("sleep_s", 0.0)
    if not isinstance(sleep_s, int | float) or isinstance(sleep_s, bool):
        raise CorpusError(f"{where}.sleep_s: expected a number of seconds")
    if not 0 <= sleep_s <= MAX_SLEEP_S:
        raise CorpusError(f"{where}.sleep_s: {sleep_s:g} is not between 0 and {MAX_SLEEP_S:g}")
    return Step(
        sleep_s=float(sleep_s), mode=policy, apply=apply, delete=tuple(deletes), probes=probes
    )


def _probe(data: Any, where: str) -> Probe:
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: expected a mapping with curl and record")
    _check_keys(data, PROBE_KEYS, where)
    command = data.get("curl")
    if not isinstance(command, str) or not command.startswith("curl "):
        raise CorpusError(f"{where}.curl: expected a command starting with 'curl '")
    record = tuple(data.get("record") or RECORDABLE)
    unknown = [item for item in record if item not in RECORDABLE]
    if unknown:
        raise CorpusError(f"{where}.record: {unknown[0]!r} is not one of {list(RECORDABLE)}")
    max_time = data.get("max_time", DEFAULT_MAX_TIME_S)
    if not isinstance(max_time, int | float) or max_time <= 0:
        raise CorpusError(f"{where}.max_time: expected a positive number of seconds")
    return Probe(curl=command, record=record, max_time=float(max_time))
