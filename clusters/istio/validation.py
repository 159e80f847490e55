"""Placeholder until the validation module lands (see issue 2)."""

from collections.abc import Mapping
from typing import Any


def validate(document: Mapping[str, Any]) -> None:
    raise NotImplementedError


def duration_seconds(text: str) -> float:
    raise NotImplementedError
