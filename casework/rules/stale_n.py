"""``stale_n``: ``N`` marks not replaced in time.

``N`` (reason not yet established) must be replaced by the right code once the reason
is known, and no later than ``school_days`` (5) school days after the session
(docs/domain.md §1). As of a date D, an ``N`` is stale when that deadline — the fifth school
day after the session's day — has passed before D. An action for the office.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import ONE_DAY, CalendarError, SchoolCalendar, school_year_start

from .base import Rule, RuleParams
from .findings import Finding, fmt_date, fmt_marks, plural
from .register_data import RegisterMatrix

RULE_ID = "stale_n"
CODES = {C.REASON_NOT_ESTABLISHED}


class Params(RuleParams):
    school_days: int = Field(5, ge=0, description="An N must be replaced within this many school days after "
                             "the session. National rule: 5.")


def cutoff(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date | None:
    """The last day whose N marks are stale as of ``as_of`` (None if none can be yet)."""
    last_before = calendar.last_school_day_on_or_before(as_of - ONE_DAY)
    if last_before is None:
        return None
    try:
        return calendar.subtract_school_days(last_before, params.school_days)
    except CalendarError:
        return None


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    last = cutoff(calendar, params, as_of)
    if last is None:
        return []
    cols = reg.slot_slice(None, last)
    stale = reg.count(CODES, cols)
    out = []
    for p in np.flatnonzero(stale > 0):
        evidence = reg.marks_where(p, CODES, cols)
        oldest = evidence[0][0]
        out.append(reg.finding(
            p, RULE_ID,
            summary=(
                f"{plural(len(evidence), 'N mark')} (reason not yet established) older than "
                f"{params.school_days} school days as of {fmt_date(as_of)}, the oldest on {fmt_date(oldest)}: "
                f"{fmt_marks(evidence)}. Each must be replaced with the right code."
            ),
            figures={"stale_n_sessions": len(evidence), "oldest": oldest,
                     "oldest_deadline": calendar.count_school_days(oldest, params.school_days)[0],
                     "school_days": params.school_days},
            evidence=evidence, period=(evidence[0][0], evidence[-1][0]), level="office action",
        ))
    return out


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    return school_year_start(as_of)


RULE = Rule(RULE_ID, "Stale N codes", Params, evaluate, reads_from, __doc__)
