"""The page's ``kubectl delete`` lines, read into what the Cluster protocol can do.

The cleanup sections give literal commands (``kubectl delete serviceentry httpbin-ext
google``); a feature quotes them and the step parses them here, so the report shows the
page's line as written and the deletions it meant.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from clusters.istio.kubectl_documents import canonical_kind

TRUE = {"", "true"}


@dataclass(frozen=True)
class DeleteCommand:
    kind: str  # canonical: ServiceEntry, VirtualService
    names: tuple[str, ...]
    ignore_not_found: bool = False


def parse_delete(command: str) -> DeleteCommand:
    """Read ``kubectl delete KIND NAME... [--ignore-not-found[=true|false]]``."""
    argv = shlex.split(command)
    if argv[:2] != ["kubectl", "delete"] or len(argv) < 4:
        raise ValueError(f"expected `kubectl delete KIND NAME...`, got `{command}`")
    ignore = False
    words: list[str] = []
    for arg in argv[2:]:
        if arg.startswith("--ignore-not-found"):
            value = arg.removeprefix("--ignore-not-found").removeprefix("=").lower()
            if value not in TRUE | {"false"}:
                raise ValueError(f"invalid --ignore-not-found value in `{command}`")
            ignore = value in TRUE
        elif arg.startswith("-"):
            raise ValueError(f"unsupported kubectl flag {arg} in `{command}`")
        else:
            words.append(arg)
    resource, *names = words
    kind = canonical_kind(resource.split(".", 1)[0])
    if kind is None:
        raise ValueError(f'the server doesn\'t have a resource type "{resource}"')
    if not names:
        raise ValueError(f"`{command}` names no {resource} to delete")
    return DeleteCommand(kind=kind, names=tuple(names), ignore_not_found=ignore)
