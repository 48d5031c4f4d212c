"""The three terms of an English school year, as the DfE's absence statistics count them:
autumn from 1 September to 31 December, spring from 1 January to Easter Sunday, summer from
Easter Monday to 31 August. A school's own term dates sit inside these (its Easter holiday
straddles the boundary), so a term's figures are the school days between them.

A term is named ``autumn-2025``, ``spring-2026``, ``summer-2026``: the season and the
calendar year it falls in.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from casework.register.calendar import england_bank_holidays, school_year_label

SEASONS = ("autumn", "spring", "summer")
_NAME = re.compile(r"^(autumn|spring|summer)-(\d{4})$")


class TermError(ValueError):
    """A term name that does not name a term."""


def easter_monday(year: int) -> dt.date:
    """Easter Monday (a bank holiday in England) of ``year``."""
    return next(d for d, name in england_bank_holidays([year]).items() if name == "Easter Monday")


@dataclass(frozen=True)
class Term:
    season: str
    year: int  # the calendar year the term falls in

    @classmethod
    def parse(cls, text: str) -> Term:
        m = _NAME.match(text.strip().lower())
        if not m or not 2000 <= int(m.group(2)) <= 2100:
            raise TermError(f"{text!r} is not a term: write autumn-YYYY, spring-YYYY or summer-YYYY "
                            "(e.g. autumn-2025 for September to December 2025)")
        return cls(m.group(1), int(m.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Term:
        """The term holding ``day``."""
        if day.month >= 9:
            return cls("autumn", day.year)
        return cls("spring" if day < easter_monday(day.year) else "summer", day.year)

    @property
    def key(self) -> str:
        return f"{self.season}-{self.year}"

    @property
    def start(self) -> dt.date:
        if self.season == "autumn":
            return dt.date(self.year, 9, 1)
        return dt.date(self.year, 1, 1) if self.season == "spring" else easter_monday(self.year)

    @property
    def end(self) -> dt.date:
        if self.season == "autumn":
            return dt.date(self.year, 12, 31)
        return easter_monday(self.year) - dt.timedelta(days=1) if self.season == "spring" else dt.date(self.year, 8, 31)

    @property
    def school_year(self) -> str:
        """The school year the term belongs to, as ``2025-26``."""
        return school_year_label(self.start)

    @property
    def label(self) -> str:
        return f"{self.season.capitalize()} term {self.year} ({self.school_year})"

    def previous(self) -> Term:
        i = SEASONS.index(self.season)
        if i == 0:
            return Term("summer", self.year)
        return Term(SEASONS[i - 1], self.year if self.season == "summer" else self.year - 1)
