"""``traveller_sessions``: Traveller pupils' ``T`` sessions and attendance over the year.

For pupils flagged as Travellers only (docs/domain.md §3): more than ``max_t_sessions``
(180) sessions of ``codes.TRAVELLER`` in the school year is a warning; and a pupil is
expected to attend at least ``expected_sessions`` (200 of the usual 380) sessions a
year: the rule projects the sessions attended by the year's end at the rate so far
(attended / possible sessions, applied to the sessions still to come on the school's
calendar) and warns when the projection falls short.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import ONE_DAY, SchoolCalendar, school_year_label, school_year_start

from .base import Rule, RuleParams, from_school_year
from .findings import Finding, fmt_date
from .register_data import RegisterMatrix

RULE_ID = "traveller_sessions"
CODES = {C.TRAVELLER}


class Params(RuleParams):
    max_t_sessions: int = Field(180, ge=0, description="More than this many T sessions in a school year is a "
                                "warning. National guidance: 180.")
    expected_sessions: int = Field(200, ge=0, description="Sessions a Traveller pupil is expected to attend in "
                                   "a school year (of about 380). National guidance: 200.")
    min_possible_sessions: int = Field(20, ge=1, description="Project attendance only once the pupil has had "
                                       "this many possible sessions this school year.")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    start = school_year_start(as_of)
    year_end = dt.date(start.year + 1, 8, 31)
    cols = reg.slot_slice(start, as_of)
    t = reg.count(CODES, cols)
    attended = reg.count(C.ATTENDING_CODES, cols)
    possible = reg.count(C.POSSIBLE_CODES, cols)
    remaining = calendar.session_count(as_of + ONE_DAY, year_end)
    year_sessions = calendar.session_count(start, year_end)
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = attended + np.where(possible > 0, attended / np.maximum(possible, 1), 0.0) * remaining
    too_many_t = t > params.max_t_sessions
    short = (possible >= params.min_possible_sessions) & (projected < params.expected_sessions)
    fire = reg.traveller & (too_many_t | short)
    year = school_year_label(as_of)
    out = []
    for p in np.flatnonzero(fire):
        why = []
        if too_many_t[p]:
            why.append(f"{int(t[p])} sessions of Traveller absence (T) so far, more than the "
                       f"{params.max_t_sessions} expected at most in a year")
        if short[p]:
            why.append(f"{int(attended[p])} of {int(possible[p])} possible sessions attended so far; at that rate "
                       f"about {projected[p]:.0f} by the end of the year, under the {params.expected_sessions} "
                       f"expected")
        out.append(reg.finding(
            p, RULE_ID, about=year,
            summary=f"Traveller pupil, {year} school year to {fmt_date(as_of)}: {'; and '.join(why)}.",
            figures={"t_sessions": int(t[p]), "attended_sessions": int(attended[p]),
                     "possible_sessions": int(possible[p]), "remaining_sessions": remaining,
                     "year_sessions": year_sessions, "projected_attended_sessions": round(float(projected[p]), 1),
                     "max_t_sessions": params.max_t_sessions, "expected_sessions": params.expected_sessions,
                     "too_many_t": bool(too_many_t[p]), "projected_short": bool(short[p])},
            evidence=reg.marks_where(p, CODES, cols), period=(start, as_of), level="warning",
        ))
    return out


RULE = Rule(RULE_ID, "Traveller sessions", Params, evaluate, from_school_year, __doc__)
