"""Small-cell suppression: counts from 1 to N−1 are never published.

Zero identifies nobody and is shown. A share is suppressed when its numerator or its denominator is, and a
statistic (median, quartiles) when fewer than N values went into it. ``below=0`` turns suppression off.
This is primary suppression only: a suppressed count may still be derived from two published ones (an
eligible and an engaged count), which is why the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias


class Suppressed:
    """The marker of a suppressed cell (``null`` in JSON, "suppressed" in HTML and CSV)."""

    _instance: Suppressed | None = None

    def __new__(cls) -> Suppressed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SUPPRESSED"

    def __bool__(self) -> bool:
        return False


SUPPRESSED: Final = Suppressed()

Cell: TypeAlias = int | float | str | bool | Suppressed | None
"""A published value: None means "not applicable" (no data), SUPPRESSED means "hidden"."""


@dataclass(frozen=True)
class SuppressionRule:
    below: int = 11

    def __post_init__(self) -> None:
        if self.below < 0:
            raise ValueError("the suppression threshold cannot be negative")

    def hides(self, n: int) -> bool:
        return 0 < n < self.below

    def count(self, n: int) -> int | Suppressed:
        return SUPPRESSED if self.hides(n) else n

    def share(self, numerator: int, denominator: int, digits: int = 4) -> float | Suppressed | None:
        """``numerator / denominator`` rounded; None when the denominator is 0."""
        if self.hides(numerator) or self.hides(denominator):
            return SUPPRESSED
        return round(numerator / denominator, digits) if denominator else None

    def statistic(self, value: float | None, n: int) -> float | Suppressed | None:
        """A statistic of ``n`` values (None when there is none)."""
        if value is None:
            return None
        return SUPPRESSED if self.hides(n) else value


def json_value(cell: Cell) -> int | float | str | bool | None:
    """A cell for JSON: suppressed → None."""
    return None if isinstance(cell, Suppressed) else cell
