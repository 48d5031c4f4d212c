"""``leave_refused_taken``: holiday taken in term time without the school's leave (``G``).

Leave taken after a refused request is unauthorised and can lead straight to a penalty
notice, without first offering support (docs/domain.md §2). The rule fires when the last
``school_weeks`` school weeks hold ``min_sessions`` or more sessions coded
``codes.HOLIDAY_NOT_GRANTED``. The concern key carries the first day of the latest
run of such days, so a new holiday is a new concern. Whether to ask for a penalty
notice is for the headteacher.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar

from .base import Rule, RuleParams, weeks_back
from .findings import Finding, fmt_date, plural
from .register_data import RegisterMatrix

RULE_ID = "leave_refused_taken"
CODES = {C.HOLIDAY_NOT_GRANTED}


class Params(RuleParams):
    school_weeks: int = Field(10, ge=1, le=52, description="Look back this many school weeks (with the "
                              "evaluation date's week).")
    min_sessions: int = Field(1, ge=1, description="Sessions of holiday not granted (G) in that time that raise "
                              "a finding.")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    start = weeks_back(calendar, as_of, params.school_weeks)
    cols = reg.slot_slice(start, as_of)
    g = reg.count(CODES, cols)
    out = []
    for p in np.flatnonzero(g >= params.min_sessions):
        evidence = reg.marks_where(p, CODES, cols)
        runs = _runs(reg, sorted({d for d, _, _ in evidence}))
        first, last = runs[-1]
        run_days = reg.day_slice(first, last)
        n_days = run_days.stop - run_days.start
        out.append(reg.finding(p, RULE_ID, about=first, summary=(
                f"{plural(len(evidence), 'session')} of holiday not granted by the school (G) in the last "
                f"{params.school_weeks} school weeks, the latest from {fmt_date(first)} to {fmt_date(last)} "
                f"({plural(n_days, 'school day')}). Leave taken after a refusal can go straight to a penalty "
                f"notice: the headteacher decides."
            ),
            figures={"g_sessions": len(evidence), "latest_run_start": first, "latest_run_end": last,
                     "latest_run_school_days": n_days, "runs": len(runs)},
            evidence=evidence, period=(start, as_of), level="warning", formal=True,
        ))
    return out


def _runs(reg: RegisterMatrix, days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Group school days into runs of consecutive school days."""
    runs: list[tuple[dt.date, dt.date]] = []
    prev_i = None
    for d in days:
        i = reg.day_slice(d, d).start
        if prev_i is not None and i == prev_i + 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
        prev_i = i
    return runs


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    return weeks_back(calendar, as_of, params.school_weeks)


RULE = Rule(RULE_ID, "Leave refused, taken anyway", Params, evaluate, reads_from, __doc__)
