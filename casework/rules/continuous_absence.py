"""``continuous_absence``: absent without the school's permission for 10 continuous school days.

The School Attendance (Pupil Registration) (England) Regulations 2024 and *Working
together to improve school attendance* (DfE, 2024) require a school to tell the local
authority of every pupil who has been absent without the school's permission for 10 or
more continuous school days (docs/domain.md §3). A school day counts toward the run when
the pupil has an unauthorised absence (``codes.UNAUTHORISED_CODES``, which includes an
unresolved ``N``) in a session and no attending, present or authorised mark that day;
any such mark ends the run. Weekends and holidays are not school days and do not break
it. The run is read back from the latest school day on which the register was taken; the
concern key carries the run's first day, so a new run is a new notification.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar

from .base import Rule, RuleParams, school_days_back
from .findings import Finding, fmt_date, plural
from .register_data import RegisterMatrix

RULE_ID = "continuous_absence"
BREAKS_RUN = C.ATTENDING_CODES | C.AUTHORISED_CODES


class Params(RuleParams):
    days: int = Field(10, ge=1, description="Continuous school days of absence without the school's permission "
                      "at which the local authority must be told. National duty (2024 Regulations): 10.")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    def away(days, cols):  # unauthorised absence that day, and nothing that breaks the run
        return reg.day_any(reg.mask(C.UNAUTHORISED_CODES, cols), days) & ~reg.day_any(reg.mask(BREAKS_RUN, cols), days)

    out = []
    for p, k, first, last in reg.runs_to_latest(as_of, away, params.days):
        evidence = reg.marks_where(p, C.UNAUTHORISED_CODES, reg.slot_slice(first, last))
        out.append(reg.finding(p, RULE_ID, about=first, summary=(
                f"Absent without the school's permission for {plural(k, 'continuous school day')} "
                f"from {fmt_date(first)} to {fmt_date(last)} ({plural(len(evidence), 'session')}): "
                f"at {params.days} the school must tell the local authority."
            ),
            figures={"continuous_school_days": k, "threshold_days": params.days, "sessions": len(evidence),
                     "first_day": first, "last_day": last},
            evidence=evidence, period=(first, last), level="notify LA", formal=True,
        ))
    return out


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    return school_days_back(calendar, as_of, max(30, params.days + 10)) or calendar.first_day or as_of


RULE = Rule(RULE_ID, "Ten school days absent without permission", Params, evaluate, reads_from, __doc__)
