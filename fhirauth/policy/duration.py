"""How long an authorization may run, as a policy writes it: ``90d``, ``12w``, ``6mo``, ``1y``."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_DURATION = re.compile(r"^\s*(\d{1,4})\s*(d|w|mo|y)\s*$")
_UNITS = {"d": "days", "w": "weeks", "mo": "months", "y": "years"}


@dataclass(frozen=True)
class Duration:
    """A number of days, weeks, calendar months or years."""

    amount: int
    unit: str  # d | w | mo | y

    def last_day(self, start: date) -> date:
        """The last day of a span of this length that begins on ``start`` (``30d`` from
        1 March ends on 30 March; ``1mo`` from 31 January ends on 27 or 28 February)."""
        if self.unit in ("d", "w"):
            days = self.amount * (7 if self.unit == "w" else 1)
            return start + timedelta(days=days - 1)
        months = self.amount * (12 if self.unit == "y" else 1)
        year, month = divmod(start.month - 1 + months, 12)
        year += start.year
        day = min(start.day, calendar.monthrange(year, month + 1)[1])
        return date(year, month + 1, day) - timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def words(self) -> str:
        unit = _UNITS[self.unit]
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"


def parse_duration(text: str) -> Duration:
    """``90d``, ``12w``, ``6mo``, ``1y`` → a Duration; ValueError for anything else."""
    found = _DURATION.match(str(text))
    if not found or int(found.group(1)) < 1:
        raise ValueError(f"{text!r} is not a duration such as 90d, 12w, 6mo or 1y")
    return Duration(int(found.group(1)), found.group(2))
