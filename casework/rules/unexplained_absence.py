"""``unexplained_absence``: absent with no reason yet (``N``) on the latest school days.

Looks at the latest school day up to the evaluation date on which the register has
been taken (any pupil has a mark), and counts back the consecutive school days on
which the pupil has an ``N`` (reason not yet established) in at least one session.
Weekends and holidays do not break a run: they are not school days. The concern key
carries the day the run started, so a new run is a new concern.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar

from .base import Rule, RuleParams, school_days_back
from .findings import Finding, fmt_date, plural
from .register_data import RegisterMatrix

RULE_ID = "unexplained_absence"
CODES = {C.REASON_NOT_ESTABLISHED}


class Params(RuleParams):
    min_consecutive_days: int = Field(1, ge=1, description="Consecutive school days with an unexplained "
                                      "absence (N) up to the latest register that raise a finding.")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    out = []
    for p, k, first, last in reg.runs_to_latest(
            as_of, lambda days, cols: reg.day_any(reg.mask(CODES, cols), days), params.min_consecutive_days):
        evidence = reg.marks_where(p, CODES, reg.slot_slice(first, last))
        out.append(reg.finding(p, RULE_ID, about=first, summary=(
                f"Absent with no reason given (N) on {plural(k, 'consecutive school day')} "
                f"from {fmt_date(first)} to {fmt_date(last)} ({plural(len(evidence), 'session')})."
            ),
            figures={"consecutive_school_days": k, "sessions": len(evidence), "first_day": first,
                     "last_day": last},
            evidence=evidence, period=(first, last), level=f"day {k}",
        ))
    return out


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    # a run is followed as far back as the register is loaded; ask for at least 30 school days
    return school_days_back(calendar, as_of, max(30, params.min_consecutive_days + 5)) or calendar.first_day or as_of


RULE = Rule(RULE_ID, "Unexplained absence", Params, evaluate, reads_from, __doc__)
