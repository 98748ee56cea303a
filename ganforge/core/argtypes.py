"""argparse ``type=`` functions that refuse out-of-range numbers in argparse's own one-line error."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ganforge.core.choices import DECODING, VIVIDNESS_RANGE


def at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer option that must be ``low`` or more (``--size -5`` is refused, not run), and ``high`` or less."""

    def parse(text: str) -> int:
        value = int(text)  # a ValueError becomes argparse's "invalid int value"
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be at least {low}, got {value}" if high is None else f"must be in [{low}, {high}], got {value}"
            )
        return value

    parse.__name__ = "int"
    return parse


def sizes_at_least(low: int, high: int | None = None) -> Callable[[str], int | tuple[int, ...]]:
    """One integer, or several separated by commas, each in [``low``, ``high``] (``--size 128,192``)."""
    single = at_least(low, high)

    def parse(text: str) -> int | tuple[int, ...]:
        values = tuple(single(part) for part in text.split(","))
        return values[0] if len(values) == 1 else values

    parse.__name__ = "int"
    return parse


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A number in an interval; ``low_open``/``high_open`` leave that end out."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        value = float(text)
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (math.isfinite(value) and above and below):
            raise argparse.ArgumentTypeError(f"must be in {interval}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


def positive(text: str) -> float:
    """A finite number above 0 (temperatures)."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


positive.__name__ = "float"


# The decoding options of classification models (choices.DECODING), each with the type that checks its value.
DECODING_TYPES: dict[str, Callable[[str], float]] = dict(zip(DECODING, (positive, between(*VIVIDNESS_RANGE))))
