"""``sickness_return``: tell the local authority at 15 school days of illness in a school year.

Counts sessions marked as illness (``codes.ILLNESS``) in the school year up to the
evaluation date, consecutive or cumulative; at ``days`` × 2 sessions the school must
make a sickness return to the LA (docs/domain.md §3). Telling the LA is for a person to do.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar, school_year_label, school_year_start

from .base import Rule, RuleParams, from_school_year
from .findings import Finding, fmt_date, plural
from .register_data import RegisterMatrix

RULE_ID = "sickness_return"
CODES = {C.ILLNESS}


class Params(RuleParams):
    days: int = Field(15, ge=1, description="School days of illness (two sessions each) in the school year, "
                      "consecutive or cumulative, at which the LA is told. National duty: 15.")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    start = school_year_start(as_of)
    cols = reg.slot_slice(start, as_of)
    ill = reg.count(CODES, cols)
    threshold = 2 * params.days
    year = school_year_label(as_of)
    out = []
    for p in np.flatnonzero(ill >= threshold):
        n = int(ill[p])
        out.append(reg.finding(p, RULE_ID, about=year, summary=(
                f"Off ill (I) for {plural(n, 'session')} ({n / 2:g} school days) in the {year} school year "
                f"to {fmt_date(as_of)}: at {params.days} school days of illness the school must make a "
                f"sickness return to the local authority."
            ),
            figures={"illness_sessions": n, "illness_days": n / 2, "threshold_days": params.days,
                     "school_year": year},
            evidence=reg.marks_where(p, CODES, cols), period=(start, as_of), level="notify LA", formal=True,
        ))
    return out


RULE = Rule(RULE_ID, "Sickness return to the LA", Params, evaluate, from_school_year, __doc__)
