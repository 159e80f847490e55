"""Command-line values shared by pytest's options and ``egress-mesh``, each refused in one
line when it is not what it must be."""

from __future__ import annotations

import argparse
import math


def seconds(text: str) -> float:
    """A timeout option's value: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds (e.g. 30)")
    return value
