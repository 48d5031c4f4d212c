"""``absent_today``: absent on the latest school day the register was taken.

Fires for every pupil with a mark in ``codes`` (by default every absence code,
authorised or not) in at least one session of the latest school day up to the
evaluation date on which the register has been taken. On its own it would flag every
absent child; a workflow pairs it with ``pupils:`` to act only for the children it
visits whenever they are absent, whatever the reason (Mason Moor: RAG-listed pupils).
The concern key carries the day, so each day's absence is its own concern.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from casework.register.calendar import SchoolCalendar

from .base import CodeList, Rule, RuleParams, school_days_back
from .findings import Finding, fmt_date, fmt_marks
from .register_data import ABSENCE_CODES, NO_MARK, RegisterMatrix

RULE_ID = "absent_today"


class Params(RuleParams):
    codes: CodeList | None = Field(None, description="The codes that count as absent (default: every "
                                   "authorised and unauthorised absence code).")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    cols = reg.slot_slice(None, as_of)
    taken = np.flatnonzero((reg.codes[:, cols] != NO_MARK).any(axis=0))
    if len(taken) == 0:
        return []
    day = reg.slots[int(taken[-1])][0]
    day_cols = reg.slot_slice(day, day)
    codes = set(params.codes) if params.codes else ABSENCE_CODES
    absent = reg.mask(codes, day_cols).any(axis=1)
    out = []
    for p in np.flatnonzero(absent):
        evidence = reg.marks_where(p, codes, day_cols)
        out.append(reg.finding(
            p, RULE_ID, about=day,
            summary=f"Absent on {fmt_date(day)}: {fmt_marks(evidence)}.",
            figures={"day": day, "sessions": len(evidence), "codes": sorted({c for _, _, c in evidence})},
            evidence=evidence, period=(day, day), level="absent",
        ))
    return out


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    return school_days_back(calendar, as_of, 10) or calendar.first_day or as_of


RULE = Rule(RULE_ID, "Absent today", Params, evaluate, reads_from, __doc__)
