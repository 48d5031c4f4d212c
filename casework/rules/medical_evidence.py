"""``medical_evidence``: when to ask for medical evidence of illness.

An *occasion* of illness is a run of consecutive school days with an illness mark
(``codes.ILLNESS``) in at least one session; weekends and holidays do not break a run.
It fires when the school year to date holds ``occasions`` or more occasions, or a
single run of ``consecutive_days`` or more (Staplehurst: 3 separate occasions or 5
consecutive days; Mason Moor: longer than 3 days, i.e. 4; Thomas Russell: more than 5).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field, model_validator

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar, school_year_label, school_year_start

from .base import Rule, RuleParams, from_school_year
from .findings import Finding, fmt_date, plural
from .register_data import RegisterMatrix, run_lengths

RULE_ID = "medical_evidence"
CODES = {C.ILLNESS}


class Params(RuleParams):
    occasions: int | None = Field(3, ge=1, description="Separate occasions of illness in the school year that "
                                  "lead to asking for evidence (null: do not count occasions).")
    consecutive_days: int | None = Field(5, ge=1, description="A single run of this many consecutive school "
                                         "days of illness leads to asking for evidence (null: no such trigger).")

    @model_validator(mode="after")
    def _one_trigger(self):
        if self.occasions is None and self.consecutive_days is None:
            raise ValueError("set occasions, consecutive_days or both")
        return self


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    start = school_year_start(as_of)
    days = reg.day_slice(start, as_of)
    cols = reg.slots_of_days(days)
    ill_day = reg.day_any(reg.mask(CODES, cols), days)
    if ill_day.shape[1] == 0:
        return []
    starts = ill_day.copy()
    starts[:, 1:] &= ~ill_day[:, :-1]
    occasions = starts.sum(axis=1)
    runs = run_lengths(ill_day)
    longest = runs.max(axis=1)
    fire = np.zeros(reg.n_pupils, dtype=bool)
    if params.occasions is not None:
        fire |= occasions >= params.occasions
    if params.consecutive_days is not None:
        fire |= longest >= params.consecutive_days
    year = school_year_label(as_of)
    d0 = days.start
    out = []
    for p in np.flatnonzero(fire):
        ends = np.flatnonzero(ill_day[p] & ~np.append(ill_day[p, 1:], False))
        spells = [(reg.days[d0 + e - runs[p, e] + 1], reg.days[d0 + e], int(runs[p, e])) for e in ends]
        why = []
        if params.occasions is not None and occasions[p] >= params.occasions:
            why.append(f"{plural(int(occasions[p]), 'separate occasion')} of illness (the policy asks at "
                       f"{params.occasions})")
        if params.consecutive_days is not None and longest[p] >= params.consecutive_days:
            s = max(spells, key=lambda x: x[2])
            why.append(f"{plural(int(longest[p]), 'consecutive school day')} ill from {fmt_date(s[0])} to "
                       f"{fmt_date(s[1])} (the policy asks at {params.consecutive_days})")
        evidence = reg.marks_where(p, CODES, cols)
        out.append(reg.finding(
            p, RULE_ID, about=year,
            summary=f"In the {year} school year to {fmt_date(as_of)}: {' and '.join(why)}. "
                    f"The school may ask for medical evidence before authorising more illness absence.",
            figures={"occasions": int(occasions[p]), "longest_run_days": int(longest[p]),
                     "illness_sessions": len(evidence),
                     "spells": [{"start": a, "end": b, "school_days": n} for a, b, n in spells],
                     "threshold_occasions": params.occasions, "threshold_consecutive_days": params.consecutive_days},
            evidence=evidence, period=(start, as_of), level="ask for evidence",
        ))
    return out


RULE = Rule(RULE_ID, "Medical evidence of illness", Params, evaluate, from_school_year, __doc__)
