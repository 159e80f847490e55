"""The known differences (``known_differences.yaml``): measured, each with its reason.

An entry names the cases it occurs in (``"*"`` for any), the aspect and the path of the
difference and, optionally, each side's value (``first``, ``second``): shell-style
wildcards, as :mod:`fnmatch` reads them; and why the sides differ there. A difference no
entry covers is new: the contract test fails on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from clusters.fidelity.compare import Difference
from clusters.fidelity.corpus import CorpusError

KNOWN_FILE = Path(__file__).with_name("known_differences.yaml")
KEYS = frozenset({"cases", "aspect", "path", "reason"})
OPTIONAL = frozenset({"first", "second"})


@dataclass(frozen=True)
class Known:
    cases: tuple[str, ...]
    aspect: str
    path: str
    reason: str
    first: str = "*"
    second: str = "*"

    def covers(self, case: str, difference: Difference) -> bool:
        return (
            ("*" in self.cases or case in self.cases)
            and difference.aspect == self.aspect
            and fnmatchcase(difference.path, self.path)
            and fnmatchcase(difference.first, self.first)
            and fnmatchcase(difference.second, self.second)
        )


def load_known(path: Path = KNOWN_FILE) -> list[Known]:
    """Every entry; CorpusError, one line, for an entry without cases, path or reason."""
    data = yaml.safe_load(path.read_text()) or []
    if not isinstance(data, list):
        raise CorpusError(f"{path}: expected a list of entries")
    out = []
    for index, item in enumerate(data):
        where = f"{path}[{index}]"
        if not isinstance(item, dict) or not KEYS <= set(item) <= KEYS | OPTIONAL:
            raise CorpusError(
                f"{where}: expected the fields {sorted(KEYS)} (and maybe {sorted(OPTIONAL)})"
            )
        cases = item["cases"]
        if not isinstance(cases, list) or not cases or not str(item["reason"]).strip():
            raise CorpusError(f"{where}: needs a list of cases and a reason")
        values = {key: str(item[key]) for key in OPTIONAL if key in item}
        out.append(
            Known(tuple(map(str, cases)), item["aspect"], item["path"], item["reason"], **values)
        )
    return out


def unknown(
    differences: Mapping[str, Sequence[Difference]], known: Sequence[Known]
) -> dict[str, list[Difference]]:
    """Per case, the differences no entry covers."""
    out = {}
    for case, found in differences.items():
        new = [d for d in found if not any(entry.covers(case, d) for entry in known)]
        if new:
            out[case] = new
    return out


def unused(differences: Mapping[str, Sequence[Difference]], known: Sequence[Known]) -> list[Any]:
    """Entries that cover no difference measured: fixed, or never measured."""
    return [
        entry
        for entry in known
        if not any(entry.covers(case, d) for case, found in differences.items() for d in found)
    ]
