"""What every rule shares: its parameter model's base, the ``Rule`` record and helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from casework.register import codes as C
from casework.register.calendar import CalendarError, SchoolCalendar, school_year_start

from .findings import Finding
from .register_data import RegisterMatrix


class RuleParams(BaseModel):
    """Parameters of a rule, as a workflow file sets them. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_codes(value: list[str]) -> list[str]:
    for c in value:
        if not C.is_code(c):
            raise ValueError(f"unknown attendance code {c!r}")
    if not value:
        raise ValueError("give at least one code")
    return value


CodeList = Annotated[list[str], AfterValidator(_known_codes)]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    Params: type[RuleParams]
    evaluate: Callable[[RegisterMatrix, SchoolCalendar, RuleParams, dt.date], list[Finding]]
    # The earliest date the rule reads, so the caller loads enough of the register.
    reads_from: Callable[[SchoolCalendar, RuleParams, dt.date], dt.date]
    doc: str = ""


def from_school_year(calendar: SchoolCalendar, params: RuleParams, as_of: dt.date) -> dt.date:
    return school_year_start(as_of)


def weeks_back(calendar: SchoolCalendar, as_of: dt.date, n_weeks: int) -> dt.date:
    """The Monday of the first of the ``n_weeks`` school weeks ending with the one holding ``as_of``."""
    start = calendar.window_start_for(as_of, max(1, n_weeks))
    return start or as_of


def school_days_back(calendar: SchoolCalendar, day: dt.date, n: int) -> dt.date | None:
    try:
        return calendar.subtract_school_days(day, n)
    except CalendarError:
        return None
