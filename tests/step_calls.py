"""Calling a step function directly, as pytest-bdd would: with the fixtures and sentence
arguments its signature asks for (a step that takes fewer is given fewer)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def call_step(step: Callable[..., Any], **available: Any) -> Any:
    """``step`` with those of ``available`` its signature names."""
    wanted = inspect.signature(step).parameters
    return step(**{name: value for name, value in available.items() if name in wanted})
