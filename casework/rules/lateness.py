"""``lateness``: late marks per half term (or per rolling school weeks).

Counts the marks in ``codes`` (by default ``L``, late before the register closed) in
the half term holding the evaluation date (on a holiday, the half term just ended), up
to that date; at ``count`` or more it fires. Staplehurst: 5 lates in a half term → a
letter inviting the parents to a formal meeting. Lates after the register closed
(``U``, an unauthorised absence) are reported beside it either way.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar

from .base import CodeList, Rule, RuleParams, weeks_back
from .findings import Finding, fmt_date, plural
from .register_data import RegisterMatrix

RULE_ID = "lateness"


class Params(RuleParams):
    count: int = Field(5, ge=1, description="Late marks in the period that raise a finding (Staplehurst: 5).")
    codes: CodeList = Field(default_factory=lambda: [C.LATE_BEFORE_CLOSE], description="The codes counted "
                            "as late; L by default, add U to count lates after the register closed too.")
    per: Literal["half_term", "rolling_school_weeks"] = Field("half_term", description="Count per half term "
                                                             "(the one holding the evaluation date) or over "
                                                             "the last school_weeks school weeks.")
    school_weeks: int = Field(6, ge=1, le=52, description="Length of the rolling period in school weeks "
                              "(used when per is rolling_school_weeks).")


def period(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    if params.per == "half_term":
        ht = calendar.half_term_of(as_of)
        if ht is None:
            return None
        return ht[0], min(ht[1], as_of)
    start = calendar.window_start_for(as_of, params.school_weeks)
    return (start, as_of) if start else None


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    span = period(calendar, params, as_of)
    if span is None:
        return []
    cols = reg.slot_slice(*span)
    lates = reg.count(params.codes, cols)
    before = reg.count({C.LATE_BEFORE_CLOSE}, cols)
    after = reg.count({C.LATE_AFTER_CLOSE}, cols)
    what = "half term" if params.per == "half_term" else f"last {params.school_weeks} school weeks"
    counted = "/".join(params.codes)
    out = []
    for p in np.flatnonzero(lates >= params.count):
        evidence = reg.marks_where(p, params.codes, cols)
        out.append(reg.finding(
            p, RULE_ID, concern="punctuality",
            summary=(
                f"Late {plural(int(lates[p]), 'time')} ({counted}) this {what}, {fmt_date(span[0])} to "
                f"{fmt_date(span[1])}: {int(before[p])} before the register closed (L) and "
                f"{int(after[p])} after it closed (U). The policy acts at {params.count}."
            ),
            figures={"lates": int(lates[p]), "late_before_close": int(before[p]),
                     "late_after_close": int(after[p]), "threshold": params.count, "codes": list(params.codes),
                     "per": params.per},
            evidence=evidence, period=span, level="warning",
        ))
    return out


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    span = period(calendar, params, as_of)
    return span[0] if span else weeks_back(calendar, as_of, params.school_weeks)


RULE = Rule(RULE_ID, "Lateness", Params, evaluate, reads_from, __doc__)
