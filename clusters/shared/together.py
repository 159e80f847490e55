"""Creation steps that do not depend on each other, run at the same time.

A backend's creation is an ordered list of actions (as kind's is); where two of them
only wait on processes of their own (the local mesh's fake internet and its istiod
start side by side), running them on threads turns the sum of their waits into the
longest one. Every action runs to its end, failed or not, so that what each created is
registered on the cleanup stack before anyone closes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor

Action = tuple[str, Callable[[], None]]


def run_together(actions: Sequence[Action], timings: MutableMapping[str, float]) -> None:
    """Run ``actions`` at once and wait for all of them; each one's wall time goes in
    ``timings`` as ``NAME_s``. The first failure in the list's order is raised, with the
    others' errors as notes."""
    errors: dict[str, BaseException] = {}

    def timed(name: str, action: Callable[[], None]) -> None:
        begun = time.perf_counter()
        try:
            action()
        except BaseException as error:  # an interrupt in a thread is the caller's too
            errors[name] = error
        finally:
            timings[f"{name}_s"] = time.perf_counter() - begun

    with ThreadPoolExecutor(max_workers=len(actions), thread_name_prefix="create") as pool:
        for future in [pool.submit(timed, name, action) for name, action in actions]:
            future.result()
    failed = [name for name, _ in actions if name in errors]
    if failed:
        first = errors[failed[0]]
        for name in failed[1:]:
            first.add_note(f"{name} failed too: {errors[name]}")
        raise first
